"""Fresh within a minute (issue 15): a write to a unit reaches its ward PC's kit through NOTIFY →
the builder's listener → the kit server's long-poll → the agent, not at the next poll (the agent's
periodic fetch here is an hour apart, so nothing else could bring it)."""

from __future__ import annotations

import asyncio
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from obruten.platform.signing import load_or_create_key
from obruten.status.document import draft
from obruten.status.ledger import Ledger, default_trusted_keys
from obruten.ward_agent.agent import Agent
from obruten.ward_agent.app import create_app
from obruten.ward_agent.settings import AgentSettings
from obruten.wardkit import build
from obruten.wardkit.listen import Rebuilder
from obruten.wardkit.tokens import agent_token
from pgtools import Served, reachable_tempdir, wait_for

from .conftest import Ward


@dataclass
class Pipeline:
    journal: Served
    var_dir: Path
    rebuilder: Rebuilder
    agent: Agent


@pytest.fixture
def pipeline(ward: Ward, tmp_path: Path) -> Iterator[Pipeline]:
    from obruten.platform import config as config_mod
    from obruten.record.app import create_app as journal_app

    var_dir = reachable_tempdir("obruten-wk-fresh-")
    cfg = config_mod.load(environ={}, var_dir=var_dir, secret_key="test-secret-" + "x" * 40)
    journal = Served(journal_app(cfg, ward.url))
    # the kit the agent starts from: built now, by the same code the periodic round runs
    data = ward.kit(datetime.now(UTC))
    build.write_kit(data, build.unit_store(var_dir, ward.unit), build.signing_key(var_dir))
    rebuilder = Rebuilder(ward.url, ward.url, var_dir, debounce_s=0.2, only=frozenset({ward.unit}))
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(rebuilder.run(stop),), daemon=True)
    thread.start()
    trusted = tmp_path / "trusted_keys"
    trusted.write_text(build.signing_key(var_dir).trusted_line() + "\n")
    settings = AgentSettings(var_dir=tmp_path / "ward-pc", unit=ward.unit, journal_urls=(journal.base,),
                             token=agent_token(var_dir, ward.unit), trusted_keys=trusted,
                             fetch_every_s=3600, agent_name="avd-pc-fresh")
    app = create_app(settings)
    agent_served = Served(app)
    try:
        yield Pipeline(journal, var_dir, rebuilder, app.state.agent)
    finally:
        agent_served.stop()
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
        journal.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


def _kit_says(agent: Agent, text: str) -> bool:
    kit = agent.kits.newest()
    return kit is not None and text in kit.json_path.read_text(encoding="utf-8")


def test_a_note_reaches_the_ward_pc_kit_without_waiting_for_the_poll(pipeline: Pipeline, ward: Ward) -> None:
    agent = pipeline.agent
    first = wait_for(agent.kits.newest, 30, "the agent's first kit (its start-up fetch)")
    wait_for(pipeline.rebuilder.listening.is_set, 30, "the kit builder listening")
    marker = f"Färsk anteckning {uuid.uuid4().hex[:8]}"
    with psycopg.connect(ward.url, autocommit=True) as c:
        c.execute("INSERT INTO note (patient_id, unit_id, kind, title, body, clinical_at, signed_by) "
                  "VALUES (%s, %s, 'omvardnad', 'Omvårdnad', %s, now(), %s)",
                  (ward.patient, ward.unit, marker, ward.staff))
    # the agent's periodic fetch is an hour away: only the notify path can bring the note in time
    wait_for(lambda: _kit_says(agent, marker), 45, "the note in the ward PC's newest kit")
    newest = agent.kits.newest()
    assert newest is not None and newest.stamp != first.stamp
    assert pipeline.rebuilder.rebuilt >= 1


def test_a_new_status_message_reaches_the_ward_pc_kit_without_waiting_for_the_round(
        pipeline: Pipeline, ward: Ward) -> None:
    """The TIB's message is on every kit page; it lives in the node's status ledger, not in the
    database, so no trigger names it: the listener watches the ledger and rebuilds the kits."""
    agent = pipeline.agent
    wait_for(agent.kits.newest, 30, "the agent's first kit (its start-up fetch)")
    wait_for(pipeline.rebuilder.listening.is_set, 30, "the kit builder listening")
    key = load_or_create_key(pipeline.var_dir / "status-key.pem")
    default_trusted_keys(pipeline.var_dir).parent.mkdir(parents=True, exist_ok=True)
    default_trusted_keys(pipeline.var_dir).write_text(key.trusted_line() + "\n")
    headline = f"Journalen nere sedan 03:10 {uuid.uuid4().hex[:6]}"
    Ledger(pipeline.var_dir).offer(draft(version=1, mode="reservrutin", headline=headline, routine="RR-1",
                                         issuer_name="Tove Beredskap", issuer_role="TIB",
                                         now=datetime.now(UTC)).signed(key))
    wait_for(lambda: _kit_says(agent, headline), 45, "the new status message in the ward PC's newest kit")
    assert pipeline.rebuilder.status_rebuilds == 1


def test_a_write_for_another_unit_rebuilds_nothing_here(pipeline: Pipeline, ward: Ward) -> None:
    """The trigger names the units a write touches; a unit's builder rebuilds only those."""
    wait_for(pipeline.rebuilder.listening.is_set, 30, "the kit builder listening")
    with psycopg.connect(ward.url, autocommit=True) as c:
        other, patient = c.execute(
            "SELECT a.unit_id, a.patient_id FROM admission a WHERE a.discharged_at IS NULL AND a.unit_id <> %s "
            "AND NOT EXISTS (SELECT 1 FROM admission b WHERE b.patient_id = a.patient_id AND b.unit_id = %s) "
            "LIMIT 1", (ward.unit, ward.unit)).fetchone()  # type: ignore[misc]
        with c.cursor() as cur:
            cur.execute("LISTEN obruten_kit")
            c.execute("INSERT INTO note (patient_id, unit_id, kind, title, body, clinical_at, signed_by) "
                      "VALUES (%s, %s, 'omvardnad', 'Omvårdnad', 'Annan avdelning', now(), %s)",
                      (patient, other, ward.staff))
            heard = {n.payload for n in c.notifies(timeout=5, stop_after=1)}
    assert heard == {other}
    assert pipeline.rebuilder.rebuilt == 0


def test_writes_to_several_units_in_one_transaction_are_rebuilt_on_the_pool(ward: Ward) -> None:
    """One commit that touches two units: one batch, built on two processes; each unit's newest
    kit holds its write."""
    var_dir = reachable_tempdir("obruten-wk-pool-")
    with psycopg.connect(ward.url, autocommit=True) as c:
        rows = c.execute("SELECT DISTINCT ON (a.unit_id) a.unit_id, a.patient_id FROM admission a "
                         "WHERE a.discharged_at IS NULL AND a.unit_id <> %s ORDER BY a.unit_id LIMIT 2",
                         (ward.unit,)).fetchall()
    units = {unit: patient for unit, patient in rows}
    rebuilder = Rebuilder(ward.url, ward.url, var_dir, debounce_s=0.5, only=frozenset(units), workers=2)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(rebuilder.run(stop),), daemon=True)
    thread.start()
    try:
        wait_for(rebuilder.listening.is_set, 30, "the kit builder listening")
        marker = f"Två avdelningar {uuid.uuid4().hex[:8]}"
        with psycopg.connect(ward.url) as c, c.transaction():
            for unit, patient in units.items():
                c.execute("INSERT INTO note (patient_id, unit_id, kind, title, body, clinical_at, signed_by) "
                          "VALUES (%s, %s, 'omvardnad', 'Omvårdnad', %s, now(), %s)",
                          (patient, unit, marker, ward.staff))

        def both() -> bool:
            kits = [build.unit_store(var_dir, unit).newest() for unit in units]
            return all(k is not None and marker in k.json_path.read_text(encoding="utf-8") for k in kits)
        wait_for(both, 60, "both units' kits rebuilt with the write")
        # the pool's processes write the kits before the builder has their results and counts them
        wait_for(lambda: rebuilder.rebuilt >= 2, 10, "the builder to count both rebuilt kits")
        assert rebuilder.rebuilt >= 2
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(20)
        loop.close()
        shutil.rmtree(var_dir, ignore_errors=True)
