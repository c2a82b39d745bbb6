"""End to end in headless Chromium: start an analysis from the resolved incident, add a
"Varför?" chain with a cause and an action to an event, and find it in the report."""

from __future__ import annotations

import pytest

from obruten.ops.analysis import analyses
from obruten.ops.analysis.model import load
from obruten.ops.service import OpsService

from .conftest import Live, drill_incident

pytestmark = pytest.mark.browser


def test_why_chain_added_in_the_console_is_in_the_report(service: OpsService, live: Live, browser) -> None:
    incident_id = drill_incident(service)
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(live.base + "/console")
    page.fill("#username", "it")
    page.fill("#password", "demo")
    page.click("#login")
    page.wait_for_selector("#analysis-overdue")  # the panel is on the front page

    page.goto(f"{live.base}/console/incidents/{incident_id}")
    page.click("#start-analysis summary")
    page.fill("#start-analysis input[name=commissioner]", "chef")
    page.fill("#start-analysis input[name=leader]", "Lars Nordström")
    page.fill("#start-analysis input[name=team]", "Ida Jour, Sara Förvaltare")
    page.click("#start-analysis-button")
    page.wait_for_url("**/console/analyses/*")
    [analysis_id] = analyses.for_incident(service.store, incident_id)
    analysis = load(service.store, analysis_id)
    fired = next(e for e in analysis.events if e.origin == "timeline:alarm.fired")

    form = f"#why-form-{fired.id}"
    page.fill(f"{form} input[name=question]", "Varför märkte ingen frysningen förrän larmet gick?")
    page.fill(f"{form} input[name=answer]", "Därför att skrivningarna bara blev långsamma, inte fel.")
    page.click(f"{form} .ask-why")
    page.wait_for_selector(f"#event-{fired.id} .why .answer:has-text('bara blev långsamma')")
    why = load(service.store, analysis_id).events[fired.number - 1].whys[0]

    step = f"#why-{why.id}"
    page.click(f"{step} > details > summary")
    page.fill(f"{step} .deeper-form input[name=question]", "Varför visar inte klienten att det går långsamt?")
    page.fill(f"{step} .deeper-form input[name=answer]", "det finns ingen tidsgräns i klienten")
    page.click(f"{step} .deeper-form button")
    page.wait_for_selector(f"{step} .why .answer:has-text('ingen tidsgräns')")
    deeper = load(service.store, analysis_id).events[fired.number - 1].whys[0].children[0]
    inner = f"#why-{deeper.id}"
    page.click(f"{inner} > details > summary")
    page.select_option(f"{inner} .cause-form select[name=category]", "Teknik, utrustning & apparatur")
    page.fill(f"{inner} .cause-form input[name=text]", "Klienten saknar tidsgräns för skrivningar.")
    page.click(f"{inner} .cause-form button")
    page.wait_for_selector(f"{inner} .cause:has-text('saknar tidsgräns')")

    cause = load(service.store, analysis_id).events[fired.number - 1].whys[0].children[0].causes[0]
    page.click(f"#cause-{cause.id} > details > summary")
    page.fill(f"#cause-{cause.id} .action-form input[name=description]", "Inför tidsgräns med tydligt besked")
    page.fill(f"#cause-{cause.id} .action-form input[name=owner]", "Systemförvaltare")
    page.fill(f"#cause-{cause.id} .action-form input[name=deadline]", "2001-02-03")
    page.select_option(f"#cause-{cause.id} .action-form select[name=strength]", "stronger")
    page.click(f"#cause-{cause.id} .action-form button")
    page.wait_for_selector(f"#cause-{cause.id} .action:has-text('Inför tidsgräns')")

    report = page.context.request.get(f"{live.base}/console/analyses/{analysis_id}/report.md").text()
    assert f"**H{fired.number}** " in report
    assert "*Varför märkte ingen frysningen förrän larmet gick?*" in report
    assert "Därför att det finns ingen tidsgräns i klienten" in report
    assert "Orsak (Teknik, utrustning & apparatur): Klienten saknar tidsgräns för skrivningar." in report
    assert "| Inför tidsgräns med tydligt besked | O1 | Systemförvaltare | 2001-02-03 | Starkare |" in report

    # the overdue action shows on the console's front page
    page.goto(live.base + "/console")
    assert "Inför tidsgräns med tydligt besked" in page.inner_text("#analysis-overdue")

    # someone else than the commissioner cannot sign: the page says so
    page.goto(f"{live.base}/console/analyses/{analysis_id}")
    assert page.locator("#sign-button").count() == 0
    page.click("text=English")
    page.wait_for_selector("text=Sequence of events")
    page.click("text=Svenska")

    # the commissioner writes the summary and signs off; the version is then locked
    page.click("header form button")  # log out
    page.fill("#username", "chef")
    page.fill("#password", "demo")
    page.click("#login")
    page.wait_for_selector("#analysis-overdue")
    page.goto(f"{live.base}/console/analyses/{analysis_id}")
    page.click("#sign-button")
    page.wait_for_selector("#analysis-error:has-text('summary')")  # refused, with the reason
    page.fill("#summary", "Frysningen märktes först när larmet gick.")
    page.click("#save-header")
    page.click("#sign-button")
    page.wait_for_selector("#locked")
    assert "signerad" in page.inner_text("#version-state")
    assert page.locator(".why-form").count() == 0 and page.locator("#amend-form").count() == 1
    page.close()
