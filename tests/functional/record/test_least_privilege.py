"""The application's database role can change nothing the record promises to keep.

The failure: the app connected as the superuser that owns the tables, so `SET
session_replication_role = replica` or `ALTER TABLE … DISABLE TRIGGER` let UPDATE and DELETE through
on entries and on the audit log. Each bypass is tried here as `obruten_app`, the role the journal
connects as.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from psycopg_pool import AsyncConnectionPool

from obruten.platform.auth import Session
from obruten.record import notes, referrals
from obruten.record.audit import AuditWriter, DatabaseSink
from obruten.record.schema import APP_ROLE, app_url
from obruten.record.service import Journal
from pgtools import seeded_database


@pytest.fixture(scope="module")
def own_region(pg) -> str:  # type: ignore[no-untyped-def]
    """This module writes many entries: its own region, so the shared one stays as other tests expect."""
    return seeded_database(pg, "least_privilege")


BYPASSES = [
    "SET session_replication_role = replica",
    "SELECT set_config('session_replication_role', 'replica', false)",
    "ALTER TABLE note DISABLE TRIGGER USER",
    "ALTER TABLE audit_event DISABLE TRIGGER ALL",
    "ALTER TABLE audit_event OWNER TO obruten_app",
    "DROP TRIGGER append_only_row ON audit_event",
    "UPDATE note SET body = 'ändrad' WHERE id = (SELECT min(id) FROM note)",
    "DELETE FROM note WHERE id = (SELECT min(id) FROM note)",
    "TRUNCATE note",
    "UPDATE audit_event SET actor = 'någon annan' WHERE id = (SELECT max(id) FROM audit_event)",
    "DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)",
    "TRUNCATE audit_event",
    "DELETE FROM emergency_access",
    "DELETE FROM order_series",
    "UPDATE schema_migration SET digest = 'x'",
    "DROP TABLE audit_event",
    "CREATE TABLE shadow (x int)",
    "CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    "ALTER SEQUENCE order_number_seq RESTART WITH 1",
    "SELECT setval('order_number_seq', 1)",
    "CREATE ROLE intruder SUPERUSER",
    "ALTER ROLE obruten_app SUPERUSER",
    "GRANT obruten_owner TO obruten_app",
    "SET ROLE obruten_owner",
]


@pytest.fixture(scope="module")
def app(own_region: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return app_url(own_region, Path(tmp_path_factory.mktemp("app")) / "app-password")


def test_the_app_role_is_not_superuser_and_owns_nothing(app: str) -> None:
    with psycopg.connect(app) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == APP_ROLE
        assert c.execute("SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication"
                         " FROM pg_roles WHERE rolname = current_user").fetchone()[0] is False
        owned = c.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                          " WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = current_user").fetchone()[0]
        functions = c.execute("SELECT count(*) FROM pg_proc WHERE pg_get_userbyid(proowner) = current_user").fetchone()[0]
    assert owned == functions == 0


@pytest.mark.parametrize("statement", BYPASSES)
def test_every_bypass_is_refused(app: str, statement: str) -> None:
    with psycopg.connect(app) as c, pytest.raises((errors.InsufficientPrivilege, errors.RaiseException)):
        c.execute(statement)


def test_the_record_still_refuses_changes_after_the_attempts(own_region: str, app: str) -> None:
    with psycopg.connect(own_region) as c:
        triggers = c.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'append_only_row'"
                             " AND tgenabled = 'O'").fetchone()[0]
        assert c.execute("SELECT to_regclass('shadow')").fetchone()[0] is None
    assert triggers >= 10


def test_the_journal_works_as_the_app_role(own_region: str, app: str) -> None:
    with psycopg.connect(own_region) as c:
        user_id, name = c.execute("SELECT id, full_name FROM staff WHERE username = 'lakare'").fetchone()
        units = tuple(r[0] for r in c.execute("SELECT unit_id FROM staff_unit WHERE staff_id = %s", (user_id,)))
        patient = c.execute("SELECT patient_id FROM admission_current WHERE discharged_at IS NULL"
                            " AND unit_id = ANY(%s) ORDER BY patient_id LIMIT 1", (list(units),)).fetchone()[0]
    session = Session(user_id, "lakare", name, "physician", units)

    async def run() -> tuple[dict, dict, str]:
        async with AsyncConnectionPool(app, min_size=1, max_size=4, open=False,
                                       kwargs={"options": "-c TimeZone=UTC"}) as pool:
            journal = Journal(pool=pool, audit=AuditWriter(DatabaseSink(pool)))
            note = await journal.write_note(session, patient, notes.NewNote(kind="daganteckning", body="som app"))
            referral = await journal.create_referral(session, patient, referrals.NewReferral(kind="lab", tests="Hb"))
            overview = await journal.overview_json(session, patient)
            return note, referral, overview

    note, referral, overview = asyncio.run(run())
    assert note["body"] == "som app" and referral["order_number"].startswith("LAB-")
    assert str(patient) in overview
