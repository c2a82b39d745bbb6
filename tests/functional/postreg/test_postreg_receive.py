"""The journal receives downtime batches over real HTTP: exactly once per key, all or nothing."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from obruten.platform import events
from obruten.wardkit import tokens
from postreg_helpers import administration, agent_token, batch, note, nurse_unit, patient_with_order, received


@pytest.fixture(scope="module")
def unit(journal_server) -> str:
    return nurse_unit(journal_server.db_url)


@pytest.fixture(scope="module")
def agent(journal_server, unit):
    with httpx.Client(base_url=journal_server.base, timeout=10,
                      headers={"Authorization": f"Bearer {agent_token(journal_server.var_dir, unit)}"}) as client:
        yield client


def test_batch_is_acknowledged_and_a_resend_does_not_double(journal_server, unit, agent) -> None:
    patient, order, _ = patient_with_order(journal_server.db_url, unit)
    entries = [administration(patient, order), note(patient, "Sov oroligt, fick extra filt.")]
    body = batch(unit, entries)
    before = sum(1 for _, e in events.read(journal_server.var_dir) if e.kind == "postreg.received")
    r = agent.post("/api/v1/postreg/batches", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["received"] == 2 and set(r.json()["acknowledged"]) == {e["key"] for e in entries}
    again = agent.post("/api/v1/postreg/batches", json={**body, "batch_id": batch(unit, entries)["batch_id"]})
    assert again.status_code == 201 and again.json()["received"] == 0 and again.json()["already"] == 2
    delivered = [e for _, e in events.read(journal_server.var_dir) if e.kind == "postreg.received"]
    assert len(delivered) == before + 1 and delivered[-1].data["received"] == 2  # none for the resend
    assert received(journal_server.db_url, [e["key"] for e in entries]) == 2
    with psycopg.connect(journal_server.db_url) as c:
        states = c.execute("SELECT s.state, count(*) FROM postreg_state_change s JOIN postreg_entry e ON e.id = s.entry"
                           " WHERE e.idempotency_key = ANY(%s::uuid[]) GROUP BY 1",
                           ([e["key"] for e in entries],)).fetchall()
    assert states == [("pending", 2)]
    r = agent.post("/api/v1/postreg/states", json={"keys": [e["key"] for e in entries], "unit_id": unit,
                                                   "device_id": "agent-test"})
    assert {s["state"] for s in r.json()["states"].values()} == {"pending"}


def test_one_bad_entry_refuses_the_whole_batch_and_names_it(journal_server, unit, agent) -> None:
    patient, order, _ = patient_with_order(journal_server.db_url, unit)
    good = administration(patient, order)
    bad = administration(patient, "00000000-0000-4000-8000-000000000000")
    r = agent.post("/api/v1/postreg/batches", json=batch(unit, [good, bad]))
    assert r.status_code == 422
    problems = r.json()["details"]["problems"]
    assert [p["key"] for p in problems] == [bad["key"]] and "no medication order" in problems[0]["error"]
    assert "nothing from this batch was kept" in r.json()["error"]
    assert received(journal_server.db_url, [good["key"], bad["key"]]) == 0


def test_same_key_with_other_content_is_a_conflict(journal_server, unit, agent) -> None:
    patient, order, _ = patient_with_order(journal_server.db_url, unit)
    first = note(patient, "Första versionen")
    assert agent.post("/api/v1/postreg/batches", json=batch(unit, [first])).status_code == 201
    changed = {**first, "note": {"kind": "omvardnad", "body": "Annan text"}}
    r = agent.post("/api/v1/postreg/batches", json=batch(unit, [changed]))
    assert r.status_code == 409 and r.json()["details"]["problems"][0]["key"] == first["key"]


@pytest.mark.parametrize("mutate, status", [
    (lambda e: e.update(clinical_at="2026-01-01T10:00:00"), 422),          # no time zone
    (lambda e: e.update(kind="note"), 422),                                  # kind and content disagree
    (lambda e: e["administration"].update(outcome="not_given"), 422),        # not given needs a reason
    (lambda e: e.update(key="not-a-uuid"), 422),
])
def test_malformed_entries_are_refused(journal_server, unit, agent, mutate, status) -> None:
    patient, order, _ = patient_with_order(journal_server.db_url, unit)
    entry = administration(patient, order)
    mutate(entry)
    r = agent.post("/api/v1/postreg/batches", json=batch(unit, [entry]))
    assert r.status_code == status, r.text
    assert received(journal_server.db_url, [entry["key"]]) == 0 if entry["key"] != "not-a-uuid" else True


def test_tokens_are_checked(journal_server, unit) -> None:
    patient, order, _ = patient_with_order(journal_server.db_url, unit)
    body = batch(unit, [administration(patient, order)])
    with httpx.Client(base_url=journal_server.base, timeout=10) as c:
        assert c.post("/api/v1/postreg/batches", json=body).status_code == 401
        forged = tokens.token_for("another-secret", unit)
        r = c.post("/api/v1/postreg/batches", json=body, headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401 and "obruten wardkit agent-token --unit" in r.json()["error"]
        other = agent_token(journal_server.var_dir, "some-other-unit")
        r = c.post("/api/v1/postreg/batches", json=body, headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 401
    assert received(journal_server.db_url, [body["entries"][0]["key"]]) == 0
