"""What a nurse and a physician notice about medication (issue 14), in real headless Chromium:
dose slots on the patient page, a slot signed twice, post/redirect/get, an order that matches an
allergy, "x 3" with one time, the läkemedelslista with Utsatta, and coherent demo data."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest

from obruten.platform.i18n import STOCKHOLM
from pgtools import browser_login, login

pytestmark = pytest.mark.browser


def _page(browser, base: str, username: str):
    return browser_login(browser, base, username)


def _slot(minutes_ago: int = 20) -> datetime:
    return (datetime.now(STOCKHOLM) - timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)


def _ward_patient(url: str, warning_like: str | None = None) -> int:
    """A patient admitted to the demo nurse's ward (with a warning like ``warning_like``, if given)."""
    with psycopg.connect(url) as c:
        row = c.execute(
            "SELECT a.patient_id FROM admission_current a JOIN staff_unit su ON su.unit_id = a.unit_id"
            " JOIN staff s ON s.id = su.staff_id WHERE s.username = 'sjukskoterska' AND a.discharged_at IS NULL"
            " AND (%(w)s::text IS NULL OR EXISTS (SELECT 1 FROM warning_current w WHERE w.patient_id = a.patient_id"
            "      AND w.active AND w.text ILIKE %(w)s)) ORDER BY a.patient_id DESC LIMIT 1",
            {"w": warning_like}).fetchone()
    assert row
    return row[0]


def _order(base: str, patient: int, **over) -> str:
    slot = _slot()
    body = {"drug": "Furix", "substance": "furosemid", "form": "tablett", "strength": "40 mg", "dose": "40 mg",
            "route": "po", "frequency": "x 1", "times": [slot.strftime("%H:%M")],
            "start_at": (slot - timedelta(days=1)).isoformat(), **over}
    with login(base, "lakare") as doctor:
        r = doctor.post(f"/api/v1/patients/{patient}/medication-orders", json=body)
    assert r.status_code == 201, r.text
    return r.json()["entry_id"]


def _count(url: str, order: str) -> int:
    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM medication_administration WHERE order_entry = %s", (order,)).fetchone()[0]


def test_nurse_signs_a_dose_slot_once_and_a_second_time_only_with_a_reason(journal_server, browser) -> None:
    patient = _ward_patient(journal_server.db_url)
    order = _order(journal_server.base, patient)
    page = _page(browser, journal_server.base, "sjukskoterska")
    page.goto(f"{journal_server.base}/patients/{patient}")
    row = page.locator(f"#medication-list tr[data-order='{order}']")
    slot = row.locator(".slot").first
    assert slot.get_attribute("data-state") == "due" and "att ge" in slot.inner_text()
    slot.click()
    page.wait_for_url(f"**/medication/{order}**")
    assert page.locator("input[name=slot_at]:checked").count() == 1  # the slot clicked is the one signed
    page.dblclick("#sign-form button[type=submit]")  # a double-click writes one administration
    page.wait_for_url(f"**/patients/{patient}#medications")
    assert _count(journal_server.db_url, order) == 1
    page.reload()  # post/redirect/get: a reload reads, it does not sign again
    assert _count(journal_server.db_url, order) == 1
    assert page.locator(f"#medication-list tr[data-order='{order}'] .slot").first.get_attribute("data-state") == "given"
    # the same slot again: refused until a reason is given, with the message next to the field
    page.goto(f"{journal_server.base}/medication/{order}")
    page.check("input[name=slot_at]")
    page.fill("input[name=dose_given]", "40 mg (extra)")
    page.click("#sign-form button[type=submit]")
    error = page.locator("#err-confirm_reason")
    assert "redan signerad" in error.inner_text()
    assert page.input_value("input[name=dose_given]") == "40 mg (extra)"  # what was typed is kept
    assert _count(journal_server.db_url, order) == 1
    page.fill("input[name=confirm_reason]", "Första dosen kräktes upp")
    page.click("#sign-form button[type=submit]")
    page.wait_for_url(f"**/patients/{patient}#medications")
    assert _count(journal_server.db_url, order) == 2
    page.goto(f"{journal_server.base}/medication/{order}")
    assert "Bekräftad: Första dosen kräktes upp" in page.locator("#administrations").inner_text()
    page.close()


def test_prn_beyond_its_maximum_asks_for_a_reason(journal_server, browser) -> None:
    patient = _ward_patient(journal_server.db_url)
    order = _order(journal_server.base, patient, drug="Primperan", substance="metoklopramid", strength="10 mg",
                   dose="10 mg", frequency="vid behov, max x 3", times=[], as_needed=True, prn_max_per_24h=3)
    page = _page(browser, journal_server.base, "sjukskoterska")
    for _ in range(3):
        page.goto(f"{journal_server.base}/medication/{order}")
        page.click("#sign-form button[type=submit]")
        page.wait_for_url(f"**/patients/{patient}#medications")
    assert "3 av max 3" in page.locator(f"#medication-list tr[data-order='{order}']").inner_text()
    page.goto(f"{journal_server.base}/medication/{order}")
    page.click("#sign-form button[type=submit]")
    assert "max 3" in page.locator("#err-confirm_reason").inner_text()
    assert _count(journal_server.db_url, order) == 3
    page.close()


def test_physician_sees_the_warnings_and_must_give_a_reason_for_an_allergy_match(journal_server, browser) -> None:
    patient = _ward_patient(journal_server.db_url, "%penicillin%")
    page = _page(browser, journal_server.base, "lakare")
    page.goto(f"{journal_server.base}/patients/{patient}/medication/new")
    assert "Penicillinallergi" in page.locator("#patient-banner").inner_text()
    page.fill("#f-drug", "Kåvepenin")
    page.fill("#f-substance", "fenoximetylpenicillin")
    page.fill("#f-strength", "1 g")
    page.fill("#f-dose", "1 g")
    page.fill("#f-frequency", "x 3")
    page.fill("#f-times", "08:00")
    page.click("#order-form button[type=submit]")
    assert "x 3" in page.locator("#err-times").inner_text()  # one time for x 3: next to the field
    assert page.input_value("#f-drug") == "Kåvepenin"
    page.fill("#f-times", "08:00, 14:00, 20:00")
    page.click("#order-form button[type=submit]")
    assert "Penicillinallergi" in page.locator("#err-allergy_override_reason").inner_text()
    page.fill("#f-allergy", "Tolererat Kåvepenin 2024, bedömt av infektionsläkare")
    page.click("#order-form button[type=submit]")
    page.wait_for_url(f"**/patients/{patient}#medications")
    # this test's own order, by its reason (the API test may have ordered Kåvepenin for her too)
    row = page.locator("#medication-list tr", has_text="bedömt av infektionsläkare")
    assert "Kåvepenin" in row.inner_text() and "fenoximetylpenicillin" in row.inner_text()
    page.close()


def test_the_medication_list_has_substance_prescriber_and_utsatta(journal_server, browser) -> None:
    patient = _ward_patient(journal_server.db_url)
    order = _order(journal_server.base, patient, drug="Enalapril", substance="enalapril", strength="5 mg", dose="5 mg")
    page = _page(browser, journal_server.base, "lakare")
    page.goto(f"{journal_server.base}/patients/{patient}")
    row = page.locator(f"#medication-list tr[data-order='{order}']").inner_text()
    assert "enalapril" in row and "tablett" in row and "Lisa Läkare" in row and "per os" in row
    page.goto(f"{journal_server.base}/medication/{order}")
    page.fill("#f-stop-reason", "   ")
    page.click("#stop-form button[type=submit]")
    assert page.locator("#err-reason").count() == 1  # a stop needs a reason
    page.fill("#f-stop-reason", "Blodtrycket lågt")
    page.click("#stop-form button[type=submit]")
    page.wait_for_url(f"**/patients/{patient}#medications")
    assert page.locator(f"#medication-list tr[data-order='{order}']").count() == 0
    stopped = page.locator("#stopped-medications tr", has_text="Enalapril").first.inner_text()
    assert "Blodtrycket lågt" in stopped and "Lisa Läkare" in stopped and datetime.now(STOCKHOLM).strftime("%Y-%m-%d") in stopped
    page.close()


def test_demo_patient_reads_coherently(journal_server, browser) -> None:
    """The admission reason is the one the admission note describes, and the penicillin-allergic
    demo patient has no penicillin ordered (results against referrals: tests/functional/devtools)."""
    patient = _ward_patient(journal_server.db_url, "%penicillin%")
    page = _page(browser, journal_server.base, "lakare")
    page.goto(f"{journal_server.base}/patients/{patient}")
    head = page.locator(".patient-head").inner_text()
    intake = page.locator("#notes article", has_text="Inskrivningsanteckning").first.inner_text()
    with psycopg.connect(journal_server.db_url) as c:
        cause = c.execute("SELECT cause FROM admission_current WHERE patient_id = %s AND discharged_at IS NULL",
                          (patient,)).fetchone()[0]
    assert cause in head and cause.lower() in intake.lower()
    meds = page.locator("#medication-list").inner_text().lower()
    assert "penicillin" not in meds or "Tolererat" in page.locator("#medication-list").inner_text()
    page.close()
