"""The event analysis in the ops console: a list, one page per analysis (version), and a panel of
overdue actions on the console's front page. Works without JavaScript: every change is a form
POST to ``/console/analyses/{id}/do/{op}`` that checks the session and CSRF token, calls the
domain, and returns to the page; a refused change shows the page again with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from obruten.ops import incidents
from obruten.ops import web as ops_web
from obruten.ops.analysis import analyses, categories, editing, exports
from obruten.ops.analysis.model import STATUSES, STRENGTHS, AnalysisError, Locked, NotFound, as_utc, load
from obruten.ops.analysis.names import NameSource, NameSourceError
from obruten.ops.service import OpsService
from obruten.ops.store import Store
from obruten.platform.auth import InvalidToken, Session
from obruten.platform.i18n import LANGUAGES, STOCKHOLM, translator

Op = Callable[[FormData, str, datetime], object]


def _store_of(request: Request) -> Store:
    return request.app.state.ops.store


def _today(request: Request) -> object:
    return request.app.state.ops.clock.now().astimezone(STOCKHOLM).date()


# the console's front page and incident page include panels that call these
ops_web._env.globals["analysis_overdue"] = lambda request: analyses.overdue(_store_of(request), _today(request))  # type: ignore[arg-type]
ops_web._env.globals["analysis_for_incident"] = lambda request, incident_id: [
    load(_store_of(request), a) for a in analyses.for_incident(_store_of(request), incident_id)]


def router(service: OpsService, sources: Callable[[OpsService], list[NameSource]]) -> APIRouter:
    r = APIRouter()
    store = service.store

    def lang_of(request: Request) -> str:
        lang = request.cookies.get("lang", service.settings.language)
        return lang if lang in LANGUAGES else "sv"

    def session_of(request: Request) -> Session:
        token = request.cookies.get(ops_web.COOKIE)
        try:
            if token:
                return service.signer.read(token)
        except InvalidToken:
            pass
        raise HTTPException(303, headers={"Location": "/login"})

    def render(request: Request, name: str, status: int = 200, **ctx: object) -> HTMLResponse:
        lang = lang_of(request)
        session = session_of(request)
        html = ops_web._env.get_template(name).render(t=translator(lang), lang=lang, request=request, session=session,
                                                      csrf=service.signer.csrf_token(session), **ctx)
        return HTMLResponse(html, status_code=status)

    def page(request: Request, analysis_id: int, version: int | None = None, error: str | None = None,
             status: int = 200) -> HTMLResponse:
        analysis = load(store, analysis_id, version)
        return render(request, "analysis_page.html", status, a=analysis, v=analysis.version,
                      categories=categories.active(store), strengths=STRENGTHS, statuses=STATUSES,
                      changes=analyses.changes(store, analysis_id), error=error,
                      editable=not analysis.version.signed and analysis.version.number == analysis.latest)

    def list_page(request: Request, error: str | None = None, status: int = 200) -> HTMLResponse:
        return render(request, "analysis_list.html", status, analyses=analyses.listing(store),
                      categories=categories.active(store), error=error)

    @r.get("/console/analyses", response_class=HTMLResponse)
    def listing(request: Request) -> HTMLResponse:
        return list_page(request)

    @r.post("/console/analysis-categories")
    async def change_category(request: Request) -> Response:
        session = session_of(request)
        form = await request.form()
        if not service.signer.check_csrf(session, str(form.get("csrf", ""))):
            raise HTTPException(403, "stale form; reload the page and try again")
        try:
            if _s(form, "retire"):
                categories.retire(store, _s(form, "retire"))
            else:
                categories.add(store, _s(form, "name"))
        except categories.CategoryError as exc:
            return list_page(request, error=str(exc), status=422)
        return RedirectResponse("/console/analyses#categories", status_code=303)

    @r.post("/console/incidents/{incident_id}/analysis")
    async def start(incident_id: int, request: Request) -> Response:
        session = session_of(request)
        form = await request.form()
        if not service.signer.check_csrf(session, str(form.get("csrf", ""))):
            raise HTTPException(403, "stale form; reload the page and try again")
        try:
            analysis_id = analyses.start(store, service.var_dir, incident_id=incident_id,
                                         commissioner=_s(form, "commissioner"), leader=_s(form, "leader"),
                                         team=_s(form, "team"), scope=_s(form, "scope"), title=_s(form, "title"),
                                         who=session.username, now=service.clock.now())
        except AnalysisError as exc:
            inc = incidents.get(store, incident_id)
            raise HTTPException(404 if inc is None else 422, str(exc)) from exc
        return RedirectResponse(f"/console/analyses/{analysis_id}", status_code=303)

    @r.get("/console/analyses/{analysis_id}", response_class=HTMLResponse)
    def show(analysis_id: int, request: Request, version: int | None = None) -> HTMLResponse:
        session_of(request)
        try:
            return page(request, analysis_id, version)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc

    @r.get("/console/analyses/{analysis_id}/report.{fmt}")
    def report(analysis_id: int, fmt: str, request: Request, version: int | None = None,
               deidentified: bool = False) -> Response:
        session = session_of(request)
        try:
            body, media, name = exports.export(store, analysis_id, fmt, who=session.username, now=service.clock.now(),
                                               version=version, lang=lang_of(request), deidentified=deidentified,
                                               sources=sources(service) if deidentified else ())
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except AnalysisError as exc:
            raise HTTPException(422, str(exc)) from exc
        except NameSourceError as exc:
            raise HTTPException(503, str(exc)) from exc
        disposition = "inline" if fmt == "pdf" else "attachment"
        return Response(body, media_type=media, headers={"Content-Disposition": f'{disposition}; filename="{name}"'})

    def own(form: FormData, field: str, what: str, analysis_id: int) -> int:
        row_id = _int(form, field)
        if editing.analysis_of(store, what, row_id) != analysis_id:
            raise NotFound(f"analysis {analysis_id} has no {what} {row_id}")
        return row_id

    def ops_for(analysis_id: int) -> dict[str, tuple[Op, str]]:
        """Each console operation, and the anchor to return to."""
        def merge_next(f: FormData, who: str, now: datetime) -> None:
            event_id = own(f, "event_id", "event", analysis_id)
            events = load(store, analysis_id).events
            index = next(i for i, e in enumerate(events) if e.id == event_id)
            if index + 1 >= len(events):
                raise AnalysisError("the last event has no next event to merge with")
            editing.merge_events(store, event_id, events[index + 1].id, who, now)

        def ask(f: FormData, who: str, now: datetime) -> None:
            if f.get("parent_id"):
                editing.ask_why(store, who, now, question=_s(f, "question"), answer=_s(f, "answer"),
                                parent_id=own(f, "parent_id", "why", analysis_id))
            else:
                editing.ask_why(store, who, now, question=_s(f, "question"), answer=_s(f, "answer"),
                                event_id=own(f, "event_id", "event", analysis_id))

        a = analysis_id
        return {
            "header": (lambda f, who, now: analyses.update(
                store, a, who, now, **{k: _s(f, k) for k in analyses.HEADER_FIELDS if k in f}), "header"),
            "add_event": (lambda f, who, now: editing.add_event(
                store, a, _s(f, "text"), as_utc(_s(f, "at")), who, now, at_end=as_utc(_s(f, "at_end")),
                number=_int(f, "number") if f.get("number") else None), "events"),
            "edit_event": (lambda f, who, now: editing.edit_event(
                store, own(f, "event_id", "event", a), who, now, text=_s(f, "text"), at=as_utc(_s(f, "at")),
                at_end=as_utc(_s(f, "at_end"))), "events"),
            "move_event": (lambda f, who, now: editing.move_event(
                store, own(f, "event_id", "event", a), _int(f, "number"), who, now), "events"),
            "merge_next": (merge_next, "events"),
            "delete_event": (lambda f, who, now: editing.delete_event(
                store, own(f, "event_id", "event", a), who, now), "events"),
            "ask_why": (ask, "events"),
            "edit_why": (lambda f, who, now: editing.edit_why(
                store, own(f, "why_id", "why", a), who, now, answer=_s(f, "answer")), "events"),
            "delete_why": (lambda f, who, now: editing.delete_why(
                store, own(f, "why_id", "why", a), who, now), "events"),
            "add_cause": (lambda f, who, now: editing.add_cause(
                store, own(f, "why_id", "why", a), _s(f, "category"), _s(f, "text"), who, now), "events"),
            "delete_cause": (lambda f, who, now: editing.delete_cause(
                store, own(f, "cause_id", "cause", a), who, now), "events"),
            "add_action": (lambda f, who, now: editing.add_action(
                store, own(f, "cause_id", "cause", a), who, now, description=_s(f, "description"),
                owner=_s(f, "owner"), deadline=_s(f, "deadline"), strength=_s(f, "strength"),
                measure=_s(f, "measure")), "events"),
            "delete_action": (lambda f, who, now: editing.delete_action(
                store, own(f, "action_id", "action", a), who, now), "events"),
            "follow_up": (lambda f, who, now: analyses.follow_up(
                store, own(f, "action_id", "action", a), _s(f, "status"), _s(f, "note"), who, now), "events"),
            "sign": (lambda f, who, now: analyses.sign(store, service.var_dir, a, who, now), "sign"),
            "amend": (lambda f, who, now: analyses.amend(store, a, who, now, _s(f, "reason")), "header"),
        }

    @r.post("/console/analyses/{analysis_id}/do/{op}")
    async def do(analysis_id: int, op: str, request: Request) -> Response:
        session = session_of(request)
        form = await request.form()
        if not service.signer.check_csrf(session, str(form.get("csrf", ""))):
            raise HTTPException(403, "stale form; reload the page and try again")
        known = ops_for(analysis_id)
        if op not in known:
            raise HTTPException(404, f"unknown operation {op!r}")
        fn, anchor = known[op]
        try:
            fn(form, session.username, service.clock.now())
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except (AnalysisError, categories.CategoryError) as exc:
            return page(request, analysis_id, error=str(exc), status=409 if isinstance(exc, Locked) else 422)
        return RedirectResponse(f"/console/analyses/{analysis_id}#{anchor}", status_code=303)

    return r


def _s(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _int(form: FormData, name: str) -> int:
    try:
        return int(_s(form, name))
    except ValueError as exc:
        raise AnalysisError(f"{name} must be a number") from exc
