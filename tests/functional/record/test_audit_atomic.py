"""A write and its audit event are one transaction; one request's data never fails another's audit.

The failure this guards against: a NUL byte in one user's request made the audit batch it joined
fail, and other users' notes written at the same moment were committed with no audit event while
their clients got 503 (so they retried and duplicated).
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from obruten.platform.auth import Session
from obruten.platform.errors import Invalid
from obruten.record import audit, notes
from obruten.record.audit import AuditEvent, AuditUnavailable, AuditWriter, DatabaseSink
from obruten.record.service import Journal
from pgtools import seeded_database


@pytest.fixture(scope="module")
def own_region(pg) -> str:  # type: ignore[no-untyped-def]
    """This module writes many entries: its own region, so the shared one stays as other tests expect."""
    return seeded_database(pg, "audit_atomic")


def _physician(url: str) -> tuple[Session, int]:
    """The demo physician's session and an admitted patient on one of their units."""
    with psycopg.connect(url) as c:
        user_id, name = c.execute("SELECT id, full_name FROM staff WHERE username = 'lakare'").fetchone()
        units = tuple(r[0] for r in c.execute("SELECT unit_id FROM staff_unit WHERE staff_id = %s", (user_id,)))
        patient = c.execute("SELECT patient_id FROM admission_current WHERE discharged_at IS NULL"
                            " AND unit_id = ANY(%s) ORDER BY patient_id LIMIT 1", (list(units),)).fetchone()[0]
    return Session(user_id, "lakare", name, "physician", units), patient


def _counts(url: str, patient: int) -> tuple[int, int]:
    with psycopg.connect(url) as c:
        return (c.execute("SELECT count(*) FROM note WHERE patient_id = %s", (patient,)).fetchone()[0],
                c.execute("SELECT count(*) FROM audit_event WHERE patient_id = %s AND action = 'write'",
                          (patient,)).fetchone()[0])


async def _journal(url: str) -> tuple[Journal, AsyncConnectionPool]:
    pool = AsyncConnectionPool(url, min_size=2, max_size=8, open=False, kwargs={"options": "-c TimeZone=UTC"})
    await pool.open(wait=True)
    return Journal(pool=pool, audit=AuditWriter(DatabaseSink(pool))), pool


def test_a_write_whose_audit_cannot_be_written_leaves_nothing(own_region: str) -> None:
    session, patient = _physician(own_region)
    poisoned = Session(session.user_id, "lakare\x00", session.full_name, session.role, session.units)
    before = _counts(own_region, patient)

    async def run() -> None:
        journal, pool = await _journal(own_region)
        try:
            with pytest.raises(psycopg.DataError):  # the audit row cannot hold a NUL byte
                await journal.write_note(poisoned, patient, notes.NewNote(kind="daganteckning", body="ska inte finnas"))
        finally:
            await pool.close()

    asyncio.run(run())
    assert _counts(own_region, patient) == before  # neither the note nor an event


def test_every_acknowledged_write_has_its_event_while_a_poisoned_read_fails_alone(own_region: str) -> None:
    session, patient = _physician(own_region)
    before_notes, before_events = _counts(own_region, patient)

    async def run() -> tuple[list[object], BaseException | None]:
        journal, pool = await _journal(own_region)
        try:
            writes = [journal.write_note(session, patient, notes.NewNote(kind="daganteckning", body=f"anteckning {i}"))
                      for i in range(40)]
            reads = [journal.audit.record(AuditEvent(actor="lakare", action="read", patient_id=patient, purpose="vård",
                                                     detail={"view": "overview\x00" if i == 5 else "overview"}))
                     for i in range(20)]
            results = await asyncio.gather(*writes, *reads, return_exceptions=True)
        finally:
            await pool.close()
        failures = [r for r in results if isinstance(r, BaseException)]
        return results, failures[0] if len(failures) == 1 else None

    results, only_failure = asyncio.run(run())
    assert isinstance(only_failure, AuditUnavailable), [r for r in results if isinstance(r, BaseException)]
    written = [r for r in results[:40] if isinstance(r, dict)]
    assert len(written) == 40
    with psycopg.connect(own_region) as c:
        audited = {r[0] for r in c.execute("SELECT detail->>'id' FROM audit_event WHERE patient_id = %s"
                                           " AND action = 'write'", (patient,))}
    assert {str(r["entry_id"]) for r in written} <= audited
    assert _counts(own_region, patient) == (before_notes + 40, before_events + 40)
    assert audit.verify(own_region).ok


def test_purpose_is_an_enumerated_value(own_region: str) -> None:
    session, patient = _physician(own_region)

    async def run() -> None:
        journal, pool = await _journal(own_region)
        try:
            with pytest.raises(Invalid, match="purpose must be one of"):
                await journal.overview_json(session, patient, purpose="vård\x00")
            with pytest.raises(Invalid):
                await journal.overview_json(session, patient, purpose="nyfikenhet")
            assert await journal.overview_json(session, patient, purpose="vård")
        finally:
            await pool.close()

    asyncio.run(run())
