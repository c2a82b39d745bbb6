"""The hash-chained audit log: group commit, verification, and tamper detection."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from obruten.record import audit
from obruten.record.audit import AuditEvent, AuditWriter, DatabaseSink
from pgtools import fresh_database


@pytest.fixture
def audit_url(pg) -> str:
    return fresh_database(pg, "audit_test")


async def _record_many(url: str, n: int, writers: int) -> None:
    async with AsyncConnectionPool(url, min_size=2, max_size=4, open=False) as pool:
        writer = AuditWriter(DatabaseSink(pool), max_batch=50)
        await asyncio.gather(*(writer.record(AuditEvent(actor=f"user{i % writers}", action="read", patient_id=i,
                                                        purpose="vård", detail={"view": "overview", "n": i}))
                               for i in range(n)))


def test_concurrent_events_form_one_intact_chain(audit_url: str) -> None:
    asyncio.run(_record_many(audit_url, 600, writers=7))
    result = audit.verify(audit_url)
    assert result.ok and result.events == 600
    with psycopg.connect(audit_url) as c:
        assert c.execute("SELECT count(DISTINCT patient_id) FROM audit_event").fetchone()[0] == 600


def test_altered_or_removed_events_are_detected(audit_url: str) -> None:
    asyncio.run(_record_many(audit_url, 20, writers=2))
    with psycopg.connect(audit_url, autocommit=True) as c:
        # a superuser bypassing the append-only trigger, as an attacker with database access would
        c.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
        victim = c.execute("SELECT id FROM audit_event ORDER BY id OFFSET 7 LIMIT 1").fetchone()[0]
        c.execute("UPDATE audit_event SET actor = 'someone-else' WHERE id = %s", (victim,))
        c.execute("ALTER TABLE audit_event ENABLE TRIGGER USER")
    result = audit.verify(audit_url)
    assert not result.ok and result.first_bad_id == victim and "altered" in result.problem

    fresh = audit_url
    with psycopg.connect(fresh, autocommit=True) as c:
        c.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
        c.execute("UPDATE audit_event SET actor = %s WHERE id = %s", ("user1" if victim % 2 else "user0", victim))
        c.execute("DELETE FROM audit_event WHERE id = (SELECT id FROM audit_event ORDER BY id OFFSET 3 LIMIT 1)")
        c.execute("ALTER TABLE audit_event ENABLE TRIGGER USER")
    result = audit.verify(fresh)
    assert not result.ok and "removed" in result.problem


def test_a_failing_sink_fails_every_waiting_read() -> None:
    class Broken:
        async def append(self, events):
            raise OSError("disk full")

    async def run() -> list[BaseException | None]:
        writer = AuditWriter(Broken())
        return await asyncio.gather(*(writer.record(AuditEvent(actor="a", action="read")) for _ in range(3)),
                                    return_exceptions=True)

    assert all(isinstance(r, audit.AuditUnavailable) for r in asyncio.run(run()))
