"""The database itself refuses to change or remove record entries and audit events."""

from __future__ import annotations

import psycopg
import pytest

from obruten.record.entries import ENTRY_TABLES

PROTECTED = (*ENTRY_TABLES, "emergency_access", "audit_event")


@pytest.mark.parametrize("table", PROTECTED)
def test_update_delete_truncate_are_refused(region_url: str, table: str) -> None:
    with psycopg.connect(region_url, autocommit=True) as c:
        _ensure_row(c, table, region_url)
        row = c.execute(f"SELECT id FROM {table} LIMIT 1").fetchone()
        assert row is not None, f"the seeded region has no {table} rows"
        column = {"emergency_access": "reason", "audit_event": "actor"}.get(table, "signed_by")
        for statement in (f"UPDATE {table} SET {column} = {column} WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                c.execute(statement, row)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            c.execute(f"TRUNCATE {table} CASCADE")
        assert c.execute(f"SELECT count(*) FROM {table} WHERE id = %s", row).fetchone()[0] == 1


def _ensure_row(c: psycopg.Connection, table: str, url: str) -> None:
    """The seeded region has no emergency accesses or audit events yet: make one the normal way."""
    if c.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
        return
    if table == "emergency_access":
        c.execute("INSERT INTO emergency_access (staff_id, patient_id, reason, expires_at)"
                  " SELECT (SELECT min(id) FROM staff), (SELECT min(id) FROM patient), 'Akut omhändertagande',"
                  " now() + interval '1 hour'")
    elif table == "audit_event":
        import asyncio

        from psycopg_pool import AsyncConnectionPool

        from obruten.record.audit import AuditEvent, DatabaseSink

        async def one() -> None:
            async with AsyncConnectionPool(url, min_size=1, max_size=1) as pool:
                await DatabaseSink(pool).append([AuditEvent(actor="test", action="read")])

        asyncio.run(one())


def test_a_version_must_supersede_the_latest_version_of_the_same_entry(region_url: str) -> None:
    with psycopg.connect(region_url, autocommit=True) as c:
        a, b = c.execute("SELECT id, entry_id, patient_id, unit_id, signed_by FROM note WHERE version = 1 LIMIT 2").fetchall()
        insert = ("INSERT INTO note (entry_id, version, supersedes, patient_id, unit_id, kind, body, clinical_at,"
                  " signed_by, reason) VALUES (%s, %s, %s, %s, %s, 'daganteckning', 'x', now(), %s, 'rättelse')")
        with pytest.raises(psycopg.errors.CheckViolation):  # supersedes another entry's version
            c.execute(insert, (a[1], 2, b[0], a[2], a[3], a[4]))
        with pytest.raises(psycopg.errors.CheckViolation):  # skips a version
            c.execute(insert, (a[1], 3, a[0], a[2], a[3], a[4]))
        with pytest.raises(psycopg.errors.CheckViolation):  # a correction without a reason
            c.execute(insert.replace("'rättelse'", "NULL"), (a[1], 2, a[0], a[2], a[3], a[4]))
