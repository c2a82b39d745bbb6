"""Every store is versioned: a store made before versioning (``CREATE TABLE IF NOT EXISTS``, no
ledger) is adopted in place with its data, a damaged one is refused, and a store newer than the
code refuses to open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from obruten.ops import schema as ops_schema
from obruten.ops.store import Store
from obruten.ops.store_postgres import translate_ddl
from obruten.platform.migrations import MigrationError, StoreTooNew, load
from obruten.ward_agent import schema as agent_schema
from obruten.ward_agent.downtime_store import DowntimeStore


def _legacy(package: str, upto: str) -> str:
    """The schema as the release before versioning created it: the baseline migrations' text."""
    return "\n".join(m.up for m in load(package) if m.name <= upto)


def _ledger(conn: sqlite3.Connection | psycopg.Connection, table: str) -> list[str]:
    return [r[0] for r in conn.execute(f"SELECT name FROM {table} ORDER BY name")]


def test_an_ops_store_from_before_versioning_is_adopted_with_its_incidents(tmp_path: Path) -> None:
    path = tmp_path / "ops.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(_legacy(ops_schema.PACKAGE, ops_schema.ADOPT))
        old.execute("INSERT INTO incident (title, classification, state, opened_at, opened_by)"
                    " VALUES ('Journalen nere', 1, 'open', '2026-11-30T10:00:00+00:00', 'it1')")
    old.close()
    store = Store(path)
    try:
        assert store.migrated == [m.name for m in load(ops_schema.PACKAGE) if m.name > ops_schema.ADOPT]
        row = store.one("SELECT title FROM incident")
        assert row is not None and row["title"] == "Journalen nere"
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert _ledger(conn, ops_schema.LEDGER) == [m.name for m in load(ops_schema.PACKAGE)]
    conn.close()


def test_an_ops_store_that_never_used_event_analysis_gets_those_tables(tmp_path: Path) -> None:
    path = tmp_path / "ops.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(_legacy(ops_schema.PACKAGE, "0001_ops"))  # analysis/status/anchors made lazily
    old.close()
    store = Store(path)
    try:
        assert {"0002_analysis", "0003_status", "0004_audit_anchor"} <= set(store.migrated)
        assert store.all("SELECT * FROM analysis") == [] and store.all("SELECT * FROM status_message") == []
    finally:
        store.close()


def test_a_store_with_only_some_of_a_migrations_tables_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "ops.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE incident (id INTEGER PRIMARY KEY, title TEXT)")
    old.close()
    with pytest.raises(MigrationError, match="cannot be adopted safely"):
        Store(path)
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert "alarm" not in names and _ledger_empty(path)


def _ledger_empty(path: Path) -> bool:
    with sqlite3.connect(path) as conn:
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (ops_schema.LEDGER,)).fetchone()
        rows = conn.execute(f"SELECT count(*) FROM {ops_schema.LEDGER}").fetchone()[0] if exists else 0
    conn.close()
    return rows == 0


def test_a_ward_pc_store_from_before_versioning_keeps_its_queued_documentation(tmp_path: Path) -> None:
    path = tmp_path / "agent" / "downtime.sqlite3"
    path.parent.mkdir()
    with sqlite3.connect(path) as old:
        old.executescript(_legacy(agent_schema.PACKAGE, agent_schema.ADOPT))
        old.execute("INSERT INTO downtime_entry (key, kind, unit_id, device_id, patient_id, patient_label, summary,"
                    " entry, author, clinical_at, recorded_at) VALUES ('k1', 'note', 'AVD1', 'pc1', 1,"
                    " 'Testperson', 'Omvårdnad', '{}', 'ssk1', '2026-11-30T09:00', '2026-11-30T09:01')")
    old.close()
    store = DowntimeStore(path, "AVD1", "pc1")
    try:
        assert store.keys() == ["k1"] and store.counts() == {"queued": 1}
    finally:
        store.close()


def test_a_ward_pc_store_from_a_newer_release_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "downtime.sqlite3"
    DowntimeStore(path, "AVD1", "pc1").close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migration (name, digest) VALUES ('9001_from_the_future', 'x')")
    conn.close()
    with pytest.raises(StoreTooNew, match="ward agent store is at 9001_from_the_future, newer than this release"):
        DowntimeStore(path, "AVD1", "pc1")


def test_an_ops_store_on_postgresql_from_before_versioning_is_adopted(ops_store_database: str) -> None:
    with psycopg.connect(ops_store_database, autocommit=True) as admin:
        admin.execute("DROP SCHEMA IF EXISTS ops_adopt CASCADE")
        admin.execute("CREATE SCHEMA ops_adopt")
    store_location = f"{ops_store_database}?options=-csearch_path%3Dops_adopt"
    with psycopg.connect(store_location, autocommit=True) as old:
        old.execute(translate_ddl(_legacy(ops_schema.PACKAGE, ops_schema.ADOPT)).encode())
        old.execute("INSERT INTO meta (key, value) VALUES ('kept', 'ja')")
    store = Store(store_location)
    try:
        assert store.get_meta("kept") == "ja"
        assert store.migrated == [m.name for m in load(ops_schema.PACKAGE) if m.name > ops_schema.ADOPT]
    finally:
        store.close()
    with psycopg.connect(store_location, autocommit=True) as conn:
        assert _ledger(conn, ops_schema.LEDGER) == [m.name for m in load(ops_schema.PACKAGE)]


def test_undoing_the_reserve_numbers_refuses_while_a_reserve_patient_would_be_lost(tmp_path: Path) -> None:
    from obruten.platform.migrations import rollback_sqlite

    path = tmp_path / "downtime.sqlite3"
    DowntimeStore(path, "AVD1", "pc1").close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO reserve_patient (reserve_number, given_name, family_name, sex, birth_date,"
                 " registered_at, registered_by) VALUES ('R1', 'Test', 'Person', 'X', '1950-01-01', 'nu', 'ssk1')")
    with pytest.raises(sqlite3.IntegrityError):
        rollback_sqlite(conn, agent_schema.PACKAGE, "0001_downtime", agent_schema.STORE)
    assert conn.execute("SELECT count(*) FROM reserve_patient").fetchone()[0] == 1
    conn.execute("UPDATE reserve_patient SET journal_patient_id = 7")  # the journal has the patient now
    assert rollback_sqlite(conn, agent_schema.PACKAGE, "0001_downtime", agent_schema.STORE) == ["0002_reserve_numbers"]
    assert "reserve_number" not in {r[1] for r in conn.execute("PRAGMA table_info(downtime_entry)")}
    conn.close()


def test_columns_added_in_code_before_versioning_are_adopted_or_added(tmp_path: Path) -> None:
    with_columns, without = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    for path, upto in ((with_columns, "0005_alarm_detail_incident_impact"), (without, "0004_audit_anchor")):
        with sqlite3.connect(path) as old:
            old.executescript(_legacy(ops_schema.PACKAGE, upto))
            old.execute("INSERT INTO incident (title, classification, state, opened_at, opened_by)"
                        " VALUES ('x', 2, 'open', '2026-11-30T10:00:00+00:00', 'it1')")
        old.close()
    for path in (with_columns, without):
        store = Store(path)
        try:
            row = store.one("SELECT title, impact FROM incident")
            assert row is not None and row["title"] == "x" and row["impact"] == ""
            assert store.migrated == ([] if path == with_columns else ["0005_alarm_detail_incident_impact"])
        finally:
            store.close()
