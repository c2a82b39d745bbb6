"""ADT over the real API: admit (also under a reserve number), transfer, discharge, merge; the ward
list, access scope and ward kit follow at once; every act audited. Corrections by their author and
note kinds by role. Each test discharges whom it admitted (the region is shared)."""

from __future__ import annotations

import asyncio
import re
from datetime import date

import psycopg
import pytest

from obruten.record import personal_number
from obruten.record.schema import app_url
from obruten.wardkit import content
from pgtools import login


def unadmitted_patient(url: str, exclude: tuple[int, ...] = ()) -> tuple[int, str]:
    """A patient with a personal number and no admission at all (no care relation anywhere)."""
    with psycopg.connect(url) as c:
        row = c.execute("SELECT id, personal_number FROM patient p WHERE NOT p.reserve AND p.id <> ALL(%s)"
                        " AND NOT EXISTS (SELECT 1 FROM admission a WHERE a.patient_id = p.id) ORDER BY id LIMIT 1",
                        (list(exclude),)).fetchone()
    return row[0], row[1]


def audited(url: str, patient: int, action: str) -> int:
    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM audit_event WHERE patient_id = %s AND action = %s",
                         (patient, action)).fetchone()[0]


def kit_patients(url: str, unit: str) -> set[int]:
    async def read() -> set[int]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            kit = await content.unit_kit_data(conn, unit)
        return {p["id"] for p in kit["patients"]}
    return asyncio.run(read())


def test_unidentified_patient_admitted_under_a_reserve_number_shows_everywhere(journal_server, nurse, doctor):
    unit = nurse.units[0]
    r = nurse.post("/api/v1/admissions", json={"unit_id": unit, "unidentified": True, "sex": "M", "birth_year": 1960,
                                               "cause": "Medvetslös, hittad på gatan"})
    assert r.status_code == 201, r.text
    patient = r.json()["patient"]
    pid = patient["id"]
    assert personal_number.is_reserve(patient["personal_number"]) and patient["reserve"]
    assert patient["unit_id"] == unit and patient["age"] >= 60 and patient["sex"] == "M"
    assert audited(journal_server.db_url, pid, "admit") == 1
    # the ward list, the nurse's access and the ward kit follow at once
    assert pid in {p["id"] for p in nurse.get(f"/api/v1/units/{unit}/patients").json()}
    assert nurse.get(f"/api/v1/patients/{pid}").status_code == 200
    assert pid in kit_patients(journal_server.db_url, unit)
    # a second admission of the same patient is refused: transfer instead
    again = nurse.post("/api/v1/admissions", json={"unit_id": unit, "personal_number": patient["personal_number"],
                                                   "cause": "igen"})
    assert again.status_code == 409
    # transfer to the doctor's other ward: the nurse's ward list no longer has him, the other has
    other = next(u for u in doctor.units if u != unit)
    moved = doctor.post(f"/api/v1/patients/{pid}/transfer", json={"to_unit": other, "note": "IVA-plats"})
    assert moved.status_code == 201, moved.text
    assert moved.json()["patient"]["unit_id"] == other
    assert pid not in {p["id"] for p in nurse.get(f"/api/v1/units/{unit}/patients").json()}
    assert pid in {p["id"] for p in doctor.get(f"/api/v1/units/{other}/patients").json()}
    assert pid in kit_patients(journal_server.db_url, other) and pid not in kit_patients(journal_server.db_url, unit)
    # the nurse does not work on the new ward: she cannot discharge from it
    assert nurse.post(f"/api/v1/patients/{pid}/discharge", json={}).status_code == 403
    out = doctor.post(f"/api/v1/patients/{pid}/discharge", json={"note": "hem"})
    assert out.status_code == 201 and out.json()["admission"]["discharged_at"]
    assert pid not in {p["id"] for p in doctor.get(f"/api/v1/units/{other}/patients").json()}
    kinds = [e["kind"] for e in doctor.get(f"/api/v1/patients/{pid}/movements").json()["movements"]]
    assert kinds == ["discharge", "transfer", "admit"]
    assert audited(journal_server.db_url, pid, "transfer") == 1 and audited(journal_server.db_url, pid, "discharge") == 1


def test_reserve_number_merged_into_the_real_identity_keeps_every_entry(journal_server, nurse):
    unit = nurse.units[0]
    reserve = nurse.post("/api/v1/admissions", json={"unit_id": unit, "unidentified": True, "sex": "F",
                                                     "birth_year": 1990, "cause": "Trauma"}).json()["patient"]
    note = nurse.post(f"/api/v1/patients/{reserve['id']}/notes", json={"kind": "omvardnad", "body": "Vaken, orienterad."})
    assert note.status_code == 201, note.text
    real_id, real_pn = unadmitted_patient(journal_server.db_url)
    # before the merge the real patient is outside the nurse's units
    assert nurse.get(f"/api/v1/patients/{real_id}").status_code == 403
    bad = nurse.post(f"/api/v1/patients/{reserve['id']}/merge", json={"personal_number": real_pn})
    assert bad.status_code == 422  # a merge needs a reason
    done = nurse.post(f"/api/v1/patients/{reserve['id']}/merge",
                      json={"personal_number": real_pn, "reason": "Identifierad av anhörig"})
    assert done.status_code == 201, done.text
    assert done.json()["patient"]["personal_number"] == real_pn
    assert reserve["personal_number"] in done.json()["patient"]["merged_from"]
    overview = nurse.get(f"/api/v1/patients/{real_id}").json()
    assert "Vaken, orienterad." in [n["body"] for n in overview["notes"]]
    assert overview["patient"]["unit_id"] == unit
    # the old number resolves to the merged patient; the merge is audited under both numbers
    with login(journal_server.base, "sjukskoterska") as web:
        found = web.get(f"/search?personal_number={reserve['personal_number']}", follow_redirects=False)
    assert found.headers["location"] == f"/patients/{real_id}"
    assert nurse.get(f"/api/v1/patients/{reserve['id']}").json()["patient"]["id"] == real_id
    assert audited(journal_server.db_url, reserve["id"], "merge_identity") == 1
    assert audited(journal_server.db_url, real_id, "merge_identity") == 1
    again = nurse.post(f"/api/v1/patients/{reserve['id']}/merge", json={"personal_number": real_pn, "reason": "igen"})
    assert again.status_code in (403, 409)
    # the journal's own role cannot forge a merge, nor move an entry outside one (the owner cannot either)
    as_app = app_url(journal_server.db_url, journal_server.var_dir / "app-password")
    with psycopg.connect(as_app) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute("INSERT INTO patient_merge (from_patient, into_patient, merged_by, reason)"
                  " VALUES (%s, %s, 1, 'förfalskad')", (real_id, reserve["id"]))
    with psycopg.connect(journal_server.db_url) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute("UPDATE note SET patient_id = %s WHERE patient_id = %s", (reserve["id"], real_id))
    assert nurse.post(f"/api/v1/patients/{real_id}/discharge", json={}).status_code == 201


def test_admission_refusals_are_clear_and_write_nothing(journal_server, nurse, doctor):
    unit = nurse.units[0]
    foreign = next(u for u in doctor.units if u not in nurse.units)
    cases = [
        ({"unit_id": foreign, "unidentified": True, "sex": "F", "birth_year": 1950, "cause": "x" * 5}, 403),
        ({"unit_id": unit, "unidentified": True, "cause": "utan kön"}, 422),
        ({"unit_id": unit, "personal_number": "19800101-1234", "unidentified": True, "cause": "båda"}, 422),
        ({"unit_id": unit, "personal_number": "19800231-1234", "cause": "ogiltigt datum"}, 422),
        ({"unit_id": unit, "personal_number": personal_number.make(date(1901, 1, 1), 1), "cause": "utan namn"}, 404),
    ]
    with psycopg.connect(journal_server.db_url) as c:
        before = c.execute("SELECT (SELECT count(*) FROM patient), (SELECT count(*) FROM adt_event)").fetchone()
    for body, status in cases:
        r = nurse.post("/api/v1/admissions", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]
    with psycopg.connect(journal_server.db_url) as c:
        after = c.execute("SELECT (SELECT count(*) FROM patient), (SELECT count(*) FROM adt_event)").fetchone()
    assert after == before
    with login(journal_server.base, "admin") as admin:
        r = admin.post("/api/v1/admissions", json={"unit_id": unit, "unidentified": True, "sex": "X",
                                                   "birth_year": 1970, "cause": "admin"})
        assert r.status_code == 403


def test_only_the_author_corrects_a_note_and_kinds_follow_the_role(journal_server, nurse, doctor):
    unit = nurse.units[0]
    # the ward's last patient: the first is the demo case whose admission note another test reads
    patient = nurse.get(f"/api/v1/units/{unit}/patients").json()[-1]["id"]
    assert nurse.post(f"/api/v1/patients/{patient}/notes", json={"kind": "inskrivning", "body": "x"}).status_code == 403
    written = doctor.post(f"/api/v1/patients/{patient}/notes",
                          json={"kind": "inskrivning", "body": "Inskriven för pneumoni.", "unit_id": unit})
    assert written.status_code == 201, written.text
    entry = written.json()["entry_id"]
    r = nurse.post(f"/api/v1/notes/{entry}/corrections", json={"body": "Ändrad av annan", "reason": "fel"})
    assert r.status_code == 403 and "write a new note" in r.json()["error"]
    with login(journal_server.base, "admin") as admin:
        assert admin.post(f"/api/v1/notes/{entry}/corrections", json={"body": "admin", "reason": "fel"}).status_code == 403
    assert doctor.post(f"/api/v1/notes/{entry}/corrections",
                       json={"body": "Inskriven för pneumoni, höger.", "reason": "sida"}).status_code == 201
    mine = next(n for n in doctor.get(f"/api/v1/patients/{patient}").json()["notes"] if n["entry_id"] == entry)
    assert mine["author"] == "Lisa Läkare" and mine["version"] == 2
    # a seeded stay (admitted before ADT events existed) still shows in the movements
    assert "admit" in [e["kind"] for e in nurse.get(f"/api/v1/patients/{patient}/movements").json()["movements"]]
    banner = nurse.get(f"/api/v1/patients/{patient}/banner").json()["patient"]
    assert banner["unit_id"] == unit and "warnings" in banner and banner["hospital_name"]


def test_a_bad_form_comes_back_422_in_the_users_language_with_what_was_typed(journal_server, nurse):
    patient = nurse.get(f"/api/v1/units/{nurse.units[0]}/patients").json()[0]["id"]
    with login(journal_server.base, "sjukskoterska", app="web") as web:
        form = web.get(f"/patients/{patient}/note/new")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        typed = {"csrf": csrf, "kind": "omvardnad", "title": "Nattens <b>förlopp</b>", "body": "",
                 "clinical_at": "2026-01-01T25:99"}
        r = web.post(f"/patients/{patient}/notes", data=typed)
        assert r.status_code == 422
        assert 'id="f-body-error"' in r.text and 'aria-describedby="f-body-error"' in r.text
        assert 'id="f-clinical_at-error"' in r.text
        assert 'value="Nattens &lt;b&gt;förlopp&lt;/b&gt;"' in r.text  # kept, and escaped
        assert "Formuläret sparades inte" in r.text and "Value error" not in r.text
        assert 'id="patient-banner"' in r.text
        web.cookies.set("lang", "en")
        r = web.post(f"/patients/{patient}/notes", data={**typed, "kind": "epikris", "body": "Text", "clinical_at": ""})
        assert r.status_code == 403 and "Your profession does not write that kind of note" in r.text
        assert 'id="f-kind-error"' in r.text
