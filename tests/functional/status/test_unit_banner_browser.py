"""14.8 in real headless Chromium: the journal's banner gives the mode of the unit being viewed.

Lisa Läkare works on two wards. With reserve routines on the second only, the first ward's list and
a patient on it say the record is writable there; the second ward's list says "Dokumentera INTE";
a page about no unit (the unit list) names each of her units with its mode."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

pytestmark = pytest.mark.browser


def test_the_banner_follows_the_unit_being_viewed(journal_server, publisher, browser) -> None:
    publisher.push("normal")
    page = browser.new_page()
    page.goto(journal_server.base + "/login")
    page.fill("input[name=username]", "lakare")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url("**/ward/**")
    writable = page.url.rsplit("/", 1)[1]
    units = [a.get_attribute("href").rsplit("/", 1)[1] for a in page.locator("header nav a[href^='/ward/']").all()]
    paper = next(u for u in units if u != writable)

    publisher.push("normal", headline=f"Journalen otillgänglig för {paper}", unit_modes={paper: "reservrutin"},
                   routine="Pappersjournal RR-1", next_update_in=timedelta(minutes=30))

    page.goto(f"{journal_server.base}/ward/{writable}")
    banner = page.locator("#status-banner")
    assert banner.get_attribute("data-mode") == "normal" and banner.get_attribute("data-unit") == writable
    assert "Dokumentera INTE" not in banner.inner_text() and "Journalen fungerar som vanligt" in banner.inner_text()

    patient = page.locator("a[href^='/patients/']").first.get_attribute("href")
    page.goto(journal_server.base + patient)
    banner = page.locator("#status-banner")
    assert banner.get_attribute("data-mode") == "normal" and banner.get_attribute("data-unit") == writable
    assert "Dokumentera INTE" not in banner.inner_text()
    # … and the journal agrees: a note on this patient is accepted (the banner told the truth)
    with httpx.Client(base_url=journal_server.base, timeout=10) as client:
        me = client.post("/api/v1/login", json={"username": "lakare", "password": "demo"}).json()["token"]
        r = client.post(f"/api/v1{patient}/notes", json={"kind": "daganteckning", "title": "Rond", "body": "Stabil."},
                        headers={"Authorization": f"Bearer {me}"})
        assert r.status_code == 201, r.text

    page.goto(f"{journal_server.base}/ward/{paper}")
    banner = page.locator("#status-banner")
    assert banner.get_attribute("data-mode") == "reservrutin" and banner.get_attribute("data-unit") == paper
    assert "Dokumentera INTE i journalen" in banner.inner_text()

    page.goto(journal_server.base + "/units")  # no unit: her units, each named with its mode
    text = page.locator("#status-banner").inner_text()
    assert f"{paper} – Reservrutin gäller" in text and f"{writable} – Normal drift" in text
    page.close()
