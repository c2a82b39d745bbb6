"""The console pages without a browser: a stale form on a signed version gets a clear refusal,
and the incident page offers the analysis only once the incident is resolved."""

from __future__ import annotations

import httpx

from obruten.ops.analysis import analyses
from obruten.ops.service import OpsService

from .conftest import drill_incident


def test_a_form_posted_to_a_signed_version_is_refused_with_the_reason(client: httpx.Client,
                                                                     service: OpsService, login) -> None:
    incident_id = drill_incident(service)
    client = login(client.base_url, "chef", app="ops")
    csrf = client.csrf
    started = client.post(f"/console/incidents/{incident_id}/analysis",
                          data={"csrf": csrf, "commissioner": "chef", "leader": "Lars Nordström", "team": "A, B"})
    assert started.status_code == 303
    analysis_id = int(started.headers["location"].rsplit("/", 1)[1])
    url = f"/console/analyses/{analysis_id}/do"
    assert client.post(f"{url}/header", data={"csrf": csrf, "summary": "Kort sammanfattning."}).status_code == 303
    assert client.post(f"{url}/sign", data={"csrf": csrf}).status_code == 303
    page = client.get(f"/console/analyses/{analysis_id}").text
    assert "Version 1 är signerad och kan inte ändras." in page and 'id="amend-form"' in page
    assert 'id="add-event"' not in page

    refused = client.post(f"{url}/add_event", data={"csrf": csrf, "text": "För sent"})
    assert refused.status_code == 409
    assert "signed and read-only" in refused.text and 'id="analysis-error"' in refused.text
    assert client.post(f"{url}/add_event", data={"csrf": "stale", "text": "x"}).status_code == 403
    assert "För sent" not in client.get(f"/console/analyses/{analysis_id}").text
    assert [c["action"] for c in analyses.changes(service.store, analysis_id)] == ["started", "header changed",
                                                                                "signed"]

    assert client.post(f"{url}/amend", data={"csrf": csrf, "reason": "Nya uppgifter"}).status_code == 303
    page = client.get(f"/console/analyses/{analysis_id}").text
    assert 'id="add-event"' in page and "2 (utkast)" in page
    assert client.post(f"{url}/add_event", data={"csrf": csrf, "text": "Nu går det"}).status_code == 303
    assert "Nu går det" in client.get(f"/console/analyses/{analysis_id}").text
    assert "Nu går det" not in client.get(f"/console/analyses/{analysis_id}?version=1").text


def test_incident_page_offers_the_analysis_once_resolved(client: httpx.Client, service: OpsService, login) -> None:
    client = login(client.base_url, "it", app="ops")
    csrf = client.csrf
    client.post("/console/incidents", data={"csrf": csrf, "title": "Läskopian nere", "classification": "2"})
    page = client.get("/console/incidents/1").text
    assert 'id="analysis"' in page and 'id="start-analysis"' not in page
    refused = client.post("/console/incidents/1/analysis", data={"csrf": csrf, "commissioner": "chef", "leader": "L"})
    assert refused.status_code == 422 and "resolve" in refused.text
    client.post("/console/incidents/1/state", data={"csrf": csrf, "state": "resolved"})
    assert 'id="start-analysis"' in client.get("/console/incidents/1").text


def test_categories_are_configured_from_the_console(client: httpx.Client, service: OpsService, login) -> None:
    client = login(client.base_url, "it", app="ops")
    csrf = client.csrf
    assert client.post("/console/analysis-categories", data={"csrf": csrf, "name": "Övning & test"}).status_code == 303
    client.post("/console/analysis-categories", data={"csrf": csrf, "retire": "Barriärer"})
    page = client.get("/console/analyses").text
    assert "Övning &amp; test" in page and "Barriärer" not in page
    refused = client.post("/console/analysis-categories", data={"csrf": csrf, "retire": "Barriärer"})
    assert refused.status_code == 422 and "no active category" in refused.text
