"""The operating-mode write guard on the running journal: reserve routines block writes on the
unit (423 naming the routine), other units keep writing, an override goes through and is audited."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

import pgtools
from obruten.record.status_api import OVERRIDE_COOKIE
from pgtools import Session


def patient_on(client: httpx.Client, unit: str) -> int:
    r = client.get(f"/api/v1/units/{unit}/patients")
    assert r.status_code == 200 and r.json(), f"no patient on {unit}"
    return r.json()[0]["id"]


@pytest.fixture(scope="module")
def doctor(journal_server) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    with pgtools.login(journal_server.base, "lakare") as client:
        assert len(client.units) >= 2
        yield client


def note(text: str) -> dict[str, str]:
    return {"kind": "daganteckning", "body": text}


def count_notes(url: str, text: str) -> int:
    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM note WHERE body = %s", (text,)).fetchone()[0]


def test_reserve_routine_blocks_the_unit_but_not_another(journal_server, publisher, doctor) -> None:
    blocked_unit, open_unit = doctor.units[:2]
    publisher.push("storning", headline="Journalen långsam", unit_modes={blocked_unit: "reservrutin"},
                   routine="Pappersjournal, blankett RR-1 i avdelningens pärm")
    text = "Skriven under reservrutin, ska nekas"
    r = doctor.post(f"/api/v1/patients/{patient_on(doctor, blocked_unit)}/notes", json=note(text))
    assert r.status_code == 423, r.text
    assert "Pappersjournal, blankett RR-1" in r.json()["error"]
    assert r.json()["details"]["unit"] == blocked_unit
    assert count_notes(journal_server.db_url, text) == 0
    with psycopg.connect(journal_server.db_url) as c:  # the refusal itself is audited
        refused = c.execute("SELECT actor, detail->>'unit' FROM audit_event WHERE action = 'write_refused_reservrutin'"
                            " ORDER BY id DESC LIMIT 1").fetchone()
    assert refused == ("lakare", blocked_unit)

    other = "Skriven på en enhet i störningsläge, tillåten"
    r = doctor.post(f"/api/v1/patients/{patient_on(doctor, open_unit)}/notes", json=note(other))
    assert r.status_code == 201, r.text
    assert count_notes(journal_server.db_url, other) == 1


def test_region_wide_reserve_routine_blocks_every_unit(journal_server, publisher, doctor) -> None:
    publisher.push("reservrutin", headline="Journalen nere", routine="Regional reservrutin R-1")
    for unit in doctor.units[:2]:
        r = doctor.post(f"/api/v1/patients/{patient_on(doctor, unit)}/notes", json=note("nekas"))
        assert r.status_code == 423 and "Regional reservrutin R-1" in r.json()["error"]
    publisher.push("efterregistrering", headline="Journalen uppe igen, efterregistrera")
    r = doctor.post(f"/api/v1/patients/{patient_on(doctor, doctor.units[0])}/notes",
                    json=note("Efterregistrerad anteckning"))
    assert r.status_code == 201, r.text


def test_override_with_a_reason_is_let_through_and_audited(journal_server, publisher, doctor, login) -> None:
    unit = doctor.units[0]
    doc = publisher.push("normal", headline="Avdelningen på reservrutin", unit_modes={unit: "reservrutin"},
                         routine="RR-1")
    patient = patient_on(doctor, unit)
    text = "Akut ordination under reservrutin"
    reason = "Akut läge, pappersblanketterna slut"
    r = doctor.post(f"/api/v1/patients/{patient}/notes", json=note(text),
                    headers={"X-Override-Reason": reason.replace("ä", "%C3%A4")})
    assert r.status_code == 201, r.text
    with psycopg.connect(journal_server.db_url) as c:
        row = c.execute("SELECT actor, purpose, detail FROM audit_event WHERE action = 'write_during_reservrutin'"
                        " ORDER BY id DESC LIMIT 1").fetchone()
    assert row[0] == "lakare" and row[1] == "vård" and row[2]["reason"] == reason
    assert row[2]["unit"] == unit and row[2]["status_version"] == doc.version

    nurse = login(journal_server.base, "sjukskoterska")
    r = nurse.post(f"/api/v1/patients/{patient_on(nurse, nurse.units[0])}/notes", json=note("nekas"),
                   headers={"X-Override-Reason": reason.replace("ä", "a")})
    assert nurse.units[0] == unit  # the demo nurse works on the doctor's first unit
    assert r.status_code == 423  # nurses may not override: the routine applies to them


def test_ui_refuses_with_the_routine_and_override_form_lets_the_doctor_through(journal_server, publisher,
                                                                                 doctor, http) -> None:
    unit = doctor.units[0]
    publisher.push("normal", headline="Avdelningen på reservrutin", unit_modes={unit: "reservrutin"},
                   routine="Blankett RR-7")
    patient = patient_on(doctor, unit)
    web = http(journal_server.base)
    login_page = web.get("/login")
    assert 'id="status-banner"' in login_page.text and "Blankett RR-7" in login_page.text
    csrf = login_page.text.split('name="csrf" value="')[1].split('"')[0]
    r = web.post("/login", data={"username": "lakare", "password": "demo", "csrf": csrf, "next": "/"})
    assert r.status_code == 303
    form = web.get(f"/patients/{patient}/note/new")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    text = "Anteckning via formuläret under reservrutin"
    r = web.post(f"/patients/{patient}/notes", data={"csrf": csrf, "kind": "daganteckning", "body": text},
                 headers={"referer": f"{journal_server.base}/patients/{patient}/note/new"})
    assert r.status_code == 423 and "Blankett RR-7" in r.text and 'id="override-form"' in r.text
    assert "Reservrutin gäller för" in r.text
    web.cookies.set("lang", "en")
    r = web.post(f"/patients/{patient}/notes", data={"csrf": csrf, "kind": "daganteckning", "body": text})
    assert r.status_code == 423 and "Follow the routine: Blankett RR-7" in r.text
    web.cookies.set("lang", "sv")
    r = web.post("/status/override", data={"csrf": csrf, "reason": "Akut, ingen blankett",
                                           "back": f"/patients/{patient}/note/new"})
    assert r.status_code == 303 and OVERRIDE_COOKIE in r.cookies
    r = web.post(f"/patients/{patient}/notes", data={"csrf": csrf, "kind": "daganteckning", "body": text})
    assert r.status_code == 303, r.text
    assert count_notes(journal_server.db_url, text) == 1


def test_pushes_are_checked(journal_server, publisher, status_key, tmp_path) -> None:
    from obruten.platform.signing import load_or_create_key

    from .conftest import make_doc

    doc = publisher.push("storning", headline="Test")
    again = httpx.post(journal_server.base + "/api/v1/status", json={"document": doc.as_dict()})
    assert again.status_code == 200 and again.json()["already_held"]  # a retried push is not an error
    held = publisher.current_version()
    old = make_doc(status_key, held, "normal")
    assert httpx.post(journal_server.base + "/api/v1/status", json=old.as_dict()).status_code == 409
    stranger = make_doc(load_or_create_key(tmp_path / "x.pem"), held + 1, "normal")
    assert httpx.post(journal_server.base + "/api/v1/status", json=stranger.as_dict()).status_code == 403
    assert httpx.post(journal_server.base + "/api/v1/status", json={"mode": "normal"}).status_code == 422
    assert publisher.current_version() == held
