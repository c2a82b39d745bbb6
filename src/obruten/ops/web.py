"""The ops console: part of the web UI for IT operations and the officer on duty (Swedish by
default, English selectable). Thin handlers: check the session and CSRF token, call the domain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from obruten.ops import alarms, incidents, notifications, preparedness, timeline, users
from obruten.ops import oncall as schedule
from obruten.ops.clock import parse
from obruten.ops.service import OpsService
from obruten.platform.auth import InvalidToken, Session
from obruten.platform.i18n import LANGUAGES, local_time, translator

COOKIE = "obruten_ops"
_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]))


def _lt(value: object, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if isinstance(value, str):
        value = parse(value)
    return local_time(value, fmt)  # type: ignore[arg-type]


_env.filters["lt"] = _lt


def router(service: OpsService) -> APIRouter:
    r = APIRouter()
    store = service.store

    def lang_of(request: Request) -> str:
        lang = request.cookies.get("lang", service.settings.language)
        return lang if lang in LANGUAGES else "sv"

    def render(request: Request, name: str, status: int = 200, **ctx: object) -> HTMLResponse:
        lang = lang_of(request)
        from obruten.ops.status_api import console_banner  # the same status banner as every UI

        html = _env.get_template(name).render(t=translator(lang), lang=lang, request=request,
                                              **console_banner(store, lang), **ctx)
        return HTMLResponse(html, status_code=status)

    def session_of(request: Request) -> Session | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            return service.signer.read(token)
        except InvalidToken:
            return None

    def require(request: Request, csrf: str | None = None, role: str | None = None) -> Session:
        session = session_of(request)
        if session is None:
            raise HTTPException(303, headers={"Location": "/login"})
        if request.method == "POST" and not service.signer.check_csrf(session, csrf):
            raise HTTPException(403, "stale form; reload the page and try again")
        if role is not None and session.role != role:
            raise HTTPException(403, translator(lang_of(request))("ops.forbidden_tib"))
        return session

    def back(path: str = "/console") -> RedirectResponse:
        return RedirectResponse(path, status_code=303)

    @r.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return back()

    @r.get("/lang/{code}")
    def set_lang(code: str, request: Request) -> Response:
        resp = back(request.headers.get("referer", "/console") if code in LANGUAGES else "/console")
        if code in LANGUAGES:
            resp.set_cookie("lang", code, samesite="strict", httponly=True)
        return resp

    @r.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> HTMLResponse:
        return render(request, "login.html", error=None)

    @r.post("/login")
    def login(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()]) -> Response:
        session = users.authenticate(store, username, password)
        if session is None:
            return render(request, "login.html", status=401, error=translator(lang_of(request))("ops.login.wrong"))
        resp = back()
        resp.set_cookie(COOKIE, service.signer.issue(session), httponly=True, samesite="strict")
        return resp

    @r.post("/logout")
    def logout() -> Response:
        resp = back("/login")
        resp.delete_cookie(COOKIE)
        return resp

    @r.get("/console", response_class=HTMLResponse)
    def console(request: Request) -> HTMLResponse:
        session = require(request)
        now = service.clock.now()
        return render(request, "console.html", session=session, csrf=service.signer.csrf_token(session),
                      alarms=alarms.active(store), recent=alarms.recent(store, 20),
                      findings=[dict(f) for f in store.all("SELECT * FROM finding ORDER BY probe, target")],
                      level=preparedness.current(store), levels=preparedness.LEVELS,
                      proposals=preparedness.open_proposals(store), incidents=incidents.listing(store),
                      roster=schedule.roster(store, now), roles=schedule.ROLES,
                      classification=service.settings.classification, said=list(service.said)[-15:][::-1])

    @r.post("/console/alarms/{alarm_id}/ack")
    def ack(alarm_id: int, request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        session = require(request, csrf)
        service.acknowledge(alarm_id, session.username, "console")
        return back()

    @r.post("/console/preparedness")
    def set_level(request: Request, level: Annotated[str, Form()], reason: Annotated[str, Form()] = "",
                  incident_id: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
        session = require(request, csrf, role="tib")
        try:
            preparedness.decide(store, service.var_dir, level, who=session.username, reason=reason,
                                now=service.clock.now(), incident_id=int(incident_id) if incident_id else None)
        except preparedness.PreparednessError as exc:
            raise HTTPException(422, str(exc)) from exc
        return back()

    @r.post("/console/proposals/{proposal_id}/decline")
    def decline(proposal_id: int, request: Request, reason: Annotated[str, Form()] = "",
                csrf: Annotated[str, Form()] = "") -> Response:
        session = require(request, csrf, role="tib")
        try:
            preparedness.decline(store, service.var_dir, proposal_id, who=session.username, reason=reason,
                                 now=service.clock.now())
        except preparedness.PreparednessError as exc:
            raise HTTPException(422, str(exc)) from exc
        return back()

    @r.post("/console/incidents")
    def new_incident(request: Request, title: Annotated[str, Form()], classification: Annotated[int, Form()],
                     systems: Annotated[str, Form()] = "", units: Annotated[str, Form()] = "",
                     csrf: Annotated[str, Form()] = "") -> Response:
        session = require(request, csrf)
        try:
            incident_id = incidents.open_incident(
                store, service.var_dir, title=title, classification=classification, by=session.username,
                now=service.clock.now(), systems=_split(systems), units=_split(units))
        except incidents.IncidentError as exc:
            raise HTTPException(422, str(exc)) from exc
        return back(f"/console/incidents/{incident_id}")

    @r.get("/console/incidents/{incident_id}", response_class=HTMLResponse)
    def incident_page(incident_id: int, request: Request) -> HTMLResponse:
        session = require(request)
        inc = incidents.get(store, incident_id)
        if inc is None:
            raise HTTPException(404, f"no incident {incident_id}")
        return render(request, "incident.html", session=session, csrf=service.signer.csrf_token(session),
                      incident=inc, entries=timeline.entries(store, incident_id),
                      alarms=incidents.linked_alarms(store, incident_id), links=incidents.links(store, incident_id),
                      classification=service.settings.classification, states=incidents.STATES)

    @r.post("/console/incidents/{incident_id}/entry")
    def add_entry(incident_id: int, request: Request, summary: Annotated[str, Form()],
                  csrf: Annotated[str, Form()] = "") -> Response:
        session = require(request, csrf)
        timeline.add_manual(store, incident_id, summary, session.username, service.clock.now())
        return back(f"/console/incidents/{incident_id}")

    @r.post("/console/incidents/{incident_id}/state")
    def change_state(incident_id: int, request: Request, state: Annotated[str, Form()],
                     note: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
        session = require(request, csrf)
        try:
            incidents.change_state(store, service.var_dir, incident_id, state, session.username,
                                   service.clock.now(), note)
        except incidents.IncidentError as exc:
            raise HTTPException(409, str(exc)) from exc
        return back(f"/console/incidents/{incident_id}")

    @r.get("/console/incidents/{incident_id}/timeline.json")
    def export(incident_id: int, request: Request) -> dict[str, object]:
        require(request)
        try:
            return timeline.export(store, incident_id)
        except KeyError as exc:
            raise HTTPException(404, f"no incident {incident_id}") from exc

    # ---- the on-call rota: who holds each role now and the next two weeks; add and end shifts ----
    def oncall_page(request: Request, session: Session, status: int = 200, error: str | None = None,
                    form: dict[str, str] | None = None) -> HTMLResponse:
        now = service.clock.now()
        editable = [role for role in schedule.ROLES if schedule.may_edit(session.role, role)]
        people = store.all("SELECT id, username, full_name FROM ops_user WHERE active = 1 ORDER BY full_name")
        return render(request, "oncall.html", status=status, session=session,
                      csrf=service.signer.csrf_token(session), now=now,
                      plan=schedule.plan(store, now), roles=schedule.ROLES, editable=editable, people=people,
                      editors=schedule.EDITORS, changes=schedule.changes(store), error=error, form=form or {},
                      days=schedule.PLAN_DAYS)

    @r.get("/console/oncall", response_class=HTMLResponse)
    def oncall(request: Request) -> HTMLResponse:
        return oncall_page(request, require(request))

    @r.post("/console/oncall/shifts", response_class=HTMLResponse)
    def add_shift(request: Request, role: Annotated[str, Form()] = "", user_id: Annotated[str, Form()] = "",
                  starts_at: Annotated[str, Form()] = "", ends_at: Annotated[str, Form()] = "",
                  allow_overlap: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
        session = require(request, csrf)
        t = translator(lang_of(request))
        form = {"role": role, "user_id": user_id, "starts_at": starts_at, "ends_at": ends_at}
        if not schedule.may_edit(session.role, role):
            return oncall_page(request, session, 403, t("ops.oncall.not_yours", role=schedule.ROLES.get(role, role)),
                               form)
        try:
            if not user_id.isdigit():
                raise schedule.ShiftError("pick_person", "choose who holds the shift")
            if not starts_at.strip():
                raise schedule.ShiftError("need_start", "give the time the shift starts")
            schedule.add(store, service.var_dir, role=role, user_id=int(user_id),
                         starts_at=schedule.parse_local(starts_at),
                         ends_at=schedule.parse_local(ends_at) if ends_at.strip() else None,
                         who=session.username, now=service.clock.now(), allow_overlap=bool(allow_overlap))
        except schedule.ShiftError as exc:
            return oncall_page(request, session, 422, t(f"ops.oncall.err.{exc.key}", **exc.values), form)
        return back("/console/oncall")

    @r.post("/console/oncall/shifts/{shift_id}/end", response_class=HTMLResponse)
    def end_shift(shift_id: int, request: Request, at: Annotated[str, Form()] = "",
                  csrf: Annotated[str, Form()] = "") -> Response:
        session = require(request, csrf)
        t = translator(lang_of(request))
        shift = schedule.get_shift(store, shift_id)
        if shift is None:
            return oncall_page(request, session, 404, t("ops.oncall.no_shift", id=shift_id))
        if not schedule.may_edit(session.role, shift.role):
            return oncall_page(request, session, 403, t("ops.oncall.not_yours", role=schedule.ROLES[shift.role]))
        now = service.clock.now()
        try:
            when = schedule.parse_local(at) if at.strip() else now
            schedule.end(store, service.var_dir, shift_id, at=when, who=session.username, now=now)
        except schedule.ShiftError as exc:
            return oncall_page(request, session, 422, t(f"ops.oncall.err.{exc.key}", **exc.values))
        return back("/console/oncall")

    # ---- the signed link in a message: a page to confirm (a GET never acknowledges, so mail
    # scanners that open links do not acknowledge for the person) ----------------------------
    def _link_target(alarm_id: int, user_id: int, signature: str) -> tuple[alarms.Alarm, dict[str, object]]:
        user = users.by_id(store, user_id)
        alarm = alarms.get(store, alarm_id)
        if user is None or alarm is None or not notifications.check_ack_signature(service.signer, alarm_id, user_id,
                                                                                   signature):
            raise HTTPException(404, "this acknowledgement link is not valid")
        return alarm, user

    @r.get("/ack/{alarm_id}/{user_id}/{signature}", response_class=HTMLResponse)
    def ack_page(alarm_id: int, user_id: int, signature: str, request: Request) -> HTMLResponse:
        alarm, user = _link_target(alarm_id, user_id, signature)
        return render(request, "ack.html", alarm=alarm, user=user, done=False)

    @r.post("/ack/{alarm_id}/{user_id}/{signature}", response_class=HTMLResponse)
    def ack_link(alarm_id: int, user_id: int, signature: str, request: Request) -> HTMLResponse:
        alarm, user = _link_target(alarm_id, user_id, signature)
        service.acknowledge(alarm_id, str(user["username"]), "signed link")
        return render(request, "ack.html", alarm=alarms.get(store, alarm_id), user=user, done=True)

    return r


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
