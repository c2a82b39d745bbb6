"""The journal's database refuses a release older than its schema, and says what to do."""

from __future__ import annotations

import psycopg
import pytest

from obruten.platform.migrations import StoreTooNew, check_current
from obruten.platform.pgserver import PostgresInstance
from obruten.record.schema import migrate
from pgtools import fresh_database


def test_a_journal_database_newer_than_the_code_refuses(pg: PostgresInstance) -> None:
    url = fresh_database(pg, "store_newer")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migration (name, digest) VALUES ('9999_from_the_future', 'x')")
    with pytest.raises(StoreTooNew, match="journal store is at 9999_from_the_future, newer than this release"):
        migrate(url)
    with pytest.raises(StoreTooNew, match="upgrade rollback"):
        check_current(url, "obruten.record.schema")


def test_the_ledger_keeps_the_backward_sql_it_was_given(pg: PostgresInstance) -> None:
    url = fresh_database(pg, "store_ledger")
    with psycopg.connect(url) as conn:
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'schema_migration'")}
    assert {"name", "digest", "applied_at", "down_sql"} <= columns
    check_current(url, "obruten.record.schema")  # up to date: no error
