"""What a nurse and a physician notice, in real headless Chromium: admitting an unidentified patient
and discharging, the patient banner (also before emergency access), corrections by their author,
note kinds by role, and form problems shown next to the field with the typed text kept."""

from __future__ import annotations

import re

import psycopg
import pytest

from pgtools import browser_login

pytestmark = pytest.mark.browser


def logged_in(browser, base: str, username: str):
    return browser_login(browser, base, username)


def test_nurse_admits_an_unidentified_patient_and_discharges_him(journal_server, browser) -> None:
    page = logged_in(browser, journal_server.base, "sjukskoterska")
    ward_url = page.url
    page.click("#admit-link")
    page.check("#f-who-unidentified")
    page.fill("#f-cause", "Medvetslös, hittad i trapphus")
    page.click("#admit-form button[type=submit]")
    # the problem is next to its field, in Swedish, and what was typed is still there
    assert page.locator("#f-birth_year-error").inner_text() == "En okänd patient behöver kön och uppskattat födelseår."
    assert page.get_attribute("#f-birth_year", "aria-describedby") == "f-birth_year-error"
    assert page.input_value("#f-cause") == "Medvetslös, hittad i trapphus"
    assert page.is_checked("#f-who-unidentified")
    page.check("#f-sex-M")
    page.fill("#f-birth_year", "1955")
    page.click("#admit-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/patients/\d+$"))
    banner = page.locator("#patient-banner").inner_text()
    assert "Reservnummer" in banner and re.search(r"99\d{6}-\d{4}", banner) and "man" in banner
    number = re.search(r"99\d{6}-\d{4}", banner).group(0)
    page.goto(ward_url)
    assert number in page.locator("#ward-list").inner_text()
    page.click(f"#ward-list tr:has-text('{number}') a")
    page.click("#adt-link")
    assert "Inskriven på" in page.locator("#movements").inner_text()
    page.fill("#d-note", "Hämtad av ambulans")
    page.click("#discharge-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/patients/\d+$"))
    assert "Inte inskriven" in page.locator("#patient-banner").inner_text()
    page.goto(ward_url)
    assert number not in page.locator("#ward-list").inner_text()
    page.close()


def test_emergency_prompt_shows_who_you_are_about_to_open_but_not_the_record(journal_server, browser) -> None:
    with psycopg.connect(journal_server.db_url) as c:
        pid, pn, family = c.execute(
            "SELECT p.id, p.personal_number, p.family_name FROM patient p JOIN admission_current a ON a.patient_id = p.id"
            " JOIN staff_unit su ON true JOIN staff s ON s.id = su.staff_id AND s.username = 'sjukskoterska'"
            " WHERE a.discharged_at IS NULL AND a.unit_id NOT IN (SELECT unit_id FROM staff_unit WHERE staff_id = s.id)"
            " AND EXISTS (SELECT 1 FROM warning_current w WHERE w.patient_id = p.id AND w.active)"
            " AND NOT EXISTS (SELECT 1 FROM admission x WHERE x.patient_id = p.id"
            "                 AND x.unit_id IN (SELECT unit_id FROM staff_unit WHERE staff_id = s.id))"
            " ORDER BY p.id LIMIT 1").fetchone()
    page = logged_in(browser, journal_server.base, "sjukskoterska")
    response = page.goto(f"{journal_server.base}/patients/{pid}")
    assert response.status == 403
    banner = page.locator("#patient-banner")
    assert pn in banner.inner_text() and family in banner.inner_text()
    assert banner.locator(".pb-unit").inner_text().strip() not in ("", "Inte inskriven")
    assert banner.locator(".pb-warnings").count() == 0  # the record (its warnings) stays sealed
    assert page.locator("#f-reason").count() == 1
    page.close()


def test_note_form_problem_is_shown_at_the_field_kinds_follow_the_role_and_only_the_author_corrects(
        journal_server, browser) -> None:
    doctor = logged_in(browser, journal_server.base, "lakare")
    nurse = logged_in(browser, journal_server.base, "sjukskoterska")
    # the last patient of the ward: the first is the demo case another test reads (its admission note)
    nurse.locator("#ward-list tbody tr a").last.click()
    nurse.wait_for_url(re.compile(r".*/patients/\d+$"))
    patient_url = nurse.url
    nurse.click("text=Skriv anteckning")
    assert "Sam" not in nurse.locator("#patient-banner").inner_text()  # the banner is the patient's
    assert nurse.locator("#patient-banner .pb-pn").inner_text()
    offered = nurse.locator("#f-kind option").evaluate_all("els => els.map(e => e.value)")
    assert offered == ["omvardnad", "telefon"]
    nurse.fill("#f-title", "Natten")
    nurse.click("#note-form button[type=submit]")  # no text: a problem, not a blank page
    assert nurse.locator("#f-body-error").is_visible()
    assert "kort" in nurse.locator("#f-body-error").inner_text() or "saknas" in nurse.locator("#f-body-error").inner_text()
    assert nurse.input_value("#f-title") == "Natten"
    assert nurse.locator("label[for=f-body]").count() == 1
    # the physician writes an admission note; the nurse is offered a new note, not a correction
    doctor.goto(patient_url + "/note/new")
    doctor.select_option("#f-kind", "inskrivning")
    doctor.fill("#f-body", "Inskriven för KOL-exacerbation.")
    doctor.click("#note-form button[type=submit]")
    doctor.wait_for_url(patient_url)
    nurse.goto(patient_url)
    first = nurse.locator("#notes article").first
    assert "Inskriven för KOL-exacerbation." in first.inner_text()
    assert first.locator("text=Rätta").count() == 0 and first.locator(".write-new").count() == 1
    href = doctor.locator("#notes article").first.locator("a", has_text="Rätta").get_attribute("href")
    nurse.goto(journal_server.base + href)
    assert "Bara den som skrev anteckningen (Lisa Läkare)" in nurse.locator("#not-author").inner_text()
    # the author corrects; the history shows clinical words, Swedish time, the change marked
    doctor.goto(journal_server.base + href)
    doctor.fill("#f-body", "Inskriven för KOL-exacerbation och pneumoni.")
    doctor.click("#correct-form button[type=submit]")  # no reason: refused at the field, the new text kept
    assert doctor.locator("#f-reason-error").is_visible()
    assert doctor.input_value("#f-body") == "Inskriven för KOL-exacerbation och pneumoni."
    doctor.fill("#f-reason", "Kompletterad diagnos")
    doctor.click("#correct-form button[type=submit]")
    doctor.wait_for_url("**/history/note/**")
    latest = doctor.locator("#version-2")
    assert "Text" in latest.locator("dt").all_inner_texts() and "body" not in latest.locator("dt").all_inner_texts()
    assert latest.locator("ins.changed").inner_text().startswith("Inskriven för KOL-exacerbation och pneumoni.")
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", latest.locator("header").inner_text())
    assert doctor.locator("#patient-banner").count() == 1
    doctor.goto(patient_url)
    assert "Lisa Läkare" in doctor.locator("#notes article").first.inner_text()
    doctor.close()
    nurse.close()
