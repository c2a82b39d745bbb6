"""From a drill's incident to a signed event analysis and its report, through the JSON API."""

from __future__ import annotations

import io

import httpx
from pypdf import PdfReader

from obruten.ops.analysis import analyses
from obruten.ops.service import OpsService
from obruten.platform import events as events_file

from .conftest import bearer, drill_incident


def pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def build(client: httpx.Client, service: OpsService) -> tuple[int, dict[str, str], dict[str, object]]:
    incident_id = drill_incident(service)
    it = bearer(client, "it")
    made = client.post("/api/v1/analyses", headers=it, json={
        "incident_id": incident_id, "commissioner": "chef", "leader": "Lars Analysledare",
        "team": ["Ida Jour", "Sara Förvaltare"], "scope": "Skrivvägen under övningen slow-storage"})
    assert made.status_code == 201, made.text
    analysis = made.json()
    return analysis["id"], it, analysis


def test_analysis_from_a_drill_incident_to_signed_report(client: httpx.Client, service: OpsService) -> None:
    analysis_id, it, analysis = build(client, service)
    events = analysis["events"]
    kinds = [e["origin"] for e in events]
    # the incident's timeline is the event sequence: the drill's own events and the ops service's
    assert "timeline:drill.started" in kinds and "timeline:drill.fault_injected" in kinds
    assert "timeline:alarm.fired" in kinds and "timeline:incident.opened" in kinds
    assert "timeline:alarm.acknowledged" in kinds and "timeline:incident.resolved" in kinds
    assert [e["number"] for e in events] == list(range(1, len(events) + 1))
    assert analysis["version"]["state"] == "draft" and analysis["version"]["number"] == 1

    fired = next(e for e in events if e["origin"] == "timeline:alarm.fired")
    url = f"/api/v1/analyses/{analysis_id}"
    why = client.post(f"{url}/events/{fired['id']}/whys", headers=it, json={
        "question": "Varför tog det 20 sekunder innan larmet gick?",
        "answer": "Därför att regeln kräver att felet består i 20 sekunder."}).json()["why_id"]
    deeper = client.post(f"{url}/whys/{why}/whys", headers=it, json={
        "question": "Kravet på 20 sekunder, varifrån kommer det?",
        "answer": "regeln är satt för att undvika falsklarm vid korta toppar"}).json()["why_id"]
    assert client.post(f"{url}/whys/{deeper}/causes", headers=it, json={
        "category": "Okänd kategori", "text": "x"}).status_code == 422
    assert client.post("/api/v1/analysis-categories", headers=it, json={"name": "Övning & test"}).status_code == 201
    cause = client.post(f"{url}/whys/{deeper}/causes", headers=it, json={
        "category": "Procedurer, rutiner & riktlinjer",
        "text": "Larmtröskeln är inte prövad mot verkliga lagringsfel."}).json()["cause_id"]
    cause2 = client.post(f"{url}/whys/{why}/causes", headers=it, json={
        "category": "Övning & test", "text": "Övningen mäter inte tid till reservrutin."}).json()["cause_id"]
    action = client.post(f"{url}/causes/{cause}/actions", headers=it, json={
        "description": "Pröva larmtröskeln mot inspelade lagringsfel", "owner": "Systemförvaltare",
        "deadline": "2000-01-31", "strength": "stronger", "measure": "Tid till larm under 30 s i tre övningar"})
    assert action.status_code == 201, action.text
    action_id = action.json()["action_id"]
    assert client.post(f"{url}/causes/{cause2}/actions", headers=it, json={
        "description": "Lägg till mått för reservrutin", "owner": "TIB", "deadline": "2999-12-31",
        "strength": "weaker"}).status_code == 201
    assert client.post(f"{url}/causes/{cause2}/actions", headers=it, json={
        "description": "x", "owner": "TIB", "deadline": "snart", "strength": "weaker"}).status_code == 422

    # the event sequence can be edited, added to, merged and reordered
    added = client.post(f"{url}/events", headers=it, json={
        "text": "Avdelning 12 går över till reservrutin", "at": events[-1]["at"], "number": 2}).json()
    new_id = added["event_id"]
    assert [e["id"] for e in added["analysis"]["events"]][1] == new_id
    moved = client.post(f"{url}/events/{new_id}/move", headers=it, json={"number": 1}).json()
    assert moved["events"][0]["id"] == new_id
    first, second = moved["events"][0]["id"], moved["events"][1]["id"]
    merged = client.post(f"{url}/events/{first}/merge", headers=it, json={"from_event_id": second}).json()
    assert len(merged["events"]) == len(moved["events"]) - 1
    assert merged["events"][0]["origin"] == "merged" and "Övning slow-storage" in merged["events"][0]["text"]
    client.patch(f"{url}/events/{first}", headers=it, json={"text": "Avdelning 12 går över till reservrutin; "
                                                                     "övningen startar."})
    client.patch(url, headers=it, json={"summary": "Övningen frös primärens lagring; larmet kom efter 25 s.",
                                        "consequences": "Inga patienter påverkades (övning)."})

    # overdue actions are listed for the console
    overdue = client.get("/api/v1/analyses/overdue-actions", headers=it).json()
    assert [o["action_id"] for o in overdue] == [action_id]

    # only the commissioner signs off
    assert client.post(f"{url}/sign", headers=it).status_code == 422
    chef = bearer(client, "chef")
    signed = client.post(f"{url}/sign", headers=chef)
    assert signed.status_code == 200, signed.text
    assert signed.json()["analysis"]["version"]["state"] == "signed"

    md = client.get(f"{url}/report.md", headers=it)
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    text = md.text
    assert text.startswith(f"# Händelseanalys {analysis_id}: ")
    assert "## Händelseförlopp" in text and "## Orsaker per kategori" in text and "## Åtgärdsförslag" in text
    assert "1. **H1** " in text
    assert "*Varför tog det 20 sekunder innan larmet gick?*" in text
    assert "*Varför? Kravet på 20 sekunder, varifrån kommer det?*" in text
    assert "Därför att regeln kräver att felet består i 20 sekunder." in text
    assert "Därför att regeln är satt för att undvika falsklarm" in text  # the lead is added when missing
    assert "**O1** Orsak (Övning & test): Övningen mäter inte tid till reservrutin." in text
    assert "- O2 (från H3): Larmtröskeln är inte prövad mot verkliga lagringsfel. → Å2" in text
    assert text.index("### Procedurer, rutiner & riktlinjer") < text.index("### Övning & test")
    assert "| Å2 | Pröva larmtröskeln mot inspelade lagringsfel | O2 | Systemförvaltare | 2000-01-31 | Starkare |" in text
    assert "Cecilia Lindqvist (chef)" in text and "signerad" in text
    assert "Inga patienter påverkades (övning)." in text

    pdf = client.get(f"{url}/report.pdf", headers=it)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    ptext = pdf_text(pdf.content)
    for expected in ("Händelseanalys", "Händelseförlopp", "Varför tog det 20 sekunder innan larmet gick?",
                     "Procedurer, rutiner & riktlinjer", "Pröva larmtröskeln", "Starkare", "Sammanfattning",
                     "Övningen frös primärens lagring"):
        assert expected in ptext, expected
    english = client.get(f"{url}/report.md?lang=en", headers=it).text
    assert "## Sequence of events" in english and "Because regeln är satt" in english

    # after sign-off the action's progress is followed up; the signed content stays
    done = client.post(f"{url}/actions/{action_id}/follow-up", headers=it,
                       json={"status": "done", "note": "Prövad i övning 2"})
    assert done.status_code == 200, done.text
    assert client.get("/api/v1/analyses/overdue-actions", headers=it).json() == []
    assert "| Tid till larm under 30 s i tre övningar | Genomförd |" in client.get(f"{url}/report.md", headers=it).text
    assert client.post(f"{url}/actions/{action_id}/follow-up", headers=it,
                       json={"status": "finished"}).status_code == 422

    # every change was recorded, with who
    everything = client.get(f"{url}/changes", headers=it).json()
    log = [c for c in everything if c["action"] != "report exported"]
    assert [c["action"] for c in log][:1] == ["started"] and log[-1]["action"] == "action followed up"
    assert {"action": "signed", "who": "chef"}.items() <= log[-2].items()
    exported = [c["detail"] for c in everything if c["action"] == "report exported"]  # who read which report
    assert "md, version 1" in exported and "pdf, version 1" in exported
    assert {c["who"] for c in log} == {"it", "chef"}
    kinds = [event.kind for _, event in events_file.read(service.var_dir)]
    assert "analysis.started" in kinds and "analysis.signed" in kinds


def test_signed_version_is_read_only_and_amendment_makes_version_2(client: httpx.Client, service: OpsService) -> None:
    analysis_id, it, analysis = build(client, service)
    url = f"/api/v1/analyses/{analysis_id}"
    event_id = analysis["events"][0]["id"]
    why = client.post(f"{url}/events/{event_id}/whys", headers=it, json={"question": "Varför?", "answer": "Därför."})
    why_id = why.json()["why_id"]
    client.patch(url, headers=it, json={"summary": "Kort."})
    chef = bearer(client, "chef")
    assert client.post(f"{url}/sign", headers=chef).status_code == 200

    refused = [
        client.patch(url, headers=it, json={"summary": "Ändrad"}),
        client.post(f"{url}/events", headers=it, json={"text": "Ny"}),
        client.patch(f"{url}/events/{event_id}", headers=it, json={"text": "Ändrad"}),
        client.post(f"{url}/events/{event_id}/whys", headers=it, json={"question": "Varför igen?"}),
        client.patch(f"{url}/whys/{why_id}", headers=it, json={"answer": "Annat"}),
        client.delete(f"{url}/events/{event_id}", headers=it),
        client.post(f"{url}/sign", headers=chef),
    ]
    for answer in refused:
        assert answer.status_code == 409, answer.text
        assert "signed and read-only" in answer.json()["detail"] and "amend" in answer.json()["detail"]
    assert client.get(url, headers=it).json()["version"]["summary"] == "Kort."

    assert client.post(f"{url}/amend", headers=it, json={"reason": ""}).status_code == 422
    amended = client.post(f"{url}/amend", headers=it, json={"reason": "Ny information från leverantören"})
    assert amended.status_code == 201
    v2 = amended.json()
    assert v2["version"]["number"] == 2 and v2["version"]["state"] == "draft"
    assert v2["versions"] == [[1, "signed"], [2, "draft"]]
    assert [e["text"] for e in v2["events"]] == [e["text"] for e in analysis["events"]]
    assert v2["events"][0]["whys"][0]["question"] == "Varför?"
    new_why = v2["events"][0]["whys"][0]["id"]
    assert new_why != why_id
    assert client.patch(f"{url}/whys/{new_why}", headers=it, json={"answer": "Därför att annat."}).status_code == 200
    assert client.patch(f"{url}/whys/{why_id}", headers=it, json={"answer": "x"}).status_code == 409

    # the signed version stays readable as it was signed
    v1 = client.get(f"{url}?version=1", headers=it).json()
    assert v1["version"]["state"] == "signed" and v1["events"][0]["whys"][0]["answer"] == "Därför."
    assert "Därför att annat." in client.get(f"{url}/report.md?version=2", headers=it).text
    assert "Därför att annat." not in client.get(f"{url}/report.md?version=1", headers=it).text
    assert client.get(f"{url}?version=3", headers=it).status_code == 404
    changed = [c for c in analyses.changes(service.store, analysis_id) if c["action"] != "report exported"]
    assert [(c["version"], c["action"]) for c in changed][-3:] == [(1, "signed"), (2, "amended"), (2, "why edited")]


def test_an_analysis_starts_only_from_a_resolved_incident(client: httpx.Client, service: OpsService) -> None:
    it = bearer(client, "it")
    opened = client.post("/api/v1/incidents", headers=it, json={"title": "Läskopian nere", "classification": 2})
    incident_id = opened.json()["id"]
    answer = client.post("/api/v1/analyses", headers=it, json={
        "incident_id": incident_id, "commissioner": "chef", "leader": "L"})
    assert answer.status_code == 422 and "resolve" in answer.json()["detail"]
    client.post(f"/api/v1/incidents/{incident_id}/state", headers=it, json={"state": "resolved"})
    unknown = client.post("/api/v1/analyses", headers=it, json={
        "incident_id": incident_id, "commissioner": "nobody", "leader": "L"})
    assert unknown.status_code == 422 and "ops console user" in unknown.json()["detail"]
    assert client.get("/api/v1/analyses", headers=it).json() == []  # nothing half-made
    assert client.post("/api/v1/analyses", json={"incident_id": incident_id, "commissioner": "chef",
                                                 "leader": "L"}).status_code == 401
