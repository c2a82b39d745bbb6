"""Medication safety over the API (issue 14): a slot signed twice, a PRN dose beyond its maximum,
an order matching an allergy, "x 3" with one time, stopping with a reason and the Utsatta list,
a resent form. Against a real journal and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import psycopg

from obruten.platform.i18n import STOCKHOLM


def _patient(client, index: int = 0) -> int:
    for u in client.get("/api/v1/units").json():
        r = client.get(f"/api/v1/units/{u['id']}/patients")
        if r.status_code == 200 and len(r.json()) > index:
            return r.json()[index]["id"]
    raise AssertionError("no admitted patient on the user's units")


def penicillin_allergic(url: str) -> int:
    """A patient on the demo nurse's ward with a recorded penicillin allergy (devtools.seed makes one)."""
    with psycopg.connect(url) as c:
        row = c.execute("SELECT w.patient_id FROM warning_current w JOIN admission_current a"
                        " ON a.patient_id = w.patient_id AND a.discharged_at IS NULL"
                        " JOIN staff_unit su ON su.unit_id = a.unit_id JOIN staff s ON s.id = su.staff_id"
                        " WHERE s.username = 'sjukskoterska' AND w.active AND w.text ILIKE '%penicillin%'"
                        " ORDER BY w.patient_id LIMIT 1").fetchone()
    assert row, "the demo ward has a patient with a penicillin allergy (devtools.seed)"
    return row[0]


def _slot(minutes_ago: int = 20) -> datetime:
    return (datetime.now(STOCKHOLM) - timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)


def _order(doctor, patient: int, **over) -> dict:
    slot = _slot()
    body = {"drug": "Furix", "substance": "furosemid", "form": "tablett", "strength": "40 mg", "dose": "40 mg",
            "route": "po", "frequency": "x 1", "times": [slot.strftime("%H:%M")],
            "start_at": (slot - timedelta(days=1)).isoformat(), **over}
    r = doctor.post(f"/api/v1/patients/{patient}/medication-orders", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_slot_signed_twice_is_refused_without_a_reason(doctor, nurse) -> None:
    patient = _patient(nurse)
    order, slot = _order(doctor, patient), _slot()
    url = f"/api/v1/medication-orders/{order['entry_id']}/administrations"
    assert nurse.post(url, json={"outcome": "given", "slot_at": slot.isoformat()}).status_code == 201
    again = nurse.post(url, json={"outcome": "given", "slot_at": slot.isoformat()}, headers={"accept-language": "sv"})
    assert again.status_code == 409
    assert "redan signerad" in again.json()["error"] and again.json()["problems"][0].startswith("confirm_reason:")
    ok = nurse.post(url, json={"outcome": "given", "slot_at": slot.isoformat(), "confirm_reason": "Kräktes upp dosen"})
    assert ok.status_code == 201 and ok.json()["confirm_reason"] == "Kräktes upp dosen"
    listing = nurse.get(f"/api/v1/patients/{patient}/medication-list").json()
    mine = next(m for m in listing["current"] if m["entry_id"] == order["entry_id"])
    assert mine["slots_today"] == [] or mine["slots_today"][0]["state"] == "given"


def test_a_scheduled_dose_needs_its_slot_and_a_plausible_time(doctor, nurse) -> None:
    order = _order(doctor, _patient(nurse))
    url = f"/api/v1/medication-orders/{order['entry_id']}/administrations"
    assert nurse.post(url, json={"outcome": "given"}).status_code == 422
    early = (datetime.now(STOCKHOLM) - timedelta(hours=13)).isoformat()
    r = nurse.post(url, json={"outcome": "given", "slot_at": _slot().isoformat(), "clinical_at": early})
    assert r.status_code == 422 and r.json()["problems"][0].startswith("clinical_at:")


def test_prn_beyond_its_maximum_needs_a_confirmation(doctor, nurse) -> None:
    order = _order(doctor, _patient(nurse), drug="Primperan", substance="metoklopramid", strength="10 mg",
                   dose="10 mg", frequency="vid behov, max x 3", times=[], as_needed=True, prn_max_per_24h=3)
    url = f"/api/v1/medication-orders/{order['entry_id']}/administrations"
    for _ in range(3):
        assert nurse.post(url, json={"outcome": "given"}).status_code == 201
    fourth = nurse.post(url, json={"outcome": "given"})
    assert fourth.status_code == 409 and fourth.json()["problems"][0].startswith("confirm_reason:")
    ok = nurse.post(url, json={"outcome": "given", "confirm_reason": "Fortsatt kraftigt illamående, läkare kontaktad"})
    assert ok.status_code == 201 and ok.json()["confirm_reason"].startswith("Fortsatt")


def test_the_same_submission_writes_one_row(doctor, nurse, journal_server) -> None:
    order = _order(doctor, _patient(nurse), drug="Primperan", substance="metoklopramid", strength="10 mg",
                   dose="10 mg", frequency="vid behov", times=[], as_needed=True, prn_max_per_24h=3)
    url = f"/api/v1/medication-orders/{order['entry_id']}/administrations"
    key = str(uuid.uuid4())
    first, second = (nurse.post(url, json={"outcome": "given", "submission": key}) for _ in range(2))
    assert first.status_code == second.status_code == 201 and first.json()["id"] == second.json()["id"]
    with psycopg.connect(journal_server.db_url) as c:
        assert c.execute("SELECT count(*) FROM medication_administration WHERE submission = %s",
                         (key,)).fetchone()[0] == 1


def test_times_must_match_the_frequency(doctor, nurse) -> None:
    patient = _patient(nurse)
    r = doctor.post(f"/api/v1/patients/{patient}/medication-orders",
                    json={"drug": "Alvedon", "substance": "paracetamol", "form": "tablett", "strength": "500 mg",
                          "dose": "1 g", "route": "po", "frequency": "x 3", "times": ["08:00"]})
    assert r.status_code == 422 and r.json()["problems"][0].startswith("times:")


def test_an_order_matching_an_allergy_needs_a_reason_kept_on_the_order(doctor, nurse, journal_server) -> None:
    patient = penicillin_allergic(journal_server.db_url)
    body = {"drug": "Kåvepenin", "substance": "fenoximetylpenicillin", "form": "tablett", "strength": "1 g",
            "dose": "1 g", "route": "po", "frequency": "x 3", "times": ["08:00", "14:00", "20:00"]}
    url = f"/api/v1/patients/{patient}/medication-orders"
    refused = doctor.post(url, json=body, headers={"accept-language": "en"})
    assert refused.status_code == 409 and "Penicillinallergi" in refused.json()["error"]
    assert refused.json()["details"]["matched_warnings"][0]["matched"] == "penicilliner"
    ok = doctor.post(url, json={**body, "allergy_override_reason": "Tolererat Kåvepenin 2024 enligt infektionsläkare"})
    assert ok.status_code == 201 and ok.json()["allergy_override_reason"].startswith("Tolererat")
    history = doctor.get(f"/api/v1/entries/medication_order/{ok.json()['entry_id']}/history").json()
    assert history[0]["allergy_override_reason"].startswith("Tolererat")


def test_stopping_needs_a_reason_and_lands_in_utsatta(doctor, nurse) -> None:
    patient = _patient(nurse)
    order = _order(doctor, patient)
    url = f"/api/v1/medication-orders/{order['entry_id']}/stop"
    assert doctor.post(url, json={"reason": ""}).status_code == 422
    assert doctor.post(url, json={"reason": "Blodtrycket lågt"}).status_code == 201
    assert doctor.post(url, json={"reason": "igen"}).status_code == 422
    listing = nurse.get(f"/api/v1/patients/{patient}/medication-list").json()
    stopped = next(m for m in listing["stopped"] if m["entry_id"] == order["entry_id"])
    assert stopped["stop_reason"] == "Blodtrycket lågt" and stopped["stopped_by_name"] == "Lisa Läkare"
    assert stopped["substance"] == "furosemid" and stopped["prescriber"] == "Lisa Läkare"
    assert order["entry_id"] not in [m["entry_id"] for m in listing["current"]]
