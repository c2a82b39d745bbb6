"""Forward-only SQL migrations from a package's ``NNNN_name.sql`` files, applied in file-name order,
each in its own transaction.

Each file ``NNNN_name.sql`` is applied once; ``schema_migration`` records which ones ran and a
digest of their text, so an edited, already-applied migration is reported instead of ignored.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import psycopg

from obruten.platform.errors import ObrutenError
from obruten.platform.rows import one

_MIGRATION = re.compile(r"\d{4}_\w+\.sql")
LOCK = 0x0B5C_4E4D  # advisory lock: one migrator at a time


class MigrationError(ObrutenError, RuntimeError):
    """A migration cannot be applied; the message says why and what to do."""


def migrations(package: str) -> list[tuple[str, str]]:
    """The package's ``NNNN_name.sql`` files in order; other SQL beside them (e.g. ``roles.sql``,
    re-applied after every run) is not a migration."""
    files = sorted((p for p in resources.files(package).iterdir() if _MIGRATION.fullmatch(p.name)), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


def migrate(url: str, package: str) -> list[str]:
    """Apply pending migrations; return the names applied (empty if up to date)."""
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
        try:
            conn.execute("""CREATE TABLE IF NOT EXISTS schema_migration (
                                name text PRIMARY KEY, digest text NOT NULL,
                                applied_at timestamptz NOT NULL DEFAULT now())""")
            done: dict[str, str] = dict(conn.execute("SELECT name, digest FROM schema_migration").fetchall())
            for name, sql in migrations(package):
                digest = hashlib.sha256(sql.encode()).hexdigest()
                if name in done:
                    if done[name] != digest:
                        raise MigrationError(f"migration {name} was edited after it was applied; "
                                             "add a new migration instead of changing an old one")
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute("INSERT INTO schema_migration (name, digest) VALUES (%s, %s)", (name, digest))
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK,))
    return applied


def pending(url: str, package: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        exists = one(conn.execute("SELECT to_regclass('schema_migration')").fetchone())
        done = set() if exists[0] is None else {r[0] for r in conn.execute("SELECT name FROM schema_migration")}
    return [name for name, _ in migrations(package) if name not in done]
