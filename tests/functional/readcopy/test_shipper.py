"""Shipping the spool into the primary: exactly once, even when the shipper is SIGKILLed mid-pass."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from obruten.readcopy import spool
from obruten.readcopy.shipper import ship
from obruten.readcopy.spool import Spool
from obruten.record import audit
from obruten.record.audit import AuditEvent, AuditWriter, DatabaseSink
from pgtools import fresh_database, wait_for

OBRUTEN = str(Path(sys.executable).parent / "obruten")


@pytest.fixture
def primary_url(pg) -> str:
    return fresh_database(pg, "ship_test")


def _primary_events(url: str, n: int, start: int = 0) -> None:
    async def run() -> None:
        async with AsyncConnectionPool(url, min_size=1, max_size=2, open=False) as pool:
            writer = AuditWriter(DatabaseSink(pool))
            await asyncio.gather(*(writer.record(AuditEvent(actor="lakare", action="read", patient_id=start + i))
                                   for i in range(n)))

    asyncio.run(run())


def _fill(directory: Path, n: int) -> None:
    s = Spool(directory, directory.name)
    for start in range(0, n, 500):
        s.append_sync([AuditEvent(actor="sjukskoterska", actor_id=2, action="read", patient_id=i, purpose="vård",
                                  detail={"view": "overview"}) for i in range(start, min(n, start + 500))])
    s.close()


def _counts(url: str, node: str) -> tuple[int, int]:
    with psycopg.connect(url) as c:
        row = c.execute("SELECT count(*), count(DISTINCT source_seq) FROM audit_event WHERE node = %s",
                        (node,)).fetchone()
    return int(row[0]), int(row[1])


def test_shipping_twice_ships_once_and_keeps_the_chain(primary_url: str, tmp_path: Path) -> None:
    _primary_events(primary_url, 5)
    directory = tmp_path / "rc"
    _fill(directory, 120)
    first = asyncio.run(ship(directory, primary_url, batch=50))
    assert (first.shipped, first.last_seq) == (120, 120)
    again = asyncio.run(ship(directory, primary_url, batch=50))
    assert again.shipped == 0 and "nothing to ship" in again.sentence
    (directory / spool.CURSOR_FILE).unlink()  # a lost cursor costs a re-read, never a duplicate
    third = asyncio.run(ship(directory, primary_url, batch=50))
    assert third.shipped == 0 and third.skipped == 120
    assert _counts(primary_url, "rc") == (120, 120)
    assert audit.verify(primary_url).ok


def test_a_tampered_spool_is_not_shipped(primary_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "spool" / "rc"
    _fill(directory, 20)
    path = directory / spool.SPOOL_FILE
    path.write_bytes(path.read_bytes().replace(b'"patient_id":7,', b'"patient_id":8,', 1))
    with pytest.raises(spool.SpoolTampered, match="altered"):
        asyncio.run(ship(directory, primary_url))
    result = subprocess.run([OBRUTEN, "--var-dir", str(tmp_path), "audit", "verify-spool"], capture_output=True,
                            text=True)
    assert result.returncode == 1 and "BROKEN at event 8" in result.stderr


@pytest.mark.fault
def test_sigkill_mid_ship_then_restart_ships_every_event_exactly_once(primary_url: str, tmp_path: Path) -> None:
    total = 4000
    _primary_events(primary_url, 3)
    directory = tmp_path / "spool" / "rc"
    _fill(directory, total)
    code = ("import asyncio, sys; from pathlib import Path; from obruten.readcopy.shipper import ship; "
            "asyncio.run(ship(Path(sys.argv[1]), sys.argv[2], batch=40, pause=0.03))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(directory), primary_url])
    try:
        wait_for(lambda: _counts(primary_url, "rc")[0] >= 400, 60, "400 events shipped (if the shipper finished "
                 "first, ship more events)", proc=proc, interval=0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    shipped_before, _ = _counts(primary_url, "rc")
    assert 0 < shipped_before < total
    _primary_events(primary_url, 4, start=10_000)  # the primary keeps logging its own reads meanwhile

    result = subprocess.run([OBRUTEN, "--var-dir", str(tmp_path), "audit", "ship", "--primary-url", primary_url,
                             "--batch", "300"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"the primary has every event up to {total}" in result.stdout
    assert _counts(primary_url, "rc") == (total, total)
    with psycopg.connect(primary_url) as c:
        seqs = [r[0] for r in c.execute("SELECT source_seq FROM audit_event WHERE node = 'rc' ORDER BY id")]
    assert seqs == list(range(1, total + 1))
    assert audit.verify(primary_url).ok and audit.verify(primary_url).events == total + 7
    assert spool.verify(directory / spool.SPOOL_FILE, node="rc").ok
    assert spool.load_cursor(directory).seq == total
