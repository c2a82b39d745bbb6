"""Versioned, append-only entries: insert a first version, correct it with a new one, read history.

Every entry table has entry_id, version, supersedes, signed_by, signed_at and reason (see
schema 0001). A correction copies the current version, applies the changes, and inserts it as
version + 1; the database refuses UPDATE and DELETE, and a unique (entry_id, version) makes two
concurrent corrections of the same version conflict instead of forking the history.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from obruten.platform.errors import Conflict, Invalid, NotFound

ENTRY_TABLES = ("admission", "note", "diagnosis", "warning", "medication_order",
                "medication_administration", "referral", "referral_result")
_BOOKKEEPING = {"id", "entry_id", "version", "supersedes", "signed_by", "signed_at", "reason"}


def _table(name: str) -> sql.Identifier:
    if name not in ENTRY_TABLES:
        raise Invalid(f"unknown entry type {name!r}; known: {', '.join(ENTRY_TABLES)}")
    return sql.Identifier(name)


async def insert(conn: psycopg.AsyncConnection, table: str, values: dict[str, Any], signed_by: int) -> dict:
    """Insert version 1 of a new entry; returns the stored row."""
    cols = [*values, "signed_by"]
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING *").format(
        _table(table), sql.SQL(", ").join(map(sql.Identifier, cols)),
        sql.SQL(", ").join(sql.Placeholder() * len(cols)))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*values.values(), signed_by])
        row = await cur.fetchone()
    assert row is not None
    return row


async def current(conn: psycopg.AsyncConnection, table: str, entry_id: UUID) -> dict:
    query = sql.SQL("SELECT * FROM {} WHERE entry_id = %s ORDER BY version DESC LIMIT 1").format(_table(table))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (entry_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no {table} entry {entry_id}")
    return row


async def correct(conn: psycopg.AsyncConnection, table: str, entry_id: UUID, changes: dict[str, Any],
                  signed_by: int, reason: str, expected_version: int | None = None) -> dict:
    """Record a new version of ``entry_id`` with ``changes``; the old version stays in history."""
    if not reason or not reason.strip():
        raise Invalid("a correction needs a reason")
    latest = await current(conn, table, entry_id)
    if expected_version is not None and latest["version"] != expected_version:
        raise Conflict(f"the entry was changed meanwhile (now version {latest['version']}); reload and retry")
    unknown = set(changes) - set(latest) | (set(changes) & _BOOKKEEPING) | ({"patient_id"} & set(changes))
    if unknown:
        raise Invalid(f"cannot change {', '.join(sorted(unknown))} in a correction")
    values = {k: v for k, v in latest.items() if k not in _BOOKKEEPING}
    values.update(changes)
    values.update(entry_id=entry_id, version=latest["version"] + 1, supersedes=latest["id"], reason=reason.strip())
    try:
        return await insert(conn, table, values, signed_by)
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict("someone corrected this entry at the same moment; reload and retry") from exc


async def history(conn: psycopg.AsyncConnection, table: str, entry_id: UUID) -> list[dict]:
    """All versions, oldest first, with the signer's name."""
    query = sql.SQL("SELECT e.*, s.full_name AS signed_by_name, r.registered_at AS downtime_registered_at,"
                    " r.author AS downtime_author, rb.full_name AS downtime_confirmed_by FROM {} e JOIN staff s ON s.id = e.signed_by"
                    " LEFT JOIN postreg_registration r ON r.entry_table = %s AND r.entry_id = e.entry_id"
                    " AND e.version = 1 LEFT JOIN staff rb ON rb.id = r.registered_by WHERE e.entry_id = %s ORDER BY e.version").format(_table(table))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (table, entry_id))
        rows = await cur.fetchall()
    if not rows:
        raise NotFound(f"no {table} entry {entry_id}")
    return rows
