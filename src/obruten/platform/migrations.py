"""Versioned schemas for every store: numbered SQL migrations, forward and backward, recorded with
a digest, applied under a lock; a store newer than the code refuses to be opened.

A package holds ``NNNN_name.sql`` (forward) and, where the change can be undone, ``NNNN_name.down.sql``
(backward). Each forward migration runs once, in file-name order, in its own transaction, and is
recorded in the store's ``schema_migration`` table with the digest of its text and the text of its
backward migration. Keeping the backward SQL in the store means a rollback works from what the
store itself recorded, whichever release's code runs it. Other SQL beside them (``roles.sql``) is
not a migration.

The same runner serves PostgreSQL (a URL; the lock is an advisory lock) and SQLite (a connection;
the lock is ``BEGIN IMMEDIATE``), through ``Ledger``. A PostgresLedger may be given a ``translate``
function for stores whose SQL is written in another dialect (the ops store writes SQLite's).

Adoption: a store created before it had versioned migrations (tables made with ``CREATE TABLE IF
NOT EXISTS``, no ``schema_migration``) is adopted, not recreated: ``run(..., adopt=NAME)`` records
each migration up to NAME whose tables are all there as applied without running it, runs those
whose tables are all missing, and refuses a store that has only some of one migration's tables.

A migration applied before its backward SQL was written gets it recorded on the next ``run`` (the
forward digest must match: the backward SQL belongs to exactly that forward migration).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

import psycopg

from obruten.platform.errors import ObrutenError
from obruten.platform.rows import one

_MIGRATION = re.compile(r"(\d{4}_\w+)\.sql")
_DOWN = re.compile(r"(\d{4}_\w+)\.down\.sql")
_ADDS = re.compile(r"ALTER\s+TABLE\s+(\w+)\s+ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.IGNORECASE)
_CREATES = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.IGNORECASE)
LOCK = 0x0B5C_4E4D  # advisory lock: one migrator at a time
_LEDGER = """CREATE TABLE IF NOT EXISTS {table} (
    name text PRIMARY KEY, digest text NOT NULL, applied_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    down_sql text)"""


class MigrationError(ObrutenError, RuntimeError):
    """A migration cannot be applied or undone; the message says why and what to do."""


class StoreTooNew(MigrationError):
    """The store was migrated by a newer release than this code."""


@dataclass(frozen=True)
class Migration:
    name: str
    up: str
    down: str | None

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.up.encode()).hexdigest()

    @property
    def tables(self) -> set[str]:
        """The tables this migration creates (what adoption looks for)."""
        return {t.lower() for t in _CREATES.findall(self.up)}

    @property
    def columns(self) -> set[tuple[str, str]]:
        """The (table, column) pairs this migration adds to existing tables (adoption looks for them too)."""
        return {(t.lower(), c.lower()) for t, c in _ADDS.findall(self.up)}

    def found_in(self, tables: set[str], columns: Callable[[str], set[str]]) -> tuple[set[str], set[str]]:
        """What of this migration's tables and added columns a store has, and what it lacks (as names)."""
        wanted = set(self.tables) | {f"{t}.{c}" for t, c in self.columns}
        have = (self.tables & tables) | {f"{t}.{c}" for t, c in self.columns if t in tables and c in columns(t)}
        return have, wanted - have


def load(package: str | Path) -> list[Migration]:
    """The package's (or folder's) migrations in order, each with its backward SQL if it has one."""
    folder = package if isinstance(package, Path) else resources.files(package)
    files = {p.name: p for p in folder.iterdir()}
    downs = {m.group(1): p.read_text(encoding="utf-8") for name, p in files.items() if (m := _DOWN.fullmatch(name))}
    found = [(m.group(1), p) for name, p in files.items() if (m := _MIGRATION.fullmatch(name))]
    return [Migration(name, p.read_text(encoding="utf-8"), downs.get(name)) for name, p in sorted(found)]


def migrations(package: str | Path) -> list[tuple[str, str]]:
    """``(name, forward SQL)`` of the package's migrations in order."""
    return [(m.name, m.up) for m in load(package)]


class Ledger(Protocol):
    """One store's ``schema_migration`` table and a way to run SQL in it."""

    def locked(self) -> AbstractContextManager[None]: ...
    def applied(self) -> dict[str, tuple[str, str | None]]: ...  # name -> (digest, down SQL)
    def apply(self, migration: Migration) -> None: ...
    def revert(self, name: str, down: str) -> None: ...
    def record(self, migration: Migration) -> None: ...  # mark applied without running (adoption)
    def set_down(self, name: str, down: str) -> None: ...
    def tables(self) -> set[str]: ...
    def columns(self, table: str) -> set[str]: ...


class PostgresLedger:
    def __init__(self, conn: psycopg.Connection, translate: Callable[[str], str] | None = None,
                 table: str = "schema_migration") -> None:
        self.conn, self.table = conn, table  # autocommit
        self._sql = translate or (lambda sql: sql)

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.conn.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
        try:
            self.conn.execute(_LEDGER.format(table=self.table).replace("timestamp", "timestamptz"))
            self.conn.execute(f"ALTER TABLE {self.table} ADD COLUMN IF NOT EXISTS down_sql text")
            yield
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK,))

    def applied(self) -> dict[str, tuple[str, str | None]]:
        if one(self.conn.execute(f"SELECT to_regclass('{self.table}')").fetchone())[0] is None:
            return {}
        columns = {r[0] for r in self.conn.execute(
            f"SELECT attname FROM pg_attribute WHERE attrelid = '{self.table}'::regclass AND attnum > 0")}
        down = "down_sql" if "down_sql" in columns else "NULL"
        return {r[0]: (r[1], r[2]) for r in self.conn.execute(f"SELECT name, digest, {down} FROM {self.table}")}

    def apply(self, migration: Migration) -> None:
        with self.conn.transaction():
            self.conn.execute(self._sql(migration.up).encode())
            self.record(migration)

    def record(self, migration: Migration) -> None:
        self.conn.execute(f"INSERT INTO {self.table} (name, digest, down_sql) VALUES (%s, %s, %s)",
                          (migration.name, migration.digest, migration.down))

    def set_down(self, name: str, down: str) -> None:
        self.conn.execute(f"UPDATE {self.table} SET down_sql = %s WHERE name = %s", (down, name))

    def tables(self) -> set[str]:
        return {r[0] for r in self.conn.execute(
            "SELECT lower(tablename) FROM pg_tables WHERE schemaname = current_schema()")}

    def columns(self, table: str) -> set[str]:
        return {r[0] for r in self.conn.execute(
            "SELECT lower(column_name) FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND lower(table_name) = %s", (table,))}

    def revert(self, name: str, down: str) -> None:
        with self.conn.transaction():
            self.conn.execute(self._sql(down).encode())
            self.conn.execute(f"DELETE FROM {self.table} WHERE name = %s", (name,))


class SqliteLedger:
    def __init__(self, conn: sqlite3.Connection, table: str = "schema_migration") -> None:
        self.conn, self.table = conn, table
        self._depth = 0

    @contextmanager
    def locked(self) -> Iterator[None]:
        # BEGIN IMMEDIATE takes the write lock: a second migrator waits (busy_timeout) or fails
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute(_LEDGER.format(table=self.table))
            self._depth = 1
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0

    def applied(self) -> dict[str, tuple[str, str | None]]:
        exists = self.conn.execute(f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{self.table}'").fetchone()
        if not exists:
            return {}
        return {r[0]: (r[1], r[2]) for r in self.conn.execute(f"SELECT name, digest, down_sql FROM {self.table}")}

    def _script(self, sql: str) -> None:
        # executescript would COMMIT the open transaction; run statement by statement instead
        for statement in _statements(sql):
            self.conn.execute(statement)

    def apply(self, migration: Migration) -> None:
        self.conn.execute("SAVEPOINT migration")
        try:
            self._script(migration.up)
            self.record(migration)
        except BaseException:
            self.conn.execute("ROLLBACK TO migration")
            raise
        finally:
            self.conn.execute("RELEASE migration")

    def record(self, migration: Migration) -> None:
        self.conn.execute(f"INSERT INTO {self.table} (name, digest, down_sql) VALUES (?, ?, ?)",
                          (migration.name, migration.digest, migration.down))

    def set_down(self, name: str, down: str) -> None:
        self.conn.execute(f"UPDATE {self.table} SET down_sql = ? WHERE name = ?", (down, name))

    def tables(self) -> set[str]:
        return {r[0].lower() for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def columns(self, table: str) -> set[str]:
        if not table.isidentifier():
            return set()
        return {r[1].lower() for r in self.conn.execute(f"PRAGMA table_info({table})")}

    def revert(self, name: str, down: str) -> None:
        self.conn.execute("SAVEPOINT migration")
        try:
            self._script(down)
            self.conn.execute(f"DELETE FROM {self.table} WHERE name = ?", (name,))
        except BaseException:
            self.conn.execute("ROLLBACK TO migration")
            raise
        finally:
            self.conn.execute("RELEASE migration")


def _statements(sql: str) -> Iterator[str]:
    """Split SQLite DDL on the semicolons that end statements (``sqlite3.complete_statement`` keeps
    trigger bodies whole)."""
    buffer = ""
    for part in sql.split(";"):
        buffer += part + ";"
        if sqlite3.complete_statement(buffer):
            if _has_code(buffer):
                yield buffer
            buffer = ""
    if _has_code(buffer.removesuffix(";")):
        yield buffer


def _has_code(sql: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in sql.replace(";", "").splitlines())


# ---- the runner: the same rules for every store --------------------------------------------------
def newer(ledger: Ledger, package: str | Path) -> list[str]:
    """Migrations recorded in the store that this code does not have (a newer release made them)."""
    known = {m.name for m in load(package)}
    return sorted(set(ledger.applied()) - known)


def _refuse_newer(ledger: Ledger, package: str | Path, store: str) -> None:
    unknown = newer(ledger, package)
    if unknown:
        ours = load(package)
        raise StoreTooNew(
            f"the {store} store is at {unknown[-1]}, newer than this release "
            f"(its latest is {ours[-1].name if ours else 'none'}): run the newer release, or undo its "
            "changes with that release's `obruten upgrade rollback` before starting this one")


def run(ledger: Ledger, package: str | Path, store: str = "journal", adopt: str | None = None) -> list[str]:
    """Apply the pending migrations under the store's lock; return the names applied. Refuses (and
    changes nothing) if the store is newer than the code or an applied migration was edited.

    ``adopt``: the last migration a store made before versioning may already have (see the module
    docstring); only used when the store has recorded no migration yet."""
    applied_now: list[str] = []
    with ledger.locked():
        _refuse_newer(ledger, package, store)
        done = ledger.applied()
        legacy = adopt is not None and not done
        existing = ledger.tables() if legacy else set()
        for migration in load(package):
            if migration.name in done:
                if done[migration.name][0] != migration.digest:
                    raise MigrationError(f"{store} migration {migration.name} was edited after it was applied; "
                                         "add a new migration instead of changing an old one")
                if migration.down and not done[migration.name][1]:
                    ledger.set_down(migration.name, migration.down)
                continue
            if legacy and adopt is not None and migration.name <= adopt and (migration.tables or migration.columns):
                present, absent = migration.found_in(existing, ledger.columns)
                if not absent:
                    ledger.record(migration)  # the store already has exactly these: adopt them
                    continue
                if present:
                    raise MigrationError(
                        f"the {store} store has some of what {migration.name} makes ({', '.join(sorted(present))}) "
                        f"but not {', '.join(sorted(absent))}: it cannot be adopted safely; "
                        "nothing was changed. Restore it from a backup or repair it by hand")
            ledger.apply(migration)
            applied_now.append(migration.name)
    return applied_now


def adopted(ledger: Ledger, package: str | Path, adopt: str) -> list[str]:
    """What ``run(adopt=…)`` would record as already there without running (for ``upgrade plan``)."""
    if ledger.applied():
        return []
    existing = ledger.tables()
    return [m.name for m in load(package)
            if m.name <= adopt and (m.tables or m.columns) and not m.found_in(existing, ledger.columns)[1]]


def roll_back(ledger: Ledger, package: str | Path, to: str | None, store: str = "journal") -> list[str]:
    """Undo, newest first, every migration applied after ``to`` (None: undo all), using the backward
    SQL the store recorded. Refuses before changing anything if one of them cannot be undone."""
    with ledger.locked():
        done = ledger.applied()
        undo = sorted((name for name in done if to is None or name > to), reverse=True)
        blocked = [name for name in undo if not done[name][1]]
        if blocked:
            raise MigrationError(
                f"{store} migration(s) {', '.join(blocked)} cannot be undone (no backward migration: the "
                "data they changed cannot be kept in the old shape); nothing was changed. Restore the "
                "pre-upgrade snapshot instead (docs/operations.md, 'Upgrades')")
        for name in undo:
            down = done[name][1]
            assert down is not None
            ledger.revert(name, down)
    return undo


def plan(ledger: Ledger, package: str | Path) -> list[Migration]:
    """The migrations ``run`` would apply (nothing is changed)."""
    done = ledger.applied()
    return [m for m in load(package) if m.name not in done]


# ---- PostgreSQL by URL: what the journal's schema package uses -----------------------------------
def migrate(url: str, package: str | Path, store: str = "journal") -> list[str]:
    """Apply pending migrations; return the names applied (empty if up to date)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return run(PostgresLedger(conn), package, store)


def pending(url: str, package: str | Path) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [m.name for m in plan(PostgresLedger(conn), package)]


def check_current(url: str, package: str | Path, store: str = "journal") -> None:
    """Raise StoreTooNew if the database was migrated by a newer release (call before serving)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        _refuse_newer(PostgresLedger(conn), package, store)


def rollback(url: str, package: str | Path, to: str | None, store: str = "journal") -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return roll_back(PostgresLedger(conn), package, to, store)


# ---- SQLite: the ops store's and the ward agent's files ------------------------------------------
def migrate_sqlite(conn: sqlite3.Connection, package: str | Path, store: str, adopt: str | None = None) -> list[str]:
    """Apply ``package``'s pending migrations to an SQLite database (the connection must not be
    inside a transaction)."""
    return run(SqliteLedger(conn), package, store, adopt)


def rollback_sqlite(conn: sqlite3.Connection, package: str | Path, to: str | None, store: str) -> list[str]:
    return roll_back(SqliteLedger(conn), package, to, store)
