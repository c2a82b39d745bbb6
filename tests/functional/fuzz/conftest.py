"""The three apps served for fuzzing, each over real HTTP, with the logins the fuzzer sends.

The journal gets a region of its own (the fuzzer writes thousands of odd but valid entries, which
other tests should not see); the ops service a SQLite store and its demo users; the ward agent a
signed kit of one of the region's wards.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from obruten.devtools import seed
from obruten.ops import users
from obruten.ops.app import create_app as create_ops_app
from obruten.ops.clock import FakeClock
from obruten.ops.service import OpsService
from obruten.ops.settings import Settings as OpsSettings
from obruten.ops.store import Store
from obruten.platform import config as config_mod
from obruten.platform.pgserver import PostgresInstance
from obruten.platform.signing import load_or_create_key
from obruten.record.app import create_app as create_journal_app
from obruten.record.schema import app_url
from obruten.ward_agent.app import create_app as create_agent_app
from obruten.ward_agent.settings import AgentSettings
from obruten.wardkit import build
from obruten.wardkit.content import unit_kit_data
from obruten.wardkit.store import KitStore
from pgtools import Served, fresh_database, reachable_tempdir

from .fuzzing import EXAMPLES, SEED, TALLIES, Target


@pytest.fixture(scope="session")
def fuzz_region(pg: PostgresInstance) -> str:
    url = fresh_database(pg, "fuzz")
    seed.generate(url, 100, seed=12)
    return url


def _known_journal(url: str) -> dict[str, list[object]]:
    """Records the physician 'lakare' may write to: their wards, an admitted patient, its entries."""
    with psycopg.connect(url) as c:
        units = [r[0] for r in c.execute(
            "SELECT su.unit_id FROM staff_unit su JOIN staff s ON s.id = su.staff_id WHERE s.username = 'lakare'")]
        patients = [r[0] for r in c.execute(
            "SELECT patient_id FROM admission_current WHERE unit_id = ANY(%s) AND discharged_at IS NULL"
            " ORDER BY patient_id LIMIT 3", (units,))]
        notes = [str(r[0]) for r in c.execute(
            "SELECT entry_id FROM note_current WHERE patient_id = ANY(%s) LIMIT 3", (patients,))]
        orders = [str(r[0]) for r in c.execute(
            "SELECT entry_id FROM medication_order_current WHERE patient_id = ANY(%s) AND stop_at IS NULL LIMIT 3",
            (patients,))]
        numbers = [r[0] for r in c.execute(
            "SELECT order_number FROM referral_current WHERE patient_id = ANY(%s) LIMIT 3", (patients,))]
    return {"unit": units, "patient": patients, "entry": notes + orders, "order": orders, "order_number": numbers}


@pytest.fixture(scope="session")
def journal(fuzz_region: str) -> Iterator[Target]:
    var_dir = reachable_tempdir("obruten-fuzz-")
    cfg = config_mod.load(environ={}, var_dir=var_dir, secret_key="fuzz-secret-" + "x" * 40)
    served = Served(create_journal_app(cfg, app_url(fuzz_region, var_dir / "app-password")), what="the journal")
    login = httpx.post(served.base + "/api/v1/login", json={"username": "lakare", "password": "demo"}, timeout=30)
    token = login.raise_for_status().json()["token"]
    yield Target(served.base, {"Authorization": f"Bearer {token}"}, _known_journal(fuzz_region))
    served.stop()
    shutil.rmtree(var_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    var_dir = tmp_path_factory.mktemp("ops-fuzz") / "var"
    settings = OpsSettings(var_dir=var_dir, backup_probe=False, public_url="http://127.0.0.1:8010")
    service = OpsService(settings, store=Store(var_dir / "ops" / "ops.sqlite3"), clock=FakeClock(), probes=[])
    users.seed_demo(service.store, service.clock.now())
    served = Served(create_ops_app(service), lifespan="off", what="the ops app")
    login = httpx.post(served.base + "/api/v1/session", json={"username": "tib", "password": "demo"}, timeout=30)
    token = login.raise_for_status().json()["token"]
    yield Target(served.base, {"Authorization": f"Bearer {token}"}, {})
    served.stop()
    service.store.close()


def _kit(url: str, unit: str) -> dict:
    async def make() -> dict:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await unit_kit_data(conn, unit)

    with ThreadPoolExecutor(1) as pool:  # its own thread and event loop, whatever the caller runs in
        return pool.submit(asyncio.run, make()).result()


@pytest.fixture(scope="session")
def ward_agent(fuzz_region: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    base = tmp_path_factory.mktemp("agent-fuzz")
    unit = _known_journal(fuzz_region)["unit"][0]
    key = load_or_create_key(base / "kit-key.pem")
    trusted = base / "trusted_keys"
    trusted.write_text(key.trusted_line() + "\n")
    settings = AgentSettings(var_dir=base / "ward-pc", unit=unit, journal_urls=("http://127.0.0.1:9",),
                             token="no-token-needed", trusted_keys=trusted, fetch_every_s=0, agent_name="fuzz-pc")
    data = _kit(fuzz_region, unit)
    build.write_kit(data, KitStore(settings.kits_dir), key)
    served = Served(create_agent_app(settings), what="the ward agent")
    stamps = httpx.get(served.base + "/status", timeout=30).raise_for_status().json()["kits"]
    patients = [p["id"] for p in data["patients"]][:3]
    yield Target(served.base, {}, {"stamp": stamps, "patient_id": patients})
    served.stop()




def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fuzz figures of this run: operations, cases and failures per API."""
    if TALLIES:
        terminalreporter.section("fuzz")
        terminalreporter.write_line(f"{EXAMPLES} examples per operation and mode, seed {SEED or 'derandomized'}")
        for tally in TALLIES:
            terminalreporter.write_line(tally.line())
