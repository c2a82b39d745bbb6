"""The ops service's own store: one SQLite file in WAL mode under ``var/ops``, or the ops
service's own PostgreSQL database (``ops_database_url``).

It is deliberately apart from the journal database (ADR 0030): when the journal is down the ops
service still fires alarms, escalates, and records incidents. The schema is versioned in
``obruten.ops.schema`` (numbered migrations, applied under the store's lock on open; a store newer
than the code refuses to open); every domain module reads and writes through ``Store``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from obruten.ops import schema
from obruten.ops.store_postgres import PostgresConnection, translate_ddl
from obruten.ops.store_postgres import Row as PgRow
from obruten.platform import migrations

# a row read by column name or position: sqlite3.Row, or its PostgreSQL twin
Row = sqlite3.Row | PgRow



class Store:
    """The ops store: one SQLite file (default) or the ops service's own PostgreSQL database,
    behind one API. One connection shared by the service's threads, serialised by a lock.

    ``location`` is a path (SQLite) or a ``postgresql://`` URL; SQL is written in SQLite's dialect
    with ``?`` placeholders and translated for PostgreSQL in ``store_postgres``."""

    def __init__(self, location: Path | str) -> None:
        self._lock = threading.RLock()
        self._pg: PostgresConnection | None = None
        if is_database_url(location):
            self.path: Path | None = None
            self.url: str | None = str(location)
            self._pg = PostgresConnection(self.url)
            self.migrated = migrations.run(self.ledger(), schema.PACKAGE, schema.STORE, schema.ADOPT)
            return
        path = Path(location)
        self.path, self.url = path, None
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")  # an alarm or decision once recorded stays
        self._conn.execute("PRAGMA foreign_keys=ON")
        self.migrated = migrations.run(self.ledger(), schema.PACKAGE, schema.STORE, schema.ADOPT)

    def ledger(self) -> migrations.Ledger:
        """The store's ``schema_migration`` ledger (for ``obruten upgrade``; hold no other write meanwhile)."""
        if self._pg is not None:
            return migrations.PostgresLedger(self._pg.raw(), translate_ddl, schema.LEDGER)
        return migrations.SqliteLedger(self._conn, schema.LEDGER)

    @property
    def backend(self) -> str:
        return "postgresql" if self._pg is not None else "sqlite"

    def make_append_only(self, table: str, message: str) -> None:
        """Refuse UPDATE and DELETE on ``table`` with ``message``, in this backend's dialect
        (idempotent). ``table`` is one of our own identifiers, never user input."""
        if not table.isidentifier() or "'" in message:
            raise ValueError(f"not a table name or a plain message: {table!r}, {message!r}")
        if self.backend == "postgresql":
            self.apply_schema(
                f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS\n"
                f"'BEGIN RAISE EXCEPTION ''{message}''; END';\n"
                f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}\n"
                f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only();\n")
        else:
            self.apply_schema("".join(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}\n"
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END;\n" for op in ("UPDATE", "DELETE")))

    def apply_schema(self, ddl: str) -> None:
        """Create a domain's own tables (``CREATE TABLE IF NOT EXISTS …``) beside the core schema.

        Domains that live in the ops store but not in this module (e.g. event analysis) call this
        once when they start; it is idempotent."""
        with self._lock:
            if self._pg is not None:
                self._pg.script(ddl)
            else:
                self._conn.executescript(ddl)

    @classmethod
    def under(cls, var_dir: Path) -> Store:
        return cls(var_dir / "ops" / "ops.sqlite3")

    @contextmanager
    def tx(self) -> Iterator[Any]:
        """One write transaction (SQLite: BEGIN IMMEDIATE … COMMIT; PostgreSQL: a transaction
        holding the store's write lock), rolled back on error. Yields something with
        ``execute(sql, params)`` returning a cursor (``fetchone``, ``fetchall``, ``lastrowid``)."""
        with self._lock:
            if self._pg is not None:
                with self._pg.tx() as db:
                    yield db
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _run(self, sql: str, params: Sequence[object]) -> Any:
        return (self._pg or self._conn).execute(sql, params)

    def all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with self._lock:
            return self._run(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        with self._lock:
            return self._run(sql, params).fetchone()

    def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one statement in its own transaction; returns the new row's id after an INSERT
        (0 when nothing was inserted, e.g. ``INSERT OR IGNORE`` of an existing row)."""
        with self._lock:
            cur = self._run(sql, params)
            return (cur.lastrowid or 0) if cur.rowcount != 0 else 0

    def get_meta(self, key: str, default: str = "") -> str:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return row["value"] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def close(self) -> None:
        with self._lock:
            (self._pg or self._conn).close()


def is_database_url(location: Path | str) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))
