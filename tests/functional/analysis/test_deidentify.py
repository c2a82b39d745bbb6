"""De-identified reports: personal numbers and names planted in events, why-chains, causes and
actions are gone from the Markdown and the PDF, and the report says how many were removed."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx
import psycopg
import pytest

from obruten.ops.service import OpsService
from obruten.platform.pgserver import PostgresInstance
from pgtools import fresh_database

from .conftest import bearer, drill_incident
from .test_analysis_flow import pdf_text

PERSONAL_NUMBERS = ["19121212-1212", "121212-1212", "201212121212", "1212121212", "19701272-2389", "701272+2389"]
# names no pattern finds: only the journal (patient, staff) or the ops users know them
SECRETS = ["Stina", "Karlberg", "Gunnel", "Wikström", "Ragnar", "Holmqvist", "Tove", "Beredskap", "Kim",
           "Lars", "Nordström", "Cecilia", "Lindqvist", "Ida Jour", "Sara", "Förvaltare"]


@pytest.fixture
def journal_url(pg: PostgresInstance) -> str:
    url = fresh_database(pg, "analysis_names")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO staff (username, full_name, role) VALUES ('rholm', 'Ragnar Holmqvist', 'physician')")
        conn.execute("INSERT INTO patient (personal_number, given_name, family_name, birth_date, sex) "
                     "VALUES ('19450303-1238', 'Gunnel', 'Wikström', '1945-03-03', 'F')")
    return url


def test_deidentified_report_removes_planted_numbers_and_names(client: httpx.Client, service: OpsService,
                                                               journal_url: str) -> None:
    service.settings = replace(service.settings, journal_url=journal_url)
    incident_id = drill_incident(service)
    it = bearer(client, "it")
    made = client.post("/api/v1/analyses", headers=it, json={
        "incident_id": incident_id, "commissioner": "chef", "leader": "Lars Nordström",
        "team": ["Ida Jour", "Sara Förvaltare"], "scope": f"Patient {PERSONAL_NUMBERS[0]} och hans journal"}).json()
    url = f"/api/v1/analyses/{made['id']}"
    event = client.post(f"{url}/events", headers=it, json={
        "text": f"Ragnar Holmqvist kunde inte läsa journalen för {PERSONAL_NUMBERS[1]}."}).json()["event_id"]
    why = client.post(f"{url}/events/{event}/whys", headers=it, json={
        "question": f"Varför fanns inte patienten Stina Karlberg ({PERSONAL_NUMBERS[2]}) på läskopian?",
        "answer": f"Därför att ssk Kim sökte på {PERSONAL_NUMBERS[3]}."}).json()["why_id"]
    cause = client.post(f"{url}/whys/{why}/causes", headers=it, json={
        "category": "Kommunikation & information",
        "text": f"Tove Beredskap fick aldrig veta att {PERSONAL_NUMBERS[4]} var drabbad."}).json()["cause_id"]
    assert client.post(f"{url}/causes/{cause}/actions", headers=it, json={
        "description": f"Ring Gunnel Wikström ({PERSONAL_NUMBERS[5]}) och förklara", "owner": "Chefläkare",
        "deadline": "2030-01-01", "strength": "intermediate"}).status_code == 201
    client.patch(url, headers=it, json={"summary": "Sammanfattning utan namn."})

    plain = client.get(f"{url}/report.md", headers=it).text
    assert all(pn in plain for pn in PERSONAL_NUMBERS) and "Gunnel Wikström" in plain

    md = client.get(f"{url}/report.md?deidentified=true", headers=it)
    pdf = client.get(f"{url}/report.pdf?deidentified=true", headers=it)
    assert md.status_code == 200 and pdf.status_code == 200, (md.text, pdf.text)
    assert "avidentifierad" in md.headers["content-disposition"]
    # names: commissioner, leader, two team members (header), Ragnar Holmqvist (journal staff), Stina
    # Karlberg (title), Kim (title), Tove Beredskap (ops user), Gunnel Wikström (journal patient). (The
    # imported escalation entries name nobody: this service has no channel, so no one was alerted, and
    # the timeline says so instead of naming the people on call.)
    summary = "Avidentifierad: 6 personnummer och 9 namn borttagna."
    for text in (md.text, pdf_text(pdf.content)):
        assert summary in " ".join(text.split()), text
        for pn in PERSONAL_NUMBERS:
            assert pn not in text and pn.replace("-", "").replace("+", "") not in text.replace("-", "")
        assert not re.search(r"\d{6}[-+ ]?\d{4}", text)
        for secret in SECRETS:
            assert secret not in text, secret
        assert "[namn]" in text and "[personnummer]" in text
    assert "Kommunikation & information" in md.text and "| Chefläkare |" in md.text  # a role is not a name

    # the signed-off names stay in the ordinary report
    assert "Cecilia Lindqvist (chef)" in client.get(f"{url}/report.md", headers=it).text


def test_deidentified_report_refuses_when_the_journal_cannot_answer(client: httpx.Client,
                                                                    service: OpsService) -> None:
    from pgtools import free_port

    service.settings = replace(service.settings, journal_url=f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    incident_id = drill_incident(service)
    it = bearer(client, "it")
    made = client.post("/api/v1/analyses", headers=it, json={
        "incident_id": incident_id, "commissioner": "chef", "leader": "L"}).json()
    answer = client.get(f"/api/v1/analyses/{made['id']}/report.md?deidentified=true", headers=it)
    assert answer.status_code == 503 and "Retry when the journal is reachable" in answer.json()["detail"]
    assert client.get(f"/api/v1/analyses/{made['id']}/report.md", headers=it).status_code == 200
