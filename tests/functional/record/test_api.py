"""The JSON API against a real PostgreSQL and a seeded region, over real HTTP."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
import psycopg
import pytest

from obruten.platform.i18n import STOCKHOLM
from pgtools import login

ENTRY_TABLES = ("note", "medication_order", "medication_administration", "referral", "referral_result")


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as c:
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ENTRY_TABLES}




@pytest.fixture(scope="module")
def admin(journal_server):
    with login(journal_server.base, "admin") as client:
        yield client


def my_patient(client: httpx.Client) -> int:
    me_units = [u for u in client.get("/api/v1/units").json() if u["admitted"] > 0]
    for u in me_units:
        r = client.get(f"/api/v1/units/{u['id']}/patients")
        if r.status_code == 200 and r.json():
            return r.json()[0]["id"]
    raise AssertionError("no admitted patient on the user's units")


def outsider(url: str, units: list[str]) -> int:
    """A patient with no admission on any of ``units``."""
    with psycopg.connect(url) as c:
        return c.execute("SELECT p.id FROM patient p WHERE NOT EXISTS (SELECT 1 FROM admission a WHERE a.patient_id = p.id"
                         " AND a.unit_id = ANY(%s)) ORDER BY p.id LIMIT 1", (units,)).fetchone()[0]


def test_login_rejects_wrong_password_and_unknown_user(journal_server):
    with httpx.Client(base_url=journal_server.base) as c:
        assert c.post("/api/v1/login", json={"username": "lakare", "password": "fel"}).status_code == 401
        assert c.post("/api/v1/login", json={"username": "ingen", "password": "demo"}).status_code == 401
        assert c.get("/api/v1/units").status_code == 401


def test_openapi_covers_the_documented_endpoints(journal_server):
    paths = httpx.get(journal_server.base + "/api/v1/openapi.json").json()["paths"]
    for path in ["/api/v1/login", "/api/v1/units", "/api/v1/units/{unit}/patients", "/api/v1/patients/{patient}",
                 "/api/v1/patients/{patient}/notes", "/api/v1/patients/{patient}/medication-orders",
                 "/api/v1/medication-orders/{order}/administrations", "/api/v1/patients/{patient}/referrals",
                 "/api/v1/referrals/{order_number}/results", "/api/v1/patients/{patient}/access-log",
                 "/api/v1/health"]:
        assert path in paths, path


def test_health(journal_server):
    r = httpx.get(journal_server.base + "/api/v1/health")
    assert r.status_code == 200 and r.json()["database"] == "read-write"


def test_ward_list_and_overview_are_audited(journal_server, doctor):
    patient = my_patient(doctor)
    r = doctor.get(f"/api/v1/patients/{patient}")
    assert r.status_code == 200
    body = r.json()
    assert body["patient"]["id"] == patient
    assert {"warnings", "medications", "notes", "results", "open_referrals", "admission"} <= set(body)
    with psycopg.connect(journal_server.db_url) as c:
        row = c.execute("SELECT actor, action, purpose, detail->>'basis' FROM audit_event WHERE patient_id = %s"
                        " ORDER BY id DESC LIMIT 1", (patient,)).fetchone()
    assert row == ("lakare", "read", "vård", "care_relation")


def test_ward_list_of_a_foreign_unit_is_refused(journal_server, nurse):
    with psycopg.connect(journal_server.db_url) as c:
        foreign = c.execute("SELECT id FROM care_unit WHERE id NOT IN (SELECT unit_id FROM staff_unit su JOIN staff s"
                            " ON s.id = su.staff_id WHERE s.username = 'sjukskoterska') LIMIT 1").fetchone()[0]
    assert nurse.get(f"/api/v1/units/{foreign}/patients").status_code == 403


def test_emergency_access_needs_a_reason_and_is_logged_for_admins(journal_server, nurse, admin):
    units = [u for u in nurse.get("/api/v1/units").json()]
    mine = [u["id"] for u in units if nurse.get(f"/api/v1/units/{u['id']}/patients").status_code == 200]
    patient = outsider(journal_server.db_url, mine)
    r = nurse.get(f"/api/v1/patients/{patient}")
    assert r.status_code == 403 and "emergency" in r.json()["error"]
    assert nurse.post(f"/api/v1/patients/{patient}/emergency-access", json={"reason": "x"}).status_code == 422
    r = nurse.post(f"/api/v1/patients/{patient}/emergency-access", json={"reason": "Medvetslös i akutrummet"})
    assert r.status_code == 201
    assert nurse.get(f"/api/v1/patients/{patient}").status_code == 200
    log = admin.get(f"/api/v1/patients/{patient}/access-log")
    assert log.status_code == 200
    actions = [(e["actor"], e["action"]) for e in log.json()]
    assert ("sjukskoterska", "emergency_access") in actions and ("sjukskoterska", "read") in actions
    assert any(e["detail"].get("basis") == "emergency" for e in log.json())
    assert nurse.get(f"/api/v1/patients/{patient}/access-log").status_code == 403


def test_note_write_correct_and_history(journal_server, nurse):
    patient = my_patient(nurse)
    r = nurse.post(f"/api/v1/patients/{patient}/notes", json={"kind": "omvardnad", "body": "Sovit gott."})
    assert r.status_code == 201, r.text
    entry = r.json()["entry_id"]
    overview = nurse.get(f"/api/v1/patients/{patient}").json()
    assert any(n["entry_id"] == entry and n["body"] == "Sovit gott." for n in overview["notes"])
    fix = nurse.post(f"/api/v1/notes/{entry}/corrections", json={"body": "Sovit oroligt.", "reason": "Fel patientuppgift"})
    assert fix.status_code == 201 and fix.json()["version"] == 2
    history = nurse.get(f"/api/v1/entries/note/{entry}/history").json()
    assert [v["body"] for v in history] == ["Sovit gott.", "Sovit oroligt."]
    assert history[1]["supersedes"] == history[0]["id"] and history[1]["reason"] == "Fel patientuppgift"
    stale = nurse.post(f"/api/v1/notes/{entry}/corrections",
                       json={"body": "x", "reason": "igen", "expected_version": 1})
    assert stale.status_code == 409


def test_medication_order_administer_stop(journal_server, doctor, nurse):
    patient = my_patient(nurse)
    slot = (datetime.now(STOCKHOLM) - timedelta(minutes=30)).replace(second=0, microsecond=0)
    order = {"drug": "Alvedon", "substance": "paracetamol", "form": "tablett", "strength": "500 mg", "dose": "1 g",
             "route": "po", "frequency": "x 1", "times": [slot.strftime("%H:%M")],
             "start_at": (slot - timedelta(days=1)).isoformat()}
    assert nurse.post(f"/api/v1/patients/{patient}/medication-orders", json=order).status_code == 403
    r = doctor.post(f"/api/v1/patients/{patient}/medication-orders", json=order)
    assert r.status_code == 201, r.text
    entry = r.json()["entry_id"]
    given = nurse.post(f"/api/v1/medication-orders/{entry}/administrations",
                       json={"outcome": "given", "slot_at": slot.isoformat()})
    assert given.status_code == 201 and given.json()["dose_given"] == "1 g"
    missing_reason = nurse.post(f"/api/v1/medication-orders/{entry}/administrations", json={"outcome": "not_given"})
    assert missing_reason.status_code == 422
    stop = doctor.post(f"/api/v1/medication-orders/{entry}/stop", json={"reason": "Utsatt, ej längre indikation"})
    assert stop.status_code == 201 and stop.json()["version"] == 2
    meds = nurse.get(f"/api/v1/patients/{patient}").json()["medications"]
    assert entry not in [m["entry_id"] for m in meds]
    after = nurse.post(f"/api/v1/medication-orders/{entry}/administrations",
                       json={"outcome": "given", "slot_at": slot.isoformat()})
    assert after.status_code == 422


def test_referral_gets_an_order_number_and_a_result(journal_server, doctor):
    patient = my_patient(doctor)
    r = doctor.post(f"/api/v1/patients/{patient}/referrals", json={"kind": "lab", "tests": "Hb, CRP"})
    assert r.status_code == 201, r.text
    number = r.json()["order_number"]
    assert re.fullmatch(r"LAB-\d+[A-HJ-NP-R]{6}-\d{7}", number)
    assert any(f["order_number"] == number for f in doctor.get(f"/api/v1/patients/{patient}").json()["open_referrals"])
    res = doctor.post(f"/api/v1/referrals/{number}/results", json={"text": "Hb 132, CRP <5"})
    assert res.status_code == 201
    overview = doctor.get(f"/api/v1/patients/{patient}").json()
    assert any(x["order_number"] == number for x in overview["results"])
    assert all(f["order_number"] != number for f in overview["open_referrals"])


def test_bad_input_is_refused_and_writes_nothing(journal_server, doctor):
    patient = my_patient(doctor)
    before = counts(journal_server.db_url)
    url = f"/api/v1/patients/{patient}/notes"
    cases = [
        doctor.post("/api/v1/patients/999999999/notes", json={"kind": "telefon", "body": "x"}),       # unknown patient
        doctor.post(url, content=b'{"kind": "telefon", "body": ', headers={"content-type": "application/json"}),
        doctor.post(url, json={"kind": "telefon", "body": "x" * 70_000}),                              # oversized
        doctor.post(url, json={"kind": 5, "body": ["not", "text"]}),                                   # wrong types
        doctor.post(url, json={"kind": "telefon", "body": "x", "unexpected": 1}),                      # unknown field
        doctor.post("/api/v1/referrals/LAB-1-9999999/results", json={"text": "svar"}),                 # no referral
        doctor.post(f"/api/v1/patients/{patient}/medication-orders",
                    json={"drug": "X", "substance": "x", "form": "tablett", "strength": "1", "dose": "1",
                          "route": "po", "frequency": "x1"}),  # no times
        doctor.get("/api/v1/patients/abc"),
    ]
    statuses = [r.status_code for r in cases]
    assert statuses == [404, 422, 413, 422, 422, 404, 422, 422], [r.text for r in cases]
    for r in cases:
        assert r.json()["error"]
    assert counts(journal_server.db_url) == before
