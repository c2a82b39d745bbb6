"""The stores an upgrade migrates, and each one's ledger opened WITHOUT migrating it (a plan
changes nothing; ``ops.store.Store`` and ``DowntimeStore`` migrate when they open)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from obruten.ops import schema as ops_schema
from obruten.ops.store import is_database_url
from obruten.ops.store_postgres import translate_ddl
from obruten.platform import migrations
from obruten.record import schema as journal_schema
from obruten.ward_agent import schema as agent_schema


@dataclass(frozen=True)
class StoreRef:
    """One store: its name, its migrations package, where it is, and how a pre-versioning store is adopted."""

    name: str
    package: str
    location: str | Path
    ledger_table: str = "schema_migration"
    adopt: str | None = None
    translate: bool = False  # SQLite-dialect migrations on PostgreSQL (the ops store)


def journal(url: str) -> StoreRef:
    return StoreRef("journal", journal_schema.__name__, url)


def ops(location: str | Path) -> StoreRef:
    return StoreRef(ops_schema.STORE, ops_schema.PACKAGE, location, ops_schema.LEDGER, ops_schema.ADOPT,
                    translate=is_database_url(location))


def ward_agent(path: Path) -> StoreRef:
    return StoreRef(agent_schema.STORE, agent_schema.PACKAGE, path, adopt=agent_schema.ADOPT)


@contextmanager
def ledger(ref: StoreRef) -> Iterator[migrations.Ledger | None]:
    """The store's ledger (None: an SQLite store that does not exist yet: everything would run)."""
    if isinstance(ref.location, str) and ref.location.startswith(("postgresql://", "postgres://")):
        with psycopg.connect(ref.location, autocommit=True, connect_timeout=10) as conn:
            yield migrations.PostgresLedger(conn, translate_ddl if ref.translate else None, ref.ledger_table)
        return
    path = Path(ref.location)
    if not path.exists():
        yield None
        return
    lite = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        yield migrations.SqliteLedger(lite, ref.ledger_table)
    finally:
        lite.close()


@dataclass
class StorePlan:
    """What an upgrade would do to one store."""

    store: str
    current: str | None  # the newest migration the store has recorded (None: none)
    pending: list[tuple[str, bool]] = field(default_factory=list)  # (name, can be undone)
    adopted: list[str] = field(default_factory=list)  # made before versioning: recorded, not run
    newer: list[str] = field(default_factory=list)  # recorded by a newer release: refuse
    baseline: list[str] = field(default_factory=list)  # of pending: the previous release had them too (never undone)


def plan(ref: StoreRef) -> StorePlan:
    with ledger(ref) as led:
        everything = migrations.load(ref.package)
        base = [m.name for m in everything if ref.adopt is not None and m.name <= ref.adopt]
        if led is None:
            return StorePlan(ref.name, None, [(m.name, m.down is not None) for m in everything], baseline=base)
        done = led.applied()
        adopted = migrations.adopted(led, ref.package, ref.adopt) if ref.adopt else []
        waiting = [m for m in migrations.plan(led, ref.package) if m.name not in adopted]
        return StorePlan(ref.name, max(done) if done else (adopted[-1] if adopted else None),
                         [(m.name, m.down is not None) for m in waiting], adopted,
                         migrations.newer(led, ref.package), [m.name for m in waiting if m.name in base])


def migrate(ref: StoreRef) -> list[str]:
    """Apply the store's pending migrations (adopting a pre-versioning store)."""
    if isinstance(ref.location, Path):
        ref.location.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(ref.location, isolation_level=None, timeout=30)
        try:
            return migrations.run(migrations.SqliteLedger(conn, ref.ledger_table), ref.package, ref.name, ref.adopt)
        finally:
            conn.close()
    if ref.name == "journal":
        return journal_schema.migrate(str(ref.location))  # and settles roles and grants
    with ledger(ref) as led:
        assert led is not None
        return migrations.run(led, ref.package, ref.name, ref.adopt)


def undoable(ref: StoreRef, names: list[str]) -> tuple[list[str], list[str]]:
    """Of ``names`` (applied by an upgrade): (those to undo, those without backward SQL). A store's
    baseline (up to ``adopt``: what the release before versioning made itself, lazily) is never undone."""
    with ledger(ref) as led:
        done = led.applied() if led is not None else {}
    present = [n for n in names if n in done and (ref.adopt is None or n > ref.adopt)]
    return present, [n for n in present if not done[n][1]]


def roll_back(ref: StoreRef, names: list[str]) -> list[str]:
    """Undo exactly ``names`` (and anything newer), newest first, with the store's recorded backward SQL."""
    if not names:
        return []
    with ledger(ref) as led:
        assert led is not None
        before = sorted(n for n in led.applied() if n < min(names))
        return migrations.roll_back(led, ref.package, before[-1] if before else None, ref.name)
