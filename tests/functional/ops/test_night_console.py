"""15.7: a console the officer on duty can act on at night. Titles say what is affected, since when
and what to do (the driver's error only in the details); a class-1 incident names the affected units
and the impact; the timeline says only what was really sent; a proposal goes when its alarm does;
an event analysis takes in only its incident's window."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from obruten.ops import alarms, incidents, preparedness, timeline
from obruten.ops.analysis import analyses
from obruten.ops.findings import Finding
from obruten.ops.service import OpsService

ERROR = "OperationalError: connection failed: connection to server at 10.0.0.5, port 5432 failed: timeout"


def _down(service: OpsService, probe: str = "journal_write", target: str = "primary", times: int = 3,
          detail: str = ERROR) -> None:
    for _ in range(times):
        service.step([Finding(probe, target, "down", None, detail, service.clock.now())])
        service.deliver()
        service.clock.advance(seconds=25)  # type: ignore[attr-defined]


def _up(service: OpsService, probe: str = "journal_write", target: str = "primary") -> None:
    for _ in range(2):
        service.clock.advance(seconds=40)  # type: ignore[attr-defined]
        service.step([Finding(probe, target, "ok", 12.0, "write and read in 12 ms", service.clock.now())])


def test_titles_are_plain_swedish_and_the_error_is_in_the_details(service: OpsService) -> None:
    service.store.execute("INSERT INTO ward_agent (unit, agent, last_seen_at) VALUES ('AVD1', 'pc1', 'x'), "
                          "('AVD2', 'pc2', 'x')")
    _down(service)
    alarm = next(a for a in alarms.active(service.store) if a.rule == "journal-write")
    # the fake clock starts at 02:00 UTC in January: 03:00 in Stockholm, where the since is told
    assert alarm.summary == ("Journalen kan inte spara: databasen svarar inte sedan 03:00 — hänvisa till "
                             "läskopian och avdelningarnas reservkit")
    assert "OperationalError" not in alarm.summary and alarm.detail == ERROR
    incident = incidents.get(service.store, alarm.incident_id or 0)
    assert incident is not None and incident.classification == 1 and incident.title == alarm.summary
    assert incident.affected_units == ["Alla enheter (2): AVD1, AVD2"]
    assert "kan inte dokumentera i journalen" in incident.impact and "reservkit" in incident.impact


def test_the_timeline_says_nothing_was_sent_when_nothing_was(make_service: Callable[..., OpsService]) -> None:
    service = make_service(smtp_host="", sms_gateway_url="", webhook_urls=())
    _down(service)
    alarm = next(a for a in alarms.active(service.store) if a.rule == "journal-write")
    lines = [e["summary"] for e in timeline.entries(service.store, alarm.incident_id or 0)]
    assert any(f"Larm {alarm.id}: inga meddelanden skickades till" in str(line)
               and "ingen kanal konfigurerad" in str(line) for line in lines), lines
    assert not any("larmad" in str(line) or "skickat" in str(line) for line in lines), lines


def test_the_timeline_says_what_was_sent_from_the_delivery_records(service: OpsService) -> None:
    _down(service)
    alarm = next(a for a in alarms.active(service.store) if a.rule == "journal-write")
    lines = [str(e["summary"]) for e in timeline.entries(service.store, alarm.incident_id or 0)]
    queued = [line for line in lines if "köade för utskick" in line]
    sent = [line for line in lines if line.startswith(f"Larm {alarm.id}: ") and ": skickat " in line]
    assert queued and sent, lines
    assert any(line.startswith(f"Larm {alarm.id}: SMS till IT-jour nivå 1") for line in sent), sent


def test_a_proposal_is_withdrawn_when_the_alarm_behind_it_resolves(service: OpsService) -> None:
    _down(service)
    assert [p["level"] for p in preparedness.open_proposals(service.store)] == ["stabsläge"]
    proposal_alarm = next(a for a in alarms.active(service.store) if a.rule == preparedness.PROPOSAL_RULE)
    _up(service)
    assert preparedness.open_proposals(service.store) == []
    resolved = alarms.get(service.store, proposal_alarm.id)
    assert resolved is not None and resolved.state == "resolved"
    assert preparedness.current(service.store).level == "normalläge"  # nobody decided anything


def test_an_analysis_takes_in_only_its_incidents_window(service: OpsService, live) -> None:  # type: ignore[no-untyped-def]
    _down(service)
    first = incidents.listing(service.store)[0]
    _up(service)
    incidents.change_state(service.store, service.var_dir, first.id, "resolved", "tib", service.clock.now())
    service.clock.advance(minutes=30)  # type: ignore[attr-defined]
    _down(service, "read_copy", "standby", times=3, detail="could not connect")  # a later, separate incident
    later = [a for a in alarms.active(service.store) if a.rule == "read-copy-down"]
    assert later
    analysis_id = analyses.start(service.store, service.var_dir, incident_id=first.id, commissioner="tib",
                                 leader="Tove", team="Ivar", scope="Avbrottet", who="tib", now=service.clock.now())
    texts = [str(r["text"]) for r in service.store.all(
        "SELECT e.text FROM analysis_event e JOIN analysis_version v ON v.id = e.version_id "
        "WHERE v.analysis_id = ?", (analysis_id,))]
    assert any("Journalen kan inte spara" in t for t in texts)
    assert not any("Läskopian" in t or f"Larm {later[0].id}" in t for t in texts), texts


@pytest.mark.browser
def test_tib_reads_the_night_console_in_plain_swedish(service: OpsService, live, browser) -> None:  # type: ignore[no-untyped-def]
    _down(service)
    alarm = next(a for a in alarms.active(service.store) if a.rule == "journal-write")
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(live.base + "/console")
    page.fill("#username", "tib")
    page.fill("#password", "demo")
    page.click("#login")
    row = page.locator(f"#alarm-{alarm.id}")
    row.wait_for()
    assert "Journalen kan inte spara: databasen svarar inte sedan 03:00" in row.inner_text()
    assert not page.get_by_text("OperationalError").first.is_visible()  # in the collapsed details
    row.locator("details summary").click()
    assert page.get_by_text("OperationalError").first.is_visible()

    page.goto(f"{live.base}/console/incidents/{alarm.incident_id}")
    assert "Alla enheter" in page.inner_text("#incident-units")
    assert "kan inte dokumentera i journalen" in page.inner_text("#incident-impact")
    timeline_text = page.inner_text("#timeline")
    assert "köade för utskick" in timeline_text and ": skickat " in timeline_text
    assert "critical" not in timeline_text and "alarm.fired" not in timeline_text

    _up(service)
    page.goto(live.base + "/console")
    assert page.locator(".proposal").count() == 0  # the stabsläge proposal went with its alarm
    page.close()
