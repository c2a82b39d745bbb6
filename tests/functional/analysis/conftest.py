"""Fixtures for the event analysis tests: an ops service on a clock the test moves, an incident
made the way a drill makes one (drill events, then the write-path alarm), and the ops app."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from obruten.ops import alarms, incidents, users
from obruten.ops.clock import FakeClock
from obruten.ops.findings import Finding
from obruten.ops.service import OpsService
from obruten.ops.settings import Settings
from obruten.ops.store import Store
from obruten.platform import events

from ..ops.conftest import Live, live  # noqa: F401  (the ops app over real HTTP)


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ops store with the demo users and a commissioner, made once (password hashing is slow)."""
    path = tmp_path_factory.mktemp("analysis-store") / "ops.sqlite3"
    store = Store(path)
    users.seed_demo(store, datetime.now(UTC) - timedelta(days=1))
    users.add_user(store, "chef", "Cecilia Lindqvist", "tib", "demo")
    store.close()
    return path


@pytest.fixture
def service(tmp_path: Path, seeded_store: Path) -> Iterator[OpsService]:
    settings = Settings(var_dir=tmp_path / "var", backup_probe=False, public_url="http://127.0.0.1:8010")
    settings.store_file.parent.mkdir(parents=True)
    shutil.copyfile(seeded_store, settings.store_file)
    # a little ahead of the wall clock: the drill's own events (stamped by the wall clock) come first
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5))
    service = OpsService(settings, store=Store(settings.store_file), clock=clock, channels={}, probes=[])
    yield service
    service.store.close()


def drill_incident(service: OpsService) -> int:
    """What the slow-storage drill does, as far as the ops service sees it: drill events, the
    journal's write path down until the alarm fires and opens an incident, then recovery."""
    clock: FakeClock = service.clock  # type: ignore[assignment]
    events.emit(service.var_dir, "drill.started", "Övning slow-storage (freeze) startad", "drill", drill="slow-storage")
    events.emit(service.var_dir, "drill.fault_injected", "Primärens I/O fryst", "drill", drill="slow-storage")
    for _ in range(2):
        service.step([Finding("journal_write", "primary", "down", None, "no answer for 4.0 s", clock.now())])
        clock.advance(seconds=25)
    alarm = next(a for a in alarms.active(service.store) if a.rule == "journal-write")
    assert alarm.incident_id is not None
    service.acknowledge(alarm.id, "it", "console")
    clock.advance(minutes=3)
    service.step([Finding("journal_write", "primary", "ok", 12.0, "", clock.now())])
    clock.advance(minutes=2)
    incidents.change_state(service.store, service.var_dir, alarm.incident_id, "resolved", "it", clock.now(),
                           "I/O åter normal")
    clock.advance(minutes=10)
    return alarm.incident_id


def bearer(client: httpx.Client, username: str) -> dict[str, str]:
    token = client.post("/api/v1/session", json={"username": username, "password": "demo"}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(live: Live) -> Iterator[httpx.Client]:  # noqa: F811 (the imported fixture)
    with httpx.Client(base_url=live.base, timeout=30) as c:
        yield c
