"""Only ``NNNN_name.sql`` files are migrations: ``roles.sql`` beside them is re-applied after every
run, so recording it as applied would make its next edit refuse to start ("edited after it was
applied")."""

from __future__ import annotations

from obruten.platform.migrations import migrations


def test_the_journal_schema_lists_its_numbered_migrations_only() -> None:
    names = [name for name, _ in migrations("obruten.record.schema")]
    assert names == sorted(names) and names[0] == "0001_record"
    assert all(name[:4].isdigit() and name[4] == "_" for name in names)
    assert "roles" not in names


# ---- the runner on SQLite: the same rules every store gets ------------------------------------------
import sqlite3  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from obruten.platform.migrations import MigrationError, StoreTooNew, migrate_sqlite, rollback_sqlite  # noqa: E402


def _release(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql)
    return folder


V1 = {"0001_entry.sql": "CREATE TABLE entry (id INTEGER PRIMARY KEY, text TEXT NOT NULL);"}
V2 = {**V1, "0002_author.sql": "ALTER TABLE entry ADD COLUMN author TEXT NOT NULL DEFAULT '';",
      "0002_author.down.sql": "ALTER TABLE entry DROP COLUMN author;"}


def _columns(conn: sqlite3.Connection) -> list[str]:
    return [r[1] for r in conn.execute("PRAGMA table_info(entry)")]


def test_forward_records_and_backward_undoes(tmp_path: Path) -> None:
    v2 = _release(tmp_path / "v2", V2)
    conn = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    assert migrate_sqlite(conn, v2, "test") == ["0001_entry", "0002_author"]
    assert migrate_sqlite(conn, v2, "test") == []
    conn.execute("INSERT INTO entry (text, author) VALUES ('a', 'b')")
    assert _columns(conn) == ["id", "text", "author"]
    assert rollback_sqlite(conn, v2, "0001_entry", "test") == ["0002_author"]
    assert _columns(conn) == ["id", "text"] and conn.execute("SELECT text FROM entry").fetchall() == [("a",)]


def test_a_store_newer_than_the_code_refuses(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    migrate_sqlite(conn, _release(tmp_path / "v2", V2), "ward PC")
    with pytest.raises(StoreTooNew, match="ward PC store is at 0002_author, newer than this release"):
        migrate_sqlite(conn, _release(tmp_path / "v1", V1), "ward PC")


def test_an_edited_migration_refuses(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    migrate_sqlite(conn, _release(tmp_path / "v1", V1), "test")
    edited = _release(tmp_path / "v1b", {"0001_entry.sql": V1["0001_entry.sql"] + " -- changed"})
    with pytest.raises(MigrationError, match="edited after it was applied"):
        migrate_sqlite(conn, edited, "test")


def test_rollback_without_a_backward_migration_changes_nothing(tmp_path: Path) -> None:
    v3 = _release(tmp_path / "v3", {**V2, "0003_drop.sql": "ALTER TABLE entry DROP COLUMN author;"})
    conn = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    migrate_sqlite(conn, v3, "test")
    with pytest.raises(MigrationError, match="0003_drop cannot be undone"):
        rollback_sqlite(conn, v3, "0001_entry", "test")
    assert _columns(conn) == ["id", "text"]
    assert {r[0] for r in conn.execute("SELECT name FROM schema_migration")} == {"0001_entry", "0002_author", "0003_drop"}


def test_a_failing_migration_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    bad = _release(tmp_path / "bad", {**V1, "0002_bad.sql": "ALTER TABLE entry ADD COLUMN x TEXT; SELECT * FROM nowhere;"})
    conn = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        migrate_sqlite(conn, bad, "test")
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'schema_migration'").fetchone() == (0,) or \
        [r[0] for r in conn.execute("SELECT name FROM schema_migration")] == []
