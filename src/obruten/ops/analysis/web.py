"""The event analysis in the ops console: a list, one page per analysis (version), and a panel of
overdue actions on the console's front page. Works without JavaScript: every change is a form
POST to ``/console/analyses/{id}/do/{op}`` that checks the session and CSRF token (``Console``
from ``ops.http``), calls the domain, and returns to the page; a refused change shows the page
again with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from obruten.ops import incidents
from obruten.ops.analysis import analyses, categories, editing, exports
from obruten.ops.analysis.http import NameSources
from obruten.ops.analysis.model import STATUSES, STRENGTHS, Analysis, AnalysisError, Locked, NotFound, as_utc, load
from obruten.ops.analysis.names import NameSourceError
from obruten.ops.http import Console, Ops, lang_of, ops_service, render
from obruten.ops.service import OpsService
from obruten.ops.store import Store
from obruten.platform.auth import Session
from obruten.platform.fields import Id
from obruten.platform.i18n import STOCKHOLM

Op = Callable[[FormData, str, datetime], object]


def _today(service: OpsService) -> date:
    return service.clock.now().astimezone(STOCKHOLM).date()


def _overdue(request: Request) -> list[dict[str, object]]:
    service = ops_service(request)
    return analyses.overdue(service.store, _today(service))


def _for_incident(request: Request, incident_id: Id) -> list[Analysis]:
    store = ops_service(request).store
    return [load(store, a) for a in analyses.for_incident(store, incident_id)]


# the console's front page and incident page include panels that call these (``ops.app`` hands
# them to ``render`` as ``app.state.panels``)
PANELS: dict[str, Callable[..., object]] = {"analysis_overdue": _overdue, "analysis_for_incident": _for_incident}

router = APIRouter()


def _page(request: Request, service: OpsService, session: Session, analysis_id: Id, version: Id | None = None,
          error: str | None = None, status: int = 200) -> HTMLResponse:
    store = service.store
    analysis = load(store, analysis_id, version)
    return render(request, "analysis_page.html", status, session=session, a=analysis, v=analysis.version,
                  categories=categories.active(store), strengths=STRENGTHS, statuses=STATUSES,
                  changes=analyses.changes(store, analysis_id), error=error,
                  editable=not analysis.version.signed and analysis.version.number == analysis.latest)


def _list_page(request: Request, service: OpsService, session: Session, error: str | None = None,
               status: int = 200) -> HTMLResponse:
    return render(request, "analysis_list.html", status, session=session, analyses=analyses.listing(service.store),
                  categories=categories.active(service.store), error=error)


@router.get("/console/analyses", response_class=HTMLResponse)
def listing(request: Request, service: Ops, session: Console) -> HTMLResponse:
    return _list_page(request, service, session)


@router.post("/console/analysis-categories")
async def change_category(request: Request, service: Ops, session: Console) -> Response:
    form = await request.form()
    try:
        if _s(form, "retire"):
            categories.retire(service.store, _s(form, "retire"))
        else:
            categories.add(service.store, _s(form, "name"))
    except categories.CategoryError as exc:
        return _list_page(request, service, session, error=str(exc), status=422)
    return RedirectResponse("/console/analyses#categories", status_code=303)


@router.post("/console/incidents/{incident_id}/analysis")
async def start(incident_id: Id, request: Request, service: Ops, session: Console) -> Response:
    form = await request.form()
    store = service.store
    try:
        analysis_id = analyses.start(store, service.var_dir, incident_id=incident_id,
                                     commissioner=_s(form, "commissioner"), leader=_s(form, "leader"),
                                     team=_s(form, "team"), scope=_s(form, "scope"), title=_s(form, "title"),
                                     who=session.username, now=service.clock.now())
    except AnalysisError as exc:
        inc = incidents.get(store, incident_id)
        raise HTTPException(404 if inc is None else 422, str(exc)) from exc
    return RedirectResponse(f"/console/analyses/{analysis_id}", status_code=303)


@router.get("/console/analyses/{analysis_id}", response_class=HTMLResponse)
def show(analysis_id: Id, request: Request, service: Ops, session: Console,
         version: Id | None = None) -> HTMLResponse:
    try:
        return _page(request, service, session, analysis_id, version)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/console/analyses/{analysis_id}/report.{fmt}")
def report(analysis_id: Id, fmt: str, request: Request, service: Ops, session: Console, sources: NameSources,
           version: Id | None = None, deidentified: bool = False) -> Response:
    try:
        body, media, name = exports.export(service.store, analysis_id, fmt, who=session.username,
                                           now=service.clock.now(), version=version, lang=lang_of(request, service),
                                           deidentified=deidentified, sources=sources if deidentified else ())
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except AnalysisError as exc:
        raise HTTPException(422, str(exc)) from exc
    except NameSourceError as exc:
        raise HTTPException(503, str(exc)) from exc
    disposition = "inline" if fmt == "pdf" else "attachment"
    return Response(body, media_type=media, headers={"Content-Disposition": f'{disposition}; filename="{name}"'})


def _own(store: Store, form: FormData, field: str, what: str, analysis_id: Id) -> int:
    row_id = _int(form, field)
    if editing.analysis_of(store, what, row_id) != analysis_id:
        raise NotFound(f"analysis {analysis_id} has no {what} {row_id}")
    return row_id


def _operations(store: Store, var_dir: Path, analysis_id: Id) -> dict[str, tuple[Op, str]]:
    """Each console operation, and the anchor to return to."""
    def merge_next(f: FormData, who: str, now: datetime) -> None:
        event_id = _own(store, f, "event_id", "event", analysis_id)
        events = load(store, analysis_id).events
        index = next(i for i, e in enumerate(events) if e.id == event_id)
        if index + 1 >= len(events):
            raise AnalysisError("the last event has no next event to merge with")
        editing.merge_events(store, event_id, events[index + 1].id, who, now)

    def ask(f: FormData, who: str, now: datetime) -> None:
        if f.get("parent_id"):
            editing.ask_why(store, who, now, question=_s(f, "question"), answer=_s(f, "answer"),
                            parent_id=_own(store, f, "parent_id", "why", analysis_id))
        else:
            editing.ask_why(store, who, now, question=_s(f, "question"), answer=_s(f, "answer"),
                            event_id=_own(store, f, "event_id", "event", analysis_id))

    a = analysis_id
    return {
        "header": (lambda f, who, now: analyses.update(
            store, a, who, now, **{k: _s(f, k) for k in analyses.HEADER_FIELDS if k in f}), "header"),
        "add_event": (lambda f, who, now: editing.add_event(
            store, a, _s(f, "text"), as_utc(_s(f, "at")), who, now, at_end=as_utc(_s(f, "at_end")),
            number=_int(f, "number") if f.get("number") else None), "events"),
        "edit_event": (lambda f, who, now: editing.edit_event(
            store, _own(store, f, "event_id", "event", a), who, now, text=_s(f, "text"), at=as_utc(_s(f, "at")),
            at_end=as_utc(_s(f, "at_end"))), "events"),
        "move_event": (lambda f, who, now: editing.move_event(
            store, _own(store, f, "event_id", "event", a), _int(f, "number"), who, now), "events"),
        "merge_next": (merge_next, "events"),
        "delete_event": (lambda f, who, now: editing.delete_event(
            store, _own(store, f, "event_id", "event", a), who, now), "events"),
        "ask_why": (ask, "events"),
        "edit_why": (lambda f, who, now: editing.edit_why(
            store, _own(store, f, "why_id", "why", a), who, now, answer=_s(f, "answer")), "events"),
        "delete_why": (lambda f, who, now: editing.delete_why(
            store, _own(store, f, "why_id", "why", a), who, now), "events"),
        "add_cause": (lambda f, who, now: editing.add_cause(
            store, _own(store, f, "why_id", "why", a), _s(f, "category"), _s(f, "text"), who, now), "events"),
        "delete_cause": (lambda f, who, now: editing.delete_cause(
            store, _own(store, f, "cause_id", "cause", a), who, now), "events"),
        "add_action": (lambda f, who, now: editing.add_action(
            store, _own(store, f, "cause_id", "cause", a), who, now, description=_s(f, "description"),
            owner=_s(f, "owner"), deadline=_s(f, "deadline"), strength=_s(f, "strength"),
            measure=_s(f, "measure")), "events"),
        "delete_action": (lambda f, who, now: editing.delete_action(
            store, _own(store, f, "action_id", "action", a), who, now), "events"),
        "follow_up": (lambda f, who, now: analyses.follow_up(
            store, _own(store, f, "action_id", "action", a), _s(f, "status"), _s(f, "note"), who, now), "events"),
        "sign": (lambda f, who, now: analyses.sign(store, var_dir, a, who, now), "sign"),
        "amend": (lambda f, who, now: analyses.amend(store, a, who, now, _s(f, "reason")), "header"),
    }


@router.post("/console/analyses/{analysis_id}/do/{op}")
async def do(analysis_id: Id, op: str, request: Request, service: Ops, session: Console) -> Response:
    form = await request.form()
    known = _operations(service.store, service.var_dir, analysis_id)
    if op not in known:
        raise HTTPException(404, f"unknown operation {op!r}")
    fn, anchor = known[op]
    try:
        fn(form, session.username, service.clock.now())
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except (AnalysisError, categories.CategoryError) as exc:
        return _page(request, service, session, analysis_id, error=str(exc),
                     status=409 if isinstance(exc, Locked) else 422)
    return RedirectResponse(f"/console/analyses/{analysis_id}#{anchor}", status_code=303)


def _s(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _int(form: FormData, name: str) -> int:
    try:
        return int(_s(form, name))
    except ValueError as exc:
        raise AnalysisError(f"{name} must be a number") from exc
