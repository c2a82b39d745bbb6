"""Crash tests with real processes and SIGKILL: nothing lost, nothing doubled.

The journal is served by uvicorn in its own process, the submitter runs as its own process
(``python -m obruten.ward_agent.downtime_submit``); the test kills one of them mid-submission,
restarts it and checks that every entry recorded on the agent is in the review queue exactly once.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from journal_process import JournalProcess
from obruten.postreg.models import DowntimeEntry
from obruten.ward_agent.downtime_store import DowntimeStore
from pgtools import reachable_tempdir, wait_for
from postreg_helpers import agent_token, nurse_unit, patient_with_order

N = 600
WAIT_S = 120


@pytest.fixture
def journal(region_url) -> Iterator[JournalProcess]:
    var_dir = reachable_tempdir("obruten-crash-")
    process = JournalProcess(region_url, var_dir)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def agent_store(tmp_path, region_url) -> Path:
    """An agent store holding N queued entries (administrations and notes) for the nurse's unit."""
    unit = nurse_unit(region_url)
    patient, order, _ = patient_with_order(region_url, unit, last=True)
    store = DowntimeStore(tmp_path / "downtime.sqlite3", unit, "crash-agent")
    start = datetime.now(UTC) - timedelta(hours=6)
    rows = []
    for i in range(N):
        at = start + timedelta(seconds=20 * i)
        common = {"key": uuid.uuid4(), "patient_id": patient, "author": "sjukskoterska", "clinical_at": at,
                  "recorded_at": at + timedelta(minutes=1)}
        if i % 2:
            entry = DowntimeEntry(kind="note", note={"kind": "omvardnad", "body": f"Krocktest {i}"}, **common)
        else:
            entry = DowntimeEntry(kind="medication_administration", order_entry=order,
                                  administration={"outcome": "given", "dose_given": "1 st"}, **common)
        rows.append((entry, "Test, Patient", "test"))
    store.add(rows)
    store.close()
    return tmp_path / "downtime.sqlite3"


def local_states(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT state, count(*) FROM downtime_entry GROUP BY state").fetchall())


def local_keys(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT key FROM downtime_entry")}


def journal_keys(url: str, keys: set[str]) -> list[str]:
    with psycopg.connect(url) as c:
        return [str(r[0]) for r in c.execute("SELECT idempotency_key FROM postreg_entry"
                                             " WHERE idempotency_key = ANY(%s::uuid[])", (list(keys),))]


def submitter(store: Path, journal: JournalProcess, *extra: str) -> subprocess.Popen:
    unit = nurse_unit(journal.db_url)
    return subprocess.Popen(
        [sys.executable, "-m", "obruten.ward_agent.downtime_submit", "--store", str(store), "--unit", unit,
         "--device", "crash-agent", "--journal", journal.base, "--token", agent_token(journal.var_dir, unit), *extra],
        stdout=subprocess.PIPE, text=True)


@pytest.mark.fault
def test_killing_the_submitter_between_ack_and_saving_it_neither_loses_nor_doubles(journal, agent_store) -> None:
    keys = local_keys(agent_store)
    # The fault window made wide: the journal has acknowledged the first batch, the agent has not saved that yet.
    proc = submitter(agent_store, journal, "--max-entries", "50", "--pause-after-ack", "30", "--interval", "0.1")
    wait_for(lambda: len(journal_keys(journal.db_url, keys)) >= 50, WAIT_S, "the journal to acknowledge the first batch")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)  # reaps it and closes its stdout pipe
    assert local_states(agent_store) == {"queued": N}, "the agent must not believe anything was submitted"
    assert len(journal_keys(journal.db_url, keys)) == 50

    again = submitter(agent_store, journal, "--max-entries", "50", "--once")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    assert "(0 new, 50 already received)" in out.splitlines()[0], out
    assert local_states(agent_store) == {"submitted": N}
    received = journal_keys(journal.db_url, keys)
    assert len(received) == N and set(received) == keys


@pytest.mark.fault
def test_killing_the_journal_mid_submission_neither_loses_nor_doubles(journal, agent_store) -> None:
    keys = local_keys(agent_store)
    proc = submitter(agent_store, journal, "--max-entries", "20", "--interval", "0.1")
    try:
        wait_for(lambda: 0 < len(journal_keys(journal.db_url, keys)) < N / 2, WAIT_S, "the first batches to arrive")
        journal.kill()
        seen_by_journal = len(journal_keys(journal.db_url, keys))
        assert seen_by_journal < N
        wait_for(lambda: local_states(agent_store).get("queued", 0) > 0, WAIT_S, "the agent to keep entries queued")
        journal.start()
        wait_for(lambda: local_states(agent_store) == {"submitted": N}, WAIT_S, "the agent to submit everything")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "journal unreachable" in out, out
    received = journal_keys(journal.db_url, keys)
    assert len(received) == N and set(received) == keys


@pytest.mark.fault
def test_killing_the_journal_inside_its_receiving_transaction_keeps_nothing_half_done(journal, agent_store) -> None:
    """Deterministic: the journal's receiving transaction is held at its per-unit lock, then the journal
    process is SIGKILLed; PostgreSQL must roll that batch back, and the agent must send it again."""
    keys = local_keys(agent_store)
    unit = nurse_unit(journal.db_url)
    with psycopg.connect(journal.db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('postreg'), hashtext(%s))", (unit,))
        proc = submitter(agent_store, journal, "--max-entries", "50", "--interval", "0.1")
        try:
            def waiting() -> list[int]:
                return [r[0] for r in holder.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND state = 'active'"
                    " AND query LIKE '%%pg_advisory_xact_lock%%'")]

            wait_for(lambda: bool(waiting()), WAIT_S, "the journal's receiving transaction to wait at its lock")
            in_flight = waiting()
            journal.kill()
            holder.execute("SELECT pg_advisory_unlock(hashtext('postreg'), hashtext(%s))", (unit,))
            wait_for(lambda: not set(in_flight) & {r[0] for r in holder.execute("SELECT pid FROM pg_stat_activity")},
                     WAIT_S, "PostgreSQL to end the dead journal's transaction")
            assert journal_keys(journal.db_url, keys) == [], "a batch whose transaction never committed was kept"
            assert local_states(agent_store) == {"queued": N}
            journal.start()
            wait_for(lambda: local_states(agent_store) == {"submitted": N}, WAIT_S, "the agent to submit everything")
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
    received = journal_keys(journal.db_url, keys)
    assert len(received) == N and set(received) == keys
