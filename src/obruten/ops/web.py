"""The ops console: part of the web UI for IT operations and the officer on duty (Swedish by
default, English selectable). Thin handlers: who asks (``Console``, ``Officer``: session and CSRF
token, from ``ops.http``), then the domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from obruten.ops import alarms, incidents, notifications, preparedness, timeline, users
from obruten.ops import oncall as schedule
from obruten.ops.http import COOKIE, LANG_COOKIE, Console, Officer, Ops, back, lang_of, render, split
from obruten.ops.service import OpsService
from obruten.platform.auth import Session
from obruten.platform.fields import Id
from obruten.platform.i18n import LANGUAGES, translator

router = APIRouter()


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return back()


@router.get("/lang/{code}")
def set_lang(code: str, request: Request) -> Response:
    resp = back(request.headers.get("referer", "/console") if code in LANGUAGES else "/console")
    if code in LANGUAGES:
        resp.set_cookie(LANG_COOKIE, code, samesite="strict", httponly=True)
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return render(request, "login.html", error=None)


@router.post("/login")
def login(request: Request, service: Ops, username: Annotated[str, Form()],
          password: Annotated[str, Form()]) -> Response:
    session = users.authenticate(service.store, username, password)
    if session is None:
        return render(request, "login.html", status=401,
                      error=translator(lang_of(request, service))("ops.login.wrong"))
    resp = back()
    resp.set_cookie(COOKIE, service.signer.issue(session), httponly=True, samesite="strict")
    return resp


@router.post("/logout")
def logout() -> Response:
    resp = back("/login")
    resp.delete_cookie(COOKIE)
    return resp


@router.get("/console", response_class=HTMLResponse)
def console(request: Request, service: Ops, session: Console) -> HTMLResponse:
    store, now = service.store, service.clock.now()
    return render(request, "console.html", session=session,
                  alarms=alarms.active(store), recent=alarms.recent(store, 20),
                  findings=[dict(f) for f in store.all("SELECT * FROM finding ORDER BY probe, target")],
                  level=preparedness.current(store), levels=preparedness.LEVELS,
                  proposals=preparedness.open_proposals(store), incidents=incidents.listing(store),
                  roster=schedule.roster(store, now), roles=schedule.ROLES,
                  classification=service.settings.classification, said=list(service.said)[-15:][::-1])


@router.post("/console/alarms/{alarm_id}/ack")
def ack(alarm_id: Id, service: Ops, session: Console) -> Response:
    service.acknowledge(alarm_id, session.username, "console")
    return back()


@router.post("/console/preparedness")
def set_level(service: Ops, session: Officer, level: Annotated[str, Form()], reason: Annotated[str, Form()] = "",
              incident_id: Annotated[str, Form()] = "") -> Response:
    try:
        preparedness.decide(service.store, service.var_dir, level, who=session.username, reason=reason,
                            now=service.clock.now(), incident_id=int(incident_id) if incident_id else None)
    except preparedness.PreparednessError as exc:
        raise HTTPException(422, str(exc)) from exc
    return back()


@router.post("/console/proposals/{proposal_id}/decline")
def decline(proposal_id: Id, service: Ops, session: Officer, reason: Annotated[str, Form()] = "") -> Response:
    try:
        preparedness.decline(service.store, service.var_dir, proposal_id, who=session.username, reason=reason,
                             now=service.clock.now())
    except preparedness.PreparednessError as exc:
        raise HTTPException(422, str(exc)) from exc
    return back()


@router.post("/console/incidents")
def new_incident(service: Ops, session: Console, title: Annotated[str, Form()],
                 classification: Annotated[int, Form()], systems: Annotated[str, Form()] = "",
                 units: Annotated[str, Form()] = "") -> Response:
    try:
        incident_id = incidents.open_incident(
            service.store, service.var_dir, title=title, classification=classification, by=session.username,
            now=service.clock.now(), systems=split(systems), units=split(units))
    except incidents.IncidentError as exc:
        raise HTTPException(422, str(exc)) from exc
    return back(f"/console/incidents/{incident_id}")


@router.get("/console/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(incident_id: Id, request: Request, service: Ops, session: Console) -> HTMLResponse:
    store = service.store
    inc = incidents.get(store, incident_id)
    if inc is None:
        raise HTTPException(404, f"no incident {incident_id}")
    return render(request, "incident.html", session=session,
                  incident=inc, entries=timeline.entries(store, incident_id),
                  alarms=incidents.linked_alarms(store, incident_id), links=incidents.links(store, incident_id),
                  classification=service.settings.classification, states=incidents.STATES)


@router.post("/console/incidents/{incident_id}/entry")
def add_entry(incident_id: Id, service: Ops, session: Console, summary: Annotated[str, Form()]) -> Response:
    timeline.add_manual(service.store, incident_id, summary, session.username, service.clock.now())
    return back(f"/console/incidents/{incident_id}")


@router.post("/console/incidents/{incident_id}/state")
def change_state(incident_id: Id, service: Ops, session: Console, state: Annotated[str, Form()],
                 note: Annotated[str, Form()] = "") -> Response:
    try:
        incidents.change_state(service.store, service.var_dir, incident_id, state, session.username,
                               service.clock.now(), note)
    except incidents.IncidentError as exc:
        raise HTTPException(409, str(exc)) from exc
    return back(f"/console/incidents/{incident_id}")


@router.get("/console/incidents/{incident_id}/timeline.json")
def export(incident_id: Id, service: Ops, session: Console) -> dict[str, object]:
    try:
        return timeline.export(service.store, incident_id)
    except KeyError as exc:
        raise HTTPException(404, f"no incident {incident_id}") from exc


# ---- the on-call rota: who holds each role now and the next two weeks; add and end shifts ----
def _oncall_page(request: Request, service: OpsService, session: Session, status: int = 200,
                 error: str | None = None, form: dict[str, str] | None = None) -> HTMLResponse:
    store, now = service.store, service.clock.now()
    editable = [role for role in schedule.ROLES if schedule.may_edit(session.role, role)]
    people = store.all("SELECT id, username, full_name FROM ops_user WHERE active = 1 ORDER BY full_name")
    return render(request, "oncall.html", status=status, session=session, now=now,
                  plan=schedule.plan(store, now), roles=schedule.ROLES, editable=editable, people=people,
                  editors=schedule.EDITORS, changes=schedule.changes(store), error=error, form=form or {},
                  days=schedule.PLAN_DAYS)


@router.get("/console/oncall", response_class=HTMLResponse)
def oncall(request: Request, service: Ops, session: Console) -> HTMLResponse:
    return _oncall_page(request, service, session)


@router.post("/console/oncall/shifts", response_class=HTMLResponse)
def add_shift(request: Request, service: Ops, session: Console, role: Annotated[str, Form()] = "",
              user_id: Annotated[str, Form()] = "", starts_at: Annotated[str, Form()] = "",
              ends_at: Annotated[str, Form()] = "", allow_overlap: Annotated[str, Form()] = "") -> Response:
    t = translator(lang_of(request, service))
    form = {"role": role, "user_id": user_id, "starts_at": starts_at, "ends_at": ends_at}
    if not schedule.may_edit(session.role, role):
        return _oncall_page(request, service, session, 403,
                            t("ops.oncall.not_yours", role=schedule.ROLES.get(role, role)), form)
    try:
        if not user_id.isdigit():
            raise schedule.ShiftError("pick_person", "choose who holds the shift")
        if not starts_at.strip():
            raise schedule.ShiftError("need_start", "give the time the shift starts")
        schedule.add(service.store, service.var_dir, role=role, user_id=int(user_id),
                     starts_at=schedule.parse_local(starts_at),
                     ends_at=schedule.parse_local(ends_at) if ends_at.strip() else None,
                     who=session.username, now=service.clock.now(), allow_overlap=bool(allow_overlap))
    except schedule.ShiftError as exc:
        return _oncall_page(request, service, session, 422, t(f"ops.oncall.err.{exc.key}", **exc.values), form)
    return back("/console/oncall")


@router.post("/console/oncall/shifts/{shift_id}/end", response_class=HTMLResponse)
def end_shift(shift_id: Id, request: Request, service: Ops, session: Console,
              at: Annotated[str, Form()] = "") -> Response:
    t = translator(lang_of(request, service))
    shift = schedule.get_shift(service.store, shift_id)
    if shift is None:
        return _oncall_page(request, service, session, 404, t("ops.oncall.no_shift", id=shift_id))
    if not schedule.may_edit(session.role, shift.role):
        return _oncall_page(request, service, session, 403,
                            t("ops.oncall.not_yours", role=schedule.ROLES[shift.role]))
    now = service.clock.now()
    try:
        when = schedule.parse_local(at) if at.strip() else now
        schedule.end(service.store, service.var_dir, shift_id, at=when, who=session.username, now=now)
    except schedule.ShiftError as exc:
        return _oncall_page(request, service, session, 422, t(f"ops.oncall.err.{exc.key}", **exc.values))
    return back("/console/oncall")


# ---- the signed link in a message: a page to confirm (a GET never acknowledges, so mail
# scanners that open links do not acknowledge for the person) ----------------------------------
def _link_target(service: OpsService, alarm_id: Id, user_id: Id,
                 signature: str) -> tuple[alarms.Alarm, dict[str, object]]:
    user = users.by_id(service.store, user_id)
    alarm = alarms.get(service.store, alarm_id)
    if user is None or alarm is None or not notifications.check_ack_signature(service.signer, alarm_id, user_id,
                                                                               signature):
        raise HTTPException(404, "this acknowledgement link is not valid")
    return alarm, user


@router.get("/ack/{alarm_id}/{user_id}/{signature}", response_class=HTMLResponse)
def ack_page(alarm_id: Id, user_id: Id, signature: str, request: Request, service: Ops) -> HTMLResponse:
    alarm, user = _link_target(service, alarm_id, user_id, signature)
    return render(request, "ack.html", alarm=alarm, user=user, done=False)


@router.post("/ack/{alarm_id}/{user_id}/{signature}", response_class=HTMLResponse)
def ack_link(alarm_id: Id, user_id: Id, signature: str, request: Request, service: Ops) -> HTMLResponse:
    _, user = _link_target(service, alarm_id, user_id, signature)
    service.acknowledge(alarm_id, str(user["username"]), "signed link")
    return render(request, "ack.html", alarm=alarms.get(service.store, alarm_id), user=user, done=True)
