"""The ops service's JSON API, ``/healthz`` and ``/metrics``. Handlers stay thin: they check who
asks (``Who`` from ``ops.http``) and call the domain modules.

API clients authenticate with ``POST /api/v1/session`` and then send ``Authorization: Bearer
<token>``; ward agents report with the configured agent token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from obruten.ops import alarms, incidents, notifications, preparedness, timeline, users
from obruten.ops.clock import iso
from obruten.ops.http import Ops, Who
from obruten.ops.probe_local import report_ward_agent
from obruten.platform.auth import same_secret
from obruten.platform.fields import Id, Line, Moment, Text
from obruten.platform.metrics import CONTENT_TYPE


class Login(BaseModel):
    username: Line
    password: Line


class NewIncident(BaseModel):
    title: Line = Field(min_length=1, max_length=300)
    classification: int = Field(ge=1, le=4)
    affected_systems: list[Line] = []
    affected_units: list[Line] = []


class Entry(BaseModel):
    summary: Text = Field(min_length=1, max_length=4000)


class StateChange(BaseModel):
    state: Line
    note: Text = ""


class LevelChange(BaseModel):
    level: Line
    reason: Text = Field(min_length=1, max_length=2000)
    incident_id: Id | None = None


class WardReport(BaseModel):
    unit: Line = Field(min_length=1, max_length=80)
    agent: Line = Field(min_length=1, max_length=120)
    kit_generated_at: Moment | None = None


def _alarm_json(a: alarms.Alarm) -> dict[str, object]:
    return {"id": a.id, "rule": a.rule, "severity": a.severity, "state": a.state, "summary": a.summary,
            "chain": a.chain, "step": a.step + 1, "round": a.round + 1, "opened_at": iso(a.opened_at),
            "acked_at": iso(a.acked_at) if a.acked_at else None, "acked_by": a.acked_by,
            "resolved_at": iso(a.resolved_at) if a.resolved_at else None, "incident_id": a.incident_id}


router = APIRouter()


@router.get("/healthz")
def healthz(service: Ops) -> dict[str, object]:
    return {"ok": True, "service": "ops", "now": iso(service.clock.now())}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(service: Ops) -> PlainTextResponse:
    return PlainTextResponse(service.metrics.render(), media_type=CONTENT_TYPE)


@router.post("/api/v1/session")
def login(service: Ops, body: Login) -> dict[str, str]:
    session = users.authenticate(service.store, body.username, body.password)
    if session is None:
        raise HTTPException(401, "wrong username or password")
    return {"token": service.signer.issue(session), "role": session.role}


@router.get("/api/v1/alarms")
def list_alarms(service: Ops, who: Who, all: bool = False) -> list[dict[str, object]]:
    found = alarms.recent(service.store) if all else alarms.active(service.store)
    return [_alarm_json(a) for a in found]


@router.get("/api/v1/alarms/{alarm_id}")
def show_alarm(service: Ops, alarm_id: Id, who: Who) -> dict[str, object]:
    alarm = alarms.get(service.store, alarm_id)
    if alarm is None:
        raise HTTPException(404, f"no alarm {alarm_id}")
    return {**_alarm_json(alarm), "transitions": alarms.transitions(service.store, alarm_id),
            "notifications": notifications.for_alarm(service.store, alarm_id)}


@router.post("/api/v1/alarms/{alarm_id}/ack")
def ack(service: Ops, alarm_id: Id, who: Who) -> dict[str, object]:
    if alarms.get(service.store, alarm_id) is None:
        raise HTTPException(404, f"no alarm {alarm_id}")
    done = service.acknowledge(alarm_id, who.username, "api")
    return {"acknowledged": done, "alarm": _alarm_json(alarms.get(service.store, alarm_id))}  # type: ignore[arg-type]


@router.get("/api/v1/incidents")
def list_incidents(service: Ops, who: Who) -> list[dict[str, object]]:
    return [timeline.export(service.store, i.id)["incident"]
            for i in incidents.listing(service.store, include_closed=True)]


@router.post("/api/v1/incidents", status_code=201)
def new_incident(service: Ops, body: NewIncident, who: Who) -> dict[str, object]:
    incident_id = incidents.open_incident(service.store, service.var_dir, title=body.title,
                                          classification=body.classification, by=who.username,
                                          now=service.clock.now(), systems=body.affected_systems,
                                          units=body.affected_units)
    return timeline.export(service.store, incident_id)["incident"]


@router.get("/api/v1/incidents/{incident_id}/timeline")
def incident_timeline(service: Ops, incident_id: Id, who: Who) -> dict[str, object]:
    try:
        return timeline.export(service.store, incident_id)
    except KeyError as exc:
        raise HTTPException(404, f"no incident {incident_id}") from exc


@router.post("/api/v1/incidents/{incident_id}/timeline", status_code=201)
def add_entry(service: Ops, incident_id: Id, body: Entry, who: Who) -> dict[str, object]:
    if incidents.get(service.store, incident_id) is None:
        raise HTTPException(404, f"no incident {incident_id}")
    timeline.add_manual(service.store, incident_id, body.summary, who.username, service.clock.now())
    return timeline.export(service.store, incident_id)


@router.post("/api/v1/incidents/{incident_id}/state")
def incident_state(service: Ops, incident_id: Id, body: StateChange, who: Who) -> dict[str, object]:
    try:
        incidents.change_state(service.store, service.var_dir, incident_id, body.state, who.username,
                               service.clock.now(), body.note)
    except incidents.IncidentError as exc:
        raise HTTPException(409, str(exc)) from exc
    return timeline.export(service.store, incident_id)["incident"]


@router.get("/api/v1/preparedness")
def get_level(service: Ops, who: Who) -> dict[str, object]:
    level = preparedness.current(service.store)
    return {"level": level.level, "decided_by": level.decided_by, "reason": level.reason,
            "at": iso(level.at) if level.at else None, "proposals": preparedness.open_proposals(service.store),
            "history": preparedness.history(service.store)}


@router.post("/api/v1/preparedness")
def set_level(service: Ops, body: LevelChange, who: Who) -> dict[str, str]:
    if who.role != "tib":
        raise HTTPException(403, "only the officer on duty (tib) decides the preparedness level")
    try:
        sentence = preparedness.decide(service.store, service.var_dir, body.level, who=who.username,
                                       reason=body.reason, now=service.clock.now(), incident_id=body.incident_id)
    except preparedness.PreparednessError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"said": sentence}


@router.post("/api/v1/ward-agents/report", status_code=204)
def ward_report(service: Ops, body: WardReport, authorization: Annotated[str | None, Header()] = None) -> None:
    token = service.settings.agent_token
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not token or not same_secret(given, token):
        raise HTTPException(401, "ward agents report with the configured agent token")
    report_ward_agent(service.store, body.unit, body.agent, body.kit_generated_at, service.clock.now())

