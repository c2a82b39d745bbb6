"""Scope and the rest of the audit: where an entry may be booked, who may search by personal number,
admin changes through the services, and a refusal that does not name another unit's patient."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from obruten.platform.auth import Session
from obruten.platform.errors import DomainError, Forbidden, NeedsEmergencyAccess
from obruten.record import notes
from obruten.record.audit import AuditWriter, DatabaseSink
from obruten.record.service import Journal
from pgtools import seeded_database


@pytest.fixture(scope="module")
def own_region(pg) -> str:  # type: ignore[no-untyped-def]
    """This module writes many entries: its own region, so the shared one stays as other tests expect."""
    return seeded_database(pg, "scope")


def session_of(url: str, username: str) -> Session:
    with psycopg.connect(url) as c:
        user_id, name, role = c.execute("SELECT id, full_name, role FROM staff WHERE username = %s",
                                        (username,)).fetchone()
        units = tuple(r[0] for r in c.execute("SELECT unit_id FROM staff_unit WHERE staff_id = %s", (user_id,)))
    return Session(user_id, username, name, role, units)


def with_journal(url: str, work: Callable[[Journal], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        async with AsyncConnectionPool(url, min_size=1, max_size=4, open=False,
                                       kwargs={"options": "-c TimeZone=UTC"}) as pool:
            return await work(Journal(pool=pool, audit=AuditWriter(DatabaseSink(pool))))

    return asyncio.run(run())


def last_event(url: str, action: str) -> tuple:
    with psycopg.connect(url) as c:
        return c.execute("SELECT actor, patient_id, purpose, detail FROM audit_event WHERE action = %s"
                         " ORDER BY id DESC LIMIT 1", (action,)).fetchone()


def admitted(url: str, units: tuple[str, ...], inside: bool) -> tuple[int, str]:
    """An admitted patient on one of ``units`` (inside) or on none of them, and their ward."""
    with psycopg.connect(url) as c:
        return c.execute("SELECT patient_id, unit_id FROM admission_current WHERE discharged_at IS NULL"
                         f" AND {'' if inside else 'NOT'} (unit_id = ANY(%s)) ORDER BY patient_id LIMIT 1",
                         (list(units),)).fetchone()


def test_an_entry_is_booked_only_to_the_authors_unit_or_the_patients_ward(own_region: str) -> None:
    nurse = session_of(own_region, "sjukskoterska")
    patient, ward = admitted(own_region, nurse.units, inside=True)
    with psycopg.connect(own_region) as c:
        elsewhere = c.execute("SELECT id FROM care_unit WHERE id <> ALL(%s) AND id <> %s LIMIT 1",
                              (list(nurse.units), ward)).fetchone()[0]

    def note(unit: str | None) -> notes.NewNote:
        return notes.NewNote(kind="omvardnad", body="bokad enhet", unit_id=unit)

    with pytest.raises(Forbidden, match=f"do not work on unit {elsewhere}"):
        with_journal(own_region, lambda j: j.write_note(nurse, patient, note(elsewhere)))
    assert with_journal(own_region, lambda j: j.write_note(nurse, patient, note(ward)))["unit_id"] == ward
    assert with_journal(own_region, lambda j: j.write_note(nurse, patient, note(None)))["unit_id"] == ward


def test_personal_number_search_is_scoped_by_role_and_audited(own_region: str) -> None:
    with psycopg.connect(own_region) as c:
        patient, number = c.execute("SELECT id, personal_number FROM patient ORDER BY id LIMIT 1").fetchone()
    doctor, admin, it = (session_of(own_region, u) for u in ("lakare", "admin", "it"))
    assert with_journal(own_region, lambda j: j.find_patient(doctor, number)) == patient
    actor, patient_id, purpose, detail = last_event(own_region, "search_personal_number")
    assert (actor, patient_id, purpose, detail["found"]) == ("lakare", patient, "vård", True)
    assert number not in str(detail)  # the number searched for is not logged
    assert with_journal(own_region, lambda j: j.find_patient(admin, number)) == patient
    assert last_event(own_region, "search_personal_number")[2] == "tillsyn"
    with pytest.raises(Forbidden):
        with_journal(own_region, lambda j: j.find_patient(it, number))


def test_admin_changes_go_through_the_service_and_are_audited(own_region: str) -> None:
    admin, doctor = session_of(own_region, "admin"), session_of(own_region, "lakare")
    user_id = with_journal(own_region, lambda j: j.create_user(admin, "ny.kollega", "Ny Kollega", "nurse", "hemligt1",
                                                              list(doctor.units[:1])))
    actor, _, purpose, detail = last_event(own_region, "admin_create_user")
    assert (actor, purpose, detail["user"], detail["role"]) == ("admin", "administration", user_id, "nurse")
    assert "hemligt1" not in str(detail)
    with_journal(own_region, lambda j: j.set_user_active(admin, user_id, False))
    assert last_event(own_region, "admin_set_active")[3] == {"user": user_id, "active": False}
    with pytest.raises(Forbidden):
        with_journal(own_region, lambda j: j.set_user_active(doctor, user_id, True))
    with pytest.raises(Forbidden):
        with_journal(own_region, lambda j: j.staff_listing(doctor))


def test_a_refused_entry_does_not_name_another_units_patient(own_region: str) -> None:
    nurse = session_of(own_region, "sjukskoterska")
    patient, _ = admitted(own_region, nurse.units, inside=False)
    with psycopg.connect(own_region) as c:
        entry = c.execute("SELECT entry_id FROM note WHERE patient_id = %s LIMIT 1", (patient,)).fetchone()[0]
    with pytest.raises(DomainError) as refused:
        with_journal(own_region, lambda j: j.history(nurse, "note", entry))
    assert not isinstance(refused.value, NeedsEmergencyAccess)
    assert refused.value.status == 403 and "patient_id" not in refused.value.details
    assert str(patient) not in refused.value.message
