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
