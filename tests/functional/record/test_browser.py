"""End to end in real headless Chromium: log in, open the ward, open a patient, write a note, see it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_nurse_writes_a_note_and_sees_it(journal_server, browser) -> None:
    page = browser.new_page()
    page.goto(journal_server.base + "/")
    assert "/login" in page.url
    assert page.locator("h1").inner_text() == "Logga in"  # Swedish by default
    page.fill("input[name=username]", "sjukskoterska")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url("**/ward/**")
    rows = page.locator("#ward-list tbody tr a")
    assert rows.count() > 0
    rows.first.click()
    page.wait_for_url("**/patients/**")
    assert page.locator("#medications h2").inner_text() == "Läkemedelslista"
    page.click("text=Skriv anteckning")
    page.select_option("select[name=kind]", "omvardnad")
    page.fill("textarea[name=body]", "Patienten mobiliserad till stol, äter själv.")
    page.click("button[type=submit]")
    page.wait_for_url("**/patients/*")
    note = page.locator("#notes article").first
    assert "Patienten mobiliserad till stol, äter själv." in note.inner_text()
    assert "Omvårdnadsanteckning" in note.inner_text()
    page.click("text=English")
    assert page.locator("#medications h2").inner_text() == "Medication list"
    page.close()


def test_forged_form_without_csrf_token_is_refused(journal_server, browser) -> None:
    page = browser.new_page()
    page.goto(journal_server.base + "/login")
    page.fill("input[name=username]", "sjukskoterska")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url("**/ward/**")
    href = page.locator("#ward-list tbody tr a").first.get_attribute("href")
    response = page.request.post(journal_server.base + href + "/notes",
                                 form={"kind": "telefon", "body": "forged", "csrf": "wrong"})
    assert response.status == 403
    page.close()
