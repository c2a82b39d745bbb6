"""In real headless Chromium: after a mode change, the nurse's ward page shows the banner."""

from __future__ import annotations

from datetime import timedelta

import pytest

pytestmark = pytest.mark.browser


def test_banner_appears_on_the_ward_page_after_a_mode_change(journal_server, publisher, browser) -> None:
    publisher.push("normal")
    page = browser.new_page()
    page.goto(journal_server.base + "/login")
    page.fill("input[name=username]", "sjukskoterska")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url("**/ward/**")
    assert page.locator("#status-banner").count() == 0
    unit = page.url.rsplit("/", 1)[1]

    doc = publisher.push("storning", headline="Journalen nere på avdelningen", unit_modes={unit: "reservrutin"},
                         routine="Pappersjournal RR-1, pärmen i expeditionen", next_update_in=timedelta(minutes=30))
    page.reload()
    banner = page.locator("#status-banner")
    assert banner.is_visible()
    text = banner.inner_text()
    assert "Reservrutin gäller" in text and "Journalen nere på avdelningen" in text
    assert "Pappersjournal RR-1, pärmen i expeditionen" in text and "Dokumentera INTE i journalen" in text
    assert f"v{doc.version}" in text and "Tove Beredskap" in text and "nästa uppdatering senast" in text
    assert banner.get_attribute("data-mode") == "reservrutin"

    publisher.push("efterregistrering", headline="Journalen uppe igen")
    page.reload()
    assert page.locator("#status-banner").get_attribute("data-mode") == "efterregistrering"
    assert "efterregistrera" in page.locator("#status-banner").inner_text()
    page.close()
