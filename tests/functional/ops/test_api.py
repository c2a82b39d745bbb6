"""The ops HTTP API, the signed acknowledgement link, /metrics and ward-agent reports."""

from __future__ import annotations

import re

import httpx

from metrics_page import value
from obruten.ops import alarms, notifications
from obruten.ops.findings import Finding
from obruten.ops.service import OpsService

from .conftest import Live as LiveServer


def _fire(service: OpsService) -> alarms.Alarm:
    for _ in range(2):
        service.step([Finding("storage", "path:wal", "down", 3.0, "3 % free", service.clock.now())])
        service.clock.advance(seconds=61)  # type: ignore[attr-defined]
    return next(a for a in alarms.active(service.store) if a.rule == "storage-critical")


def _token(client: httpx.Client, user: str) -> dict[str, str]:
    resp = client.post("/api/v1/session", json={"username": user, "password": "demo"})
    assert resp.status_code == 200
    return {"Authorization": f"Bearer {resp.json()['token']}"}


def test_api_acknowledges_and_records_who(service: OpsService, live, http) -> None:
    alarm = _fire(service)
    client = http(live.base)
    assert client.get("/api/v1/alarms").status_code == 401
    assert client.post("/api/v1/session", json={"username": "it", "password": "wrong"}).status_code == 401
    it = _token(client, "it")
    assert [a["id"] for a in client.get("/api/v1/alarms", headers=it).json()] == [alarm.id]
    body = client.post(f"/api/v1/alarms/{alarm.id}/ack", headers=it).json()
    assert body["acknowledged"] and body["alarm"]["acked_by"] == "it"
    assert client.post(f"/api/v1/alarms/{alarm.id}/ack", headers=it).json()["acknowledged"] is False
    shown = client.get(f"/api/v1/alarms/{alarm.id}", headers=it).json()
    assert [t["action"] for t in shown["transitions"]] == ["fired", "notified", "acknowledged"]


def test_signed_link_acknowledges_as_that_person_only_on_post(service: OpsService, live, http) -> None:
    alarm = _fire(service)
    client = http(live.base)
    link = notifications.ack_link(service.signer, live.base, alarm.id, 1)
    path = link.removeprefix(live.base)
    page = client.get(path)
    assert page.status_code == 200 and "Kvittera som Ida Jour" in page.text
    assert alarms.get(service.store, alarm.id).state == "firing"  # type: ignore[union-attr]
    forged = re.sub(r"/[^/]+$", "/forged", path)
    assert client.post(forged).status_code == 404
    assert client.post(path).status_code == 200
    acked = alarms.get(service.store, alarm.id)
    assert acked is not None and acked.state == "acknowledged" and acked.acked_by == "it"


def test_preparedness_only_by_tib_and_incidents_by_hand(service: OpsService, live, http) -> None:
    client = http(live.base)
    it, tib = _token(client, "it"), _token(client, "tib")
    change = {"level": "stabsläge", "reason": "Övning"}
    assert client.post("/api/v1/preparedness", json=change, headers=it).status_code == 403
    assert client.post("/api/v1/preparedness", json=change, headers=tib).status_code == 200
    assert client.get("/api/v1/preparedness", headers=it).json()["level"] == "stabsläge"
    made = client.post("/api/v1/incidents", headers=it, json={"title": "Kyla i serverhall", "classification": 2,
                                                               "affected_units": ["AVD12"]})
    assert made.status_code == 201
    incident_id = made.json()["id"]
    client.post(f"/api/v1/incidents/{incident_id}/timeline", headers=it, json={"summary": "Fläkt bytt"})
    exported = client.get(f"/api/v1/incidents/{incident_id}/timeline", headers=it).json()
    assert exported["incident"]["affected_units"] == ["AVD12"]
    assert exported["timeline"][-1] == {**exported["timeline"][-1], "summary": "Fläkt bytt", "manual": True}
    assert client.post(f"/api/v1/incidents/{incident_id}/state", headers=it,
                       json={"state": "closed"}).status_code == 409


def test_metrics_and_ward_agent_reports(make_service) -> None:
    service: OpsService = make_service(agent_token="agent-secret")
    server = LiveServer(service)
    client = httpx.Client(base_url=server.base, timeout=10)
    report = {"unit": "AVD12", "agent": "avd12-pc", "kit_generated_at": "2025-01-15T01:00:00Z"}
    assert client.post("/api/v1/ward-agents/report", json=report).status_code == 401
    assert client.post("/api/v1/ward-agents/report", json=report,
                       headers={"Authorization": "Bearer agent-secret"}).status_code == 204
    from obruten.ops.probe_local import WardKitProbe

    findings = WardKitProbe(service.store).check(service.clock.now())
    by_target = {f.target: f for f in findings}
    assert by_target["agent:AVD12"].status == "ok"
    assert by_target["unit:AVD12"].status == "slow" and by_target["unit:AVD12"].value == 60.0
    service.step(findings)
    text = client.get("/metrics").text
    assert value(text, "obruten_probe_status", probe="ward_kits", target="unit:AVD12") == 1
    assert value(text, "obruten_probe_value", probe="ward_kits", target="unit:AVD12") == 60
    assert "# TYPE obruten_ops_alarms_firing gauge" in text
    assert value(text, "obruten_ops_alarms_firing", severity="critical") >= 0
    assert "obruten_read_copy_lag_seconds" not in text, "never measured: absent, not 0"
    client.close()
    server.close()


def test_failed_delivery_is_recorded_and_retried(service: OpsService, receiver) -> None:
    receiver.fail = True
    alarm = _fire(service)
    said = service.deliver()
    assert any("failed (attempt 1)" in s and "/hook" in s for s in said)
    hooks = [n for n in notifications.for_alarm(service.store, alarm.id) if n["channel"] == "webhook"]
    assert hooks[0]["state"] == "pending" and hooks[0]["attempts"] == 1
    receiver.fail = False
    service.deliver()
    assert not receiver.at("/hook"), "a retry waits for its pause"
    service.clock.advance(seconds=16)  # type: ignore[attr-defined]
    service.deliver()
    assert [b["alarm_id"] for b in receiver.at("/hook")] == [alarm.id]
    hooks = [n for n in notifications.for_alarm(service.store, alarm.id) if n["channel"] == "webhook"]
    assert hooks[0]["state"] == "sent" and hooks[0]["attempts"] == 2
