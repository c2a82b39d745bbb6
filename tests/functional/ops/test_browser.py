"""End to end in headless Chromium: the officer on duty acknowledges an alarm and raises stabsläge."""

from __future__ import annotations

import pytest

from obruten.ops import alarms, preparedness
from obruten.ops import oncall as schedule
from obruten.ops.findings import Finding
from obruten.ops.service import OpsService

pytestmark = pytest.mark.browser


def test_officer_on_duty_acknowledges_and_raises_stabslage(service: OpsService, live, browser) -> None:
    for _ in range(2):
        service.step([Finding("journal_write", "primary", "down", None, "no answer for 4.0 s", service.clock.now())])
        service.clock.advance(seconds=25)  # type: ignore[attr-defined]
    alarm = next(a for a in alarms.active(service.store) if a.rule == "journal-write")

    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(live.base + "/console")
    page.fill("#username", "tib")
    page.fill("#password", "demo")
    page.click("#login")
    page.wait_for_selector(f"#alarm-{alarm.id}")
    assert "Förslag: höj beredskapsläget till stabsläge" in page.inner_text("#preparedness")

    page.click(f"#alarm-{alarm.id} button.ack")
    page.wait_for_selector(f"#alarm-{alarm.id} .alarm-state:has-text('kvitterat')")
    acked = alarms.get(service.store, alarm.id)
    assert acked is not None and acked.acked_by == "tib"

    page.select_option("#level", "stabsläge")
    page.fill("#reason", "Journalen skriver inte; reservrutiner i kraft")
    page.click("#decide-level")
    page.wait_for_selector("#current-level:has-text('stabsläge')")
    level = preparedness.current(service.store)
    assert (level.level, level.decided_by) == ("stabsläge", "tib")
    assert preparedness.open_proposals(service.store) == []

    page.click("text=English")
    page.wait_for_selector("text=Preparedness level")
    page.close()


def test_it_adds_a_shift_and_sees_it_in_the_rota(service: OpsService, live, browser) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(live.base + "/console")
    page.fill("#username", "it")
    page.fill("#password", "demo")
    page.click("#login")
    page.click("#oncall-link")
    page.wait_for_selector("#shift-form")
    page.select_option("#shift-role", "it1")
    page.select_option("#shift-user", label="Olof Andrelinje (it2)")
    page.fill("#shift-start", "2025-01-16T08:00")
    page.fill("#shift-end", "2025-01-16T16:00")
    page.click("#save-shift")  # Ida holds IT-jour nivå 1 until further notice: an overlap must be meant
    page.wait_for_selector("#oncall-error")
    assert "överlapp" in page.inner_text("#oncall-error").lower() or "overlaps" in page.inner_text("#oncall-error")
    assert not any(s.full_name == "Olof Andrelinje" for s in schedule.plan(service.store, service.clock.now())["it1"])

    page.check("#shift-overlap")  # the form kept what was typed
    page.click("#save-shift")
    page.wait_for_selector("tr.role-it1:has-text('Olof Andrelinje')")
    row = page.inner_text("tr.role-it1:has-text('Olof Andrelinje')")
    assert "2025-01-16 08:00" in row and "2025-01-16 16:00" in row
    assert "lade till pass" in page.inner_text("#oncall-changes")
    page.close()
