"""The status service inside the ops service: who may issue, the append-only record, system
events for the incident timeline, and delivery to nodes, webhooks and e-mail with retries."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from obruten.ops import incidents, timeline, users
from obruten.ops.service import OpsService
from obruten.ops.status_service import NotAllowed, StatusIssuer, StatusSettings, current, deliveries, history
from obruten.platform import events

from .conftest import trust


def make_issuer(service: OpsService, tmp_path: Path, **targets: tuple[str, ...]) -> StatusIssuer:
    issuer = StatusIssuer(service.store, service.var_dir, StatusSettings(key_file=tmp_path / "ops-key.pem", **targets))
    service.status_issuer = issuer  # what the routes use
    return issuer


def who(service: OpsService, username: str):  # type: ignore[no-untyped-def]
    session = users.authenticate(service.store, username, "demo")
    assert session is not None
    return session


def test_only_tib_or_systemforvaltare_on_duty_may_issue(service: OpsService, tmp_path: Path) -> None:
    issuer = make_issuer(service, tmp_path)
    now = service.clock.now()
    with pytest.raises(NotAllowed, match="officer on duty"):
        issuer.issue(who(service, "it"), mode="storning", headline="x", routine="", reason="test", now=now)
    doc, _ = issuer.issue(who(service, "sysf"), mode="storning", headline="Långsam journal", routine="",
                          reason="Larm journal-write", now=now)
    assert doc.issuer_role == "Systemförvaltare" and doc.issuer_name == "Sara Förvaltare"
    doc2, _ = issuer.issue(who(service, "tib"), mode="reservrutin", headline="Journalen nere", routine="RR-1",
                           reason="Beslut TIB", now=now)
    assert doc2.version > doc.version and doc2.issuer_role.startswith("TIB")
    with pytest.raises(ValueError, match="why"):
        issuer.issue(who(service, "tib"), mode="normal", headline="", routine="", reason="", now=now)
    assert [h["issued_by"] for h in history(service.store)] == ["tib", "sysf"]
    assert current(service.store).version == doc2.version


def test_record_is_append_only(service: OpsService, tmp_path: Path) -> None:
    issuer = make_issuer(service, tmp_path)
    issuer.issue(who(service, "tib"), mode="storning", headline="x", routine="", reason="test",
                 now=service.clock.now())
    refused = (sqlite3.DatabaseError, psycopg.Error)  # the ops store runs on SQLite or PostgreSQL
    with pytest.raises(refused, match="append-only"):
        service.store.execute("UPDATE status_message SET reason = 'ändrat i efterhand'")
    with pytest.raises(refused, match="append-only"):
        service.store.execute("DELETE FROM status_message")


def test_mode_change_is_a_system_event_on_the_incident_timeline(service: OpsService, tmp_path: Path) -> None:
    issuer = make_issuer(service, tmp_path)
    now = service.clock.now()
    incident = incidents.open_incident(service.store, service.var_dir, title="Journalen nere", classification=1,
                                       by="tib", now=now)
    service.clock.advance(seconds=30)  # type: ignore[attr-defined]
    issuer.issue(who(service, "tib"), mode="normal", headline="AVD12 på reservrutin", routine="RR-1",
                 unit_modes={"AVD12": "reservrutin"}, reason="Beslut TIB", now=service.clock.now())
    kinds = [e.kind for _, e in events.read(service.var_dir)]
    assert "status.issued" in kinds and "mode.changed" in kinds
    service.step([])  # the ops loop takes in system events
    entries = timeline.entries(service.store, incident)
    changed = [e for e in entries if e["kind"] == "mode.changed"]
    assert changed and "AVD12 normal → reservrutin" in changed[0]["summary"]
    assert {link["kind"] for link in incidents.links(service.store, incident)} >= {"status.issued", "mode.changed"}


def test_delivery_to_webhook_email_and_node_with_retry(service: OpsService, tmp_path: Path, smtp, receiver,
                                                       own_journal_server) -> None:
    _, mailbox = smtp
    issuer = make_issuer(service, tmp_path, webhook_urls=(receiver.url + "/status",), email_to=("alla@region.test",),
                         push_urls=(own_journal_server.base,))
    trust(own_journal_server.var_dir, issuer.key)
    # versions are at least the issue time: the test clock moved past the wall clock (a journal of its
    # own, so the shared one never holds this version from the future)
    service.clock.advance(seconds=(datetime.now(UTC) - service.clock.now()).total_seconds() + 3600)  # type: ignore[attr-defined]
    receiver.fail = True  # the first webhook attempt fails
    doc, said = issuer.issue(who(service, "tib"), mode="storning", headline="Journalen svarar långsamt",
                             routine="Fortsätt dokumentera, spara ofta", reason="Larm", now=service.clock.now())
    assert "3 deliveries queued" in said[0]
    service.deliver()
    rows = {d["channel"] + ":" + d["address"]: d for d in deliveries(service.store)}
    hook = rows[f"webhook:{receiver.url}/status"]
    assert hook["state"] == "pending" and hook["attempts"] == 1 and "503" in hook["last_error"]
    assert rows["email:alla@region.test"]["state"] == "sent"
    assert rows[f"webhook:{own_journal_server.base}/api/v1/status"]["state"] == "sent"
    mail = mailbox.messages[-1]
    assert "Journalen svarar långsamt" in mail["subject"] and "Fortsätt dokumentera" in mail["body"]
    shown = httpx.get(own_journal_server.base + "/api/v1/status").json()["document"]
    assert shown["version"] == doc.version and shown["headline"] == "Journalen svarar långsamt"

    receiver.fail = False
    service.deliver()  # not due yet: nothing is sent before the pause
    assert receiver.at("/status") == []
    service.clock.advance(seconds=16)  # type: ignore[attr-defined]
    service.deliver()
    [posted] = receiver.at("/status")
    assert posted["document"]["version"] == doc.version and posted["document"]["signature"] == doc.signature
    attempts = service.store.all("SELECT ok FROM delivery_attempt WHERE notification_id = ? ORDER BY id",
                                 (hook["id"],))
    assert [a["ok"] for a in attempts] == [0, 1]


def test_api_and_console(service: OpsService, live, tmp_path: Path, http) -> None:
    make_issuer(service, tmp_path)
    client = http(live.base)
    assert client.get("/api/v1/status").json() == {"document": None, "mode": "normal"}
    body = {"mode": "reservrutin", "headline": "Journalen nere", "routine": "RR-1", "reason": "Beslut",
            "next_update": "30m", "affected_systems": ["journal"]}
    assert client.post("/api/v1/status/issue", json=body).status_code == 401
    token = client.post("/api/v1/session", json={"username": "it", "password": "demo"}).json()["token"]
    r = client.post("/api/v1/status/issue", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and "officer on duty" in r.json()["detail"]
    token = client.post("/api/v1/session", json={"username": "tib", "password": "demo"}).json()["token"]
    r = client.post("/api/v1/status/issue", json={**body, "routine": ""}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422 and "routine" in r.json()["detail"]
    r = client.post("/api/v1/status/issue", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    assert client.get("/api/v1/status").json()["document"]["version"] == r.json()["document"]["version"]

    web = http(live.base)
    assert web.post("/login", data={"username": "tib", "password": "demo"}).status_code == 303
    page = web.get("/console/status")
    assert page.status_code == 200 and 'id="status-banner"' in page.text and "RR-1" in page.text
    console = web.get("/console").text
    assert 'id="status-banner"' in console and 'href="/console/status"' in console  # same banner, and a link
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    r = web.post("/console/status", data={"csrf": csrf, "mode": "efterregistrering", "headline": "Journalen uppe",
                                          "reason": "Åter i drift", "next_update": "2h", "unit_modes": ""})
    assert r.status_code == 303
    assert client.get("/api/v1/status").json()["mode"] == "efterregistrering"
    r = web.post("/console/status", data={"csrf": csrf, "mode": "normal", "reason": "x", "unit_modes": "AVD1"})
    assert r.status_code == 422 and "UNIT=mode" in r.text

