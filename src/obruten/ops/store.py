"""The ops service's own store: one SQLite file in WAL mode under ``var/ops``, or the ops
service's own PostgreSQL database (``ops_database_url``).

It is deliberately apart from the journal database (ADR 0030): when the journal is down the ops
service still fires alarms, escalates, and records incidents. The schema lives here and is
created on open; every domain module reads and writes through ``Store``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from obruten.ops.store_postgres import PostgresConnection
from obruten.ops.store_postgres import Row as PgRow

# a row read by column name or position: sqlite3.Row, or its PostgreSQL twin
Row = sqlite3.Row | PgRow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS ops_user (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    full_name     TEXT NOT NULL,
    console_role  TEXT NOT NULL CHECK (console_role IN ('it', 'tib')),
    password_hash TEXT,
    email         TEXT,
    phone         TEXT,
    active        INTEGER NOT NULL DEFAULT 1
);

-- Who holds an on-call role (function) when; ends_at NULL means until further notice.
CREATE TABLE IF NOT EXISTS oncall_shift (
    id        INTEGER PRIMARY KEY,
    role      TEXT NOT NULL,
    user_id   INTEGER NOT NULL REFERENCES ops_user(id),
    starts_at TEXT NOT NULL,
    ends_at   TEXT
);
CREATE INDEX IF NOT EXISTS oncall_shift_role ON oncall_shift (role, starts_at);

-- Every change to the rota, with who and when (added, ended, cancelled).
CREATE TABLE IF NOT EXISTS oncall_change (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    who       TEXT NOT NULL,
    action    TEXT NOT NULL CHECK (action IN ('added', 'ended', 'cancelled')),
    shift_id  INTEGER NOT NULL,
    role      TEXT NOT NULL,
    user_id   INTEGER NOT NULL REFERENCES ops_user(id),
    starts_at TEXT NOT NULL,
    ends_at   TEXT
);

-- The latest finding of each probe target.
CREATE TABLE IF NOT EXISTS finding (
    probe  TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    value  REAL,
    detail TEXT NOT NULL DEFAULT '',
    at     TEXT NOT NULL,
    PRIMARY KEY (probe, target)
);

CREATE TABLE IF NOT EXISTS incident (
    id               INTEGER PRIMARY KEY,
    title            TEXT NOT NULL,
    classification   INTEGER NOT NULL CHECK (classification BETWEEN 1 AND 4),
    state            TEXT NOT NULL CHECK (state IN ('open', 'mitigated', 'resolved', 'closed')),
    opened_at        TEXT NOT NULL,
    opened_by        TEXT NOT NULL,
    mitigated_at     TEXT,
    resolved_at      TEXT,
    closed_at        TEXT,
    affected_systems TEXT NOT NULL DEFAULT '[]',
    affected_units   TEXT NOT NULL DEFAULT '[]',
    auto             INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS alarm (
    id          INTEGER PRIMARY KEY,
    rule        TEXT NOT NULL,
    dedup_key   TEXT NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('critical', 'major', 'minor')),
    state       TEXT NOT NULL CHECK (state IN ('firing', 'acknowledged', 'resolved')),
    summary     TEXT NOT NULL,
    chain       TEXT NOT NULL,
    daytime_only INTEGER NOT NULL DEFAULT 0,
    opened_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    seen        INTEGER NOT NULL DEFAULT 1,
    acked_at    TEXT,
    acked_by    TEXT,
    resolved_at TEXT,
    resolved_by TEXT,
    step        INTEGER NOT NULL DEFAULT -1,
    round       INTEGER NOT NULL DEFAULT 0,
    step_until  TEXT,
    incident_id INTEGER REFERENCES incident(id)
);
CREATE UNIQUE INDEX IF NOT EXISTS alarm_open_key ON alarm (dedup_key) WHERE state <> 'resolved';

-- Every transition of an alarm, with who and when (fired, escalated, acknowledged, resolved).
CREATE TABLE IF NOT EXISTS alarm_transition (
    id       INTEGER PRIMARY KEY,
    alarm_id INTEGER NOT NULL REFERENCES alarm(id),
    at       TEXT NOT NULL,
    action   TEXT NOT NULL,
    who      TEXT NOT NULL,
    note     TEXT NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS notification (
    id          INTEGER PRIMARY KEY,
    alarm_id    INTEGER REFERENCES alarm(id),
    step        INTEGER,
    role        TEXT,
    user_id     INTEGER REFERENCES ops_user(id),
    channel     TEXT NOT NULL,
    address     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    payload     TEXT NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  TEXT NOT NULL,
    next_try_at TEXT NOT NULL,
    sent_at     TEXT
);
CREATE INDEX IF NOT EXISTS notification_due ON notification (state, next_try_at);

CREATE TABLE IF NOT EXISTS delivery_attempt (
    id              INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL REFERENCES notification(id),
    at              TEXT NOT NULL,
    ok              INTEGER NOT NULL,
    error           TEXT
);

-- incident_id NULL: a system event, shown in every incident whose time window covers it.
CREATE TABLE IF NOT EXISTS timeline_entry (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER REFERENCES incident(id),
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    summary     TEXT NOT NULL,
    source      TEXT NOT NULL,
    manual      INTEGER NOT NULL DEFAULT 0,
    who         TEXT
);
CREATE INDEX IF NOT EXISTS timeline_entry_at ON timeline_entry (at);

-- Status messages and operating-mode changes that belong to an incident.
CREATE TABLE IF NOT EXISTS incident_link (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incident(id),
    kind        TEXT NOT NULL,
    ref         TEXT NOT NULL,
    at          TEXT NOT NULL,
    UNIQUE (incident_id, kind, ref)
);

CREATE TABLE IF NOT EXISTS preparedness_change (
    id          INTEGER PRIMARY KEY,
    level       TEXT NOT NULL,
    at          TEXT NOT NULL,
    decided_by  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    incident_id INTEGER REFERENCES incident(id)
);

CREATE TABLE IF NOT EXISTS preparedness_proposal (
    id          INTEGER PRIMARY KEY,
    level       TEXT NOT NULL,
    incident_id INTEGER REFERENCES incident(id),
    alarm_id    INTEGER REFERENCES alarm(id),
    proposed_at TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'proposed' CHECK (state IN ('proposed', 'accepted', 'declined')),
    decided_by  TEXT,
    decided_at  TEXT,
    reason      TEXT
);

-- What each ward agent last reported: its unit's newest downtime kit.
CREATE TABLE IF NOT EXISTS ward_agent (
    unit         TEXT PRIMARY KEY,
    agent        TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    kit_at       TEXT
);
"""


# columns added to the core schema after it was first written (issue 15): added to existing stores
# on open. An alarm's raw error stays out of its title; an incident names the impact on care.
ADDED_COLUMNS = (
    ("alarm", "detail", "TEXT NOT NULL DEFAULT ''"),
    ("incident", "impact", "TEXT NOT NULL DEFAULT ''"),
)


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
            self._pg.script(_SCHEMA)
            self._add_columns()
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
        self._conn.executescript(_SCHEMA)
        self._add_columns()

    def _add_columns(self) -> None:
        for table, column, declaration in ADDED_COLUMNS:
            self.add_column(table, column, declaration)

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

    def add_column(self, table: str, column: str, declaration: str) -> None:
        """Add ``column`` to ``table`` of an existing store unless it has it (idempotent). For the
        columns added since the core schema was first written, named in ``ADDED_COLUMNS``."""
        if not (table.isidentifier() and column.isidentifier()):
            raise ValueError(f"not identifiers: {table!r}, {column!r}")
        with self._lock:
            if self._pg is not None:
                self._pg.script(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {declaration};")
                return
            have = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

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
