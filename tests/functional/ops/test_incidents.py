"""Incidents, preparedness and the timeline: opened by a critical alarm, filled from system
events, exported in the agreed JSON shape; raising and standing down are recorded decisions."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from obruten.ops import alarms, incidents, preparedness, timeline
from obruten.ops.findings import Finding
from obruten.ops.service import OpsService
from obruten.platform import events


def _outage(service: OpsService) -> alarms.Alarm:
    for _ in range(2):
        service.step([Finding("journal_write", "primary", "down", None, "connection refused", service.clock.now())])
        service.clock.advance(seconds=25)  # type: ignore[attr-defined]
    return next(a for a in alarms.active(service.store) if a.rule == "journal-write")


def test_journal_outage_opens_incident_and_proposes_stabslage(service: OpsService) -> None:
    alarm = _outage(service)
    assert alarm.incident_id is not None
    inc = incidents.get(service.store, alarm.incident_id)
    assert inc is not None and inc.state == "open" and inc.auto and inc.classification == 1
    [proposal] = preparedness.open_proposals(service.store)
    assert proposal["level"] == "stabsläge" and proposal["incident_id"] == inc.id
    proposal_alarm = alarms.get(service.store, int(proposal["alarm_id"]))  # type: ignore[arg-type]
    assert proposal_alarm is not None and proposal_alarm.chain == "tib" and proposal_alarm.step == 0


def test_a_second_critical_alarm_joins_the_open_incident(service: OpsService) -> None:
    first = _outage(service)
    for _ in range(2):
        service.step([Finding("read_copy", "read_copy", "down", None, "timeout", service.clock.now())])
        service.clock.advance(seconds=35)  # type: ignore[attr-defined]
    second = next(a for a in alarms.active(service.store) if a.rule == "read-copy-down")
    assert second.incident_id == first.incident_id
    assert len(incidents.listing(service.store)) == 1


def test_tib_decision_accepts_the_proposal_and_standing_down_is_separate(service: OpsService) -> None:
    alarm = _outage(service)
    now = service.clock.now()
    sentence = preparedness.decide(service.store, service.var_dir, "stabsläge", who="tib", reason="Journalen nere",
                                   now=now, incident_id=alarm.incident_id)
    assert sentence == "Beredskapsläge höjt: normalläge → stabsläge, beslut av tib: Journalen nere"
    assert preparedness.open_proposals(service.store) == []
    assert preparedness.current(service.store).level == "stabsläge"
    incidents.change_state(service.store, service.var_dir, alarm.incident_id, "resolved", "it", now)  # type: ignore[arg-type]
    assert preparedness.current(service.store).level == "stabsläge", "resolving does not stand down"
    preparedness.decide(service.store, service.var_dir, "normalläge", who="tib", reason="Återgång", now=now)
    history = preparedness.history(service.store)
    assert [(h["level"], h["decided_by"], h["reason"]) for h in history] == [
        ("normalläge", "tib", "Återgång"), ("stabsläge", "tib", "Journalen nere")]
    with pytest.raises(preparedness.PreparednessError):
        preparedness.decide(service.store, service.var_dir, "stabsläge", who="tib", reason=" ", now=now)


def test_timeline_export_has_the_agreed_shape(service: OpsService) -> None:
    alarm = _outage(service)
    events.emit(service.var_dir, "cluster.failover", "pg2 promoted", "cluster", member="pg2")
    events.emit(service.var_dir, "status.issued", "Journalen ur drift", "status", id=17)
    service.step([])
    timeline.add_manual(service.store, alarm.incident_id, "Ringde leverantören", "it", service.clock.now())  # type: ignore[arg-type]
    service.acknowledge(alarm.id, "it", "api")
    exported = timeline.export(service.store, alarm.incident_id)  # type: ignore[arg-type]
    json.dumps(exported)  # serialisable as is
    assert set(exported) == {"incident", "timeline"}
    inc = exported["incident"]
    assert set(inc) == {"id", "title", "classification", "state", "opened_at", "resolved_at",  # type: ignore[arg-type]
                        "affected_systems", "affected_units"}
    assert inc["resolved_at"] is None and inc["affected_systems"] == ["journal"]  # type: ignore[index]
    entries = exported["timeline"]
    for e in entries:  # type: ignore[attr-defined]
        assert set(e) == {"at", "kind", "summary", "source", "manual"}
        assert datetime.fromisoformat(e["at"]).utcoffset().total_seconds() == 0
    kinds = [e["kind"] for e in entries]  # type: ignore[attr-defined]
    for kind in ("alarm.fired", "incident.opened", "alarm.notified", "preparedness.proposed",
                 "cluster.failover", "status.issued", "note", "alarm.acknowledged"):
        assert kind in kinds
    manual = [e for e in entries if e["manual"]]  # type: ignore[attr-defined]
    assert [m["summary"] for m in manual] == ["Ringde leverantören"]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)  # type: ignore[attr-defined]
    assert incidents.links(service.store, alarm.incident_id)[0]["ref"] == "17"  # type: ignore[arg-type]


def test_incident_states_move_forward_and_are_checked(service: OpsService) -> None:
    now = service.clock.now()
    incident_id = incidents.open_incident(service.store, service.var_dir, title="Skrivare", classification=4,
                                          by="it", now=now, units=["AVD12"])
    with pytest.raises(incidents.IncidentError):
        incidents.change_state(service.store, service.var_dir, incident_id, "closed", "it", now)
    for state in ("mitigated", "resolved", "closed"):
        incidents.change_state(service.store, service.var_dir, incident_id, state, "it", now)
    assert incidents.get(service.store, incident_id).state == "closed"  # type: ignore[union-attr]
    with pytest.raises(incidents.IncidentError):
        incidents.open_incident(service.store, service.var_dir, title="x", classification=5, by="it", now=now)


def test_alarms_deduplicate_and_resolve_when_the_condition_clears(service: OpsService) -> None:
    service.step([Finding("read_copy", "read_copy", "slow", 30.0, "replay lag 30 s", service.clock.now())])
    service.clock.advance(seconds=61)  # type: ignore[attr-defined]
    for _ in range(3):
        service.step([Finding("read_copy", "read_copy", "slow", 31.0, "replay lag 31 s", service.clock.now())])
    [alarm] = [a for a in alarms.active(service.store) if a.rule == "read-copy-lag"]
    assert alarm.seen == 3 and alarm.severity == "major" and alarm.incident_id is None
    service.step([Finding("read_copy", "read_copy", "ok", 0.5, "replay lag 0.5 s", service.clock.now())])
    assert alarms.get(service.store, alarm.id).state == "firing", "one good reading does not clear it"  # type: ignore[union-attr]
    service.clock.advance(seconds=61)  # type: ignore[attr-defined]
    service.step([Finding("read_copy", "read_copy", "ok", 0.4, "replay lag 0.4 s", service.clock.now())])
    done = alarms.get(service.store, alarm.id)
    assert done is not None and done.state == "resolved" and done.resolved_by == "system"
