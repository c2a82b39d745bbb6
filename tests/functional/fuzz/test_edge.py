"""Validation at the edge, one rule at a time, as the fuzzer found each broken (issue 12): control
characters, clinical times, id ranges, unknown units and odd stored values answer 4xx in the one
error shape, in the reader's language, and never a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from obruten.platform import problems
from obruten.platform.fields import BIGINT_MAX

from .fuzzing import Target

pytestmark = pytest.mark.fuzz


@pytest.fixture(scope="module")
def doctor(journal: Target) -> httpx.Client:
    with httpx.Client(base_url=journal.base, headers=journal.headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def patient(journal: Target) -> int:
    return journal.known["patient"][0]


def refused(r: httpx.Response, status: int = 422) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body["error"], str) and isinstance(body["problems"], list)
    return body


def note(**changes: object) -> dict:
    return {"kind": "daganteckning", "body": "Mår bra.", **changes}


@pytest.mark.parametrize("field, value", [
    ("body", "före\x00efter"), ("body", "klocka\x07"), ("title", "två\nrader"), ("title", "nul\x00"),
    ("unit_id", "avd\x00"), ("body", "\x7f"),
])
def test_control_characters_are_refused_in_every_text_field(doctor, patient, field, value) -> None:
    body = refused(doctor.post(f"/api/v1/patients/{patient}/notes", json=note(**{field: value})))
    assert any(p.startswith(field) for p in body["problems"]), body


def test_tab_and_line_breaks_stay_allowed_in_free_text(doctor, patient) -> None:
    r = doctor.post(f"/api/v1/patients/{patient}/notes", json=note(body="Rad ett\n\tindrag\r\nrad tre"))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("clinical_at, problem", [
    ("2026-01-01T10:00:00+16:00", "±14:00"),           # PostgreSQL stores at most ±15:59
    ("2026-01-01T10:00:00", "tidszon"),                # no time zone: whose 10 o'clock?
    ("9999-12-31T23:59:59Z", "1900"),                 # the note that broke a patient's page for good
    ((datetime.now(UTC) + timedelta(hours=1)).isoformat(), "framtiden"),
])
def test_clinical_times_are_bounded(doctor, patient, clinical_at, problem) -> None:
    body = refused(doctor.post(f"/api/v1/patients/{patient}/notes", json=note(clinical_at=clinical_at)))
    assert body["error"].startswith("Ogiltiga uppgifter") and problem in " ".join(body["problems"]), body


def test_a_clinical_time_before_the_patients_birth_is_refused(doctor, patient, fuzz_region) -> None:
    with psycopg.connect(fuzz_region) as c:
        (born,) = c.execute("SELECT birth_date FROM patient WHERE id = %s", (patient,)).fetchone()
    before = datetime(born.year, born.month, born.day, tzinfo=UTC) - timedelta(days=2)
    body = refused(doctor.post(f"/api/v1/patients/{patient}/notes", json=note(clinical_at=before.isoformat())))
    assert body["problems"] == [f"clinical_at: before the patient was born ({born.isoformat()})"]
    after = datetime(born.year, born.month, born.day, tzinfo=UTC) + timedelta(days=2)
    assert doctor.post(f"/api/v1/patients/{patient}/notes", json=note(clinical_at=after.isoformat())).status_code == 201


def test_a_medication_cannot_stop_before_it_starts(doctor, patient) -> None:
    order = {"drug": "Alvedon", "substance": "paracetamol", "form": "tablett", "strength": "500 mg", "dose": "1 g",
             "route": "po", "frequency": "x 1", "times": ["08:00"], "start_at": "2026-01-02T08:00:00+01:00", "stop_at": "2026-01-01T08:00:00+01:00"}
    refused(doctor.post(f"/api/v1/patients/{patient}/medication-orders", json=order))
    refused(doctor.post(f"/api/v1/patients/{patient}/medication-orders", json={**order, "stop_at": None,
                                                                              "times": ["08:00+05:00"]}))


@pytest.mark.parametrize("path", ["/api/v1/patients/{big}", "/api/v1/patients/{big}/access-log",
                                  "/api/v1/patients/0"])
def test_ids_beyond_bigint_are_refused(doctor, path) -> None:
    refused(doctor.get(path.format(big=BIGINT_MAX + 1)))


def test_an_unknown_unit_is_a_client_error(doctor, patient) -> None:
    r = doctor.post(f"/api/v1/patients/{patient}/notes", json=note(unit_id="finns-inte"))
    assert r.status_code in (403, 422) and r.json()["error"], r.text


def test_the_message_follows_the_readers_language(doctor, patient, journal) -> None:
    bad = note(body="\x00")
    assert refused(doctor.post(f"/api/v1/patients/{patient}/notes", json=bad))["error"].startswith("Ogiltiga uppgifter")
    english = doctor.post(f"/api/v1/patients/{patient}/notes", json=bad, headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert refused(english)["error"].startswith("Invalid input") and "control characters" in english.text
    cookie = httpx.post(f"{journal.base}/api/v1/patients/{patient}/notes", json=bad, cookies={"lang": "en"},
                        headers=journal.headers, timeout=30)
    assert refused(cookie)["error"].startswith("Invalid input")


def test_a_stored_value_at_the_edge_of_the_calendar_never_breaks_the_patient_page(doctor, journal, fuzz_region,
                                                                                  db_url) -> None:
    """As a superuser would have stored it before the rules (the models refuse it now): the page
    and the API still answer, showing the time as stored."""
    patient = journal.known["patient"][-1]
    with psycopg.connect(fuzz_region) as c:  # the test server's superuser: past every rule of the app
        unit, signer = c.execute("SELECT a.unit_id, a.signed_by FROM admission_current a WHERE a.patient_id = %s"
                                 " LIMIT 1", (patient,)).fetchone()
        for at in ("9999-12-31 23:59:59+00", "0001-01-01 00:00:00+00"):
            c.execute("INSERT INTO note (patient_id, unit_id, kind, title, body, clinical_at, signed_by)"
                      " VALUES (%s, %s, 'daganteckning', 'Udda tid', 'Lagrad före reglerna.', %s, %s)",
                      (patient, unit, at, signer))
    page = doctor.get(f"/patients/{patient}")
    assert page.status_code == 200 and "Lagrad före reglerna." in page.text and "9999-12-31" in page.text
    api = doctor.get(f"/api/v1/patients/{patient}")
    assert api.status_code == 200 and "9999-12-31" in api.text


def test_database_refusals_map_to_client_errors(fuzz_region) -> None:
    """What gets past the models is still never a 500: the database's own refusals, raised for real."""
    with psycopg.connect(fuzz_region, autocommit=True) as c:
        found = []
        for sql, args in (("INSERT INTO staff_unit (staff_id, unit_id) VALUES (1, 'finns-inte')", ()),  # foreign key
                          ("INSERT INTO care_unit SELECT * FROM care_unit LIMIT 1", ()),                 # unique
                          ("SELECT %s::text", ("före\x00efter",)),                                    # NUL
                          ("SELECT '2026-01-01T00:00:00+16:00'::timestamptz", ())):                # offset
            with pytest.raises(psycopg.Error) as caught:
                c.execute(sql, args or None)
            found.append(problems.database_refusal(caught.value))
    assert [f[0] for f in found] == [422, 409, 422, 422] and all(f[1].startswith("error.") for f in found)
    assert problems.database_refusal(OverflowError("Python int too large to convert to SQLite INTEGER"))[0] == 422
    assert problems.database_refusal(psycopg.OperationalError("the server is gone")) is None


def test_the_ops_api_refuses_big_ids_and_control_characters(ops: Target) -> None:
    with httpx.Client(base_url=ops.base, headers=ops.headers, timeout=30) as client:
        refused(client.get(f"/api/v1/alarms/{2**64}"))
        refused(client.get(f"/api/v1/analyses/{2**63}"))
        body = refused(client.post("/api/v1/incidents", json={"title": "Nät\x00", "classification": 2}))
        assert body["problems"] == ["title: ska vara en rad utan styrtecken (till exempel NUL, tabb eller radbrytning)"]
        missing = refused(client.get("/api/v1/alarms/424242"), 404)
        assert missing["error"] == missing["detail"] == "no alarm 424242"  # "detail" kept for older clients
        ok = client.post("/api/v1/incidents", json={"title": "Nätverket nere", "classification": 2})
        assert ok.status_code == 201, ok.text
        assert refused(client.get("/api/v1/alarms/0"))["problems"]
        openapi = client.get("/api/v1/openapi.json").json()
        assert "/api/v1/incidents" in openapi["paths"] and not any(p.startswith("/console") for p in openapi["paths"])


def test_pages_answer_a_refused_value_with_the_error_page(doctor) -> None:
    """The pages are not in the OpenAPI document, so the fuzzer does not reach them: the same
    rules and mapping answer them with the error page, never a 500."""
    for path in (f"/patients/{BIGINT_MAX + 1}", f"/patients/{2**80}", "/patients/-1"):
        page = doctor.get(path)
        assert 400 <= page.status_code < 500 and page.headers["content-type"].startswith("text/html"), path
