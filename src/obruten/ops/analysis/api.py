"""The event analysis over JSON: ``/api/v1/analyses``. Thin handlers: check who asks (the ops
API's bearer token), call the domain, turn its errors into HTTP answers that say what to do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from obruten.ops.analysis import analyses, categories, editing, exports
from obruten.ops.analysis.http import NameSources
from obruten.ops.analysis.model import AnalysisError, Locked, NotFound, as_utc, load
from obruten.ops.analysis.names import NameSourceError
from obruten.ops.http import Ops, Who
from obruten.ops.store import Store
from obruten.platform.fields import Id, Line, Moment, Text
from obruten.platform.i18n import LANGUAGES, STOCKHOLM


class Start(BaseModel):
    incident_id: Id
    commissioner: Line = Field(min_length=1, max_length=80)
    leader: Line = Field(min_length=1, max_length=200)
    team: list[Line] = []
    scope: Text = Field("", max_length=4000)
    title: Line = Field("", max_length=300)


class Header(BaseModel):
    title: Line | None = Field(None, max_length=300)
    commissioner: Line | None = Field(None, max_length=80)
    leader: Line | None = Field(None, max_length=200)
    team: list[Line] | None = None
    scope: Text | None = Field(None, max_length=4000)
    summary: Text | None = Field(None, max_length=20000)
    consequences: Text | None = Field(None, max_length=20000)


class NewEvent(BaseModel):
    text: Text = Field(min_length=1, max_length=4000)
    at: Moment | None = None
    at_end: Moment | None = None
    number: Id | None = Field(None, ge=1)


class EventChange(BaseModel):
    text: Text | None = Field(None, max_length=4000)
    at: Moment | None = None
    at_end: Moment | None = None


class Move(BaseModel):
    number: Id = Field(ge=1)


class Merge(BaseModel):
    from_event_id: Id


class WhyStep(BaseModel):
    question: Text = Field(min_length=1, max_length=2000)
    answer: Text = Field("", max_length=4000)


class WhyChange(BaseModel):
    question: Text | None = Field(None, max_length=2000)
    answer: Text | None = Field(None, max_length=4000)


class NewCause(BaseModel):
    category: Line
    text: Text = Field(min_length=1, max_length=4000)


class CauseChange(BaseModel):
    category: Line | None = None
    text: Text | None = Field(None, max_length=4000)


class NewAction(BaseModel):
    description: Text = Field(min_length=1, max_length=4000)
    owner: Line = Field(min_length=1, max_length=200)
    deadline: date
    strength: Line
    measure: Text = Field("", max_length=2000)
    status: Line = "planned"


class ActionChange(BaseModel):
    description: Text | None = Field(None, max_length=4000)
    owner: Line | None = Field(None, max_length=200)
    deadline: date | None = None
    strength: Line | None = None
    measure: Text | None = Field(None, max_length=2000)
    status: Line | None = None


class FollowUp(BaseModel):
    status: Line
    note: Text = Field("", max_length=2000)


class Amend(BaseModel):
    reason: Text = Field(min_length=1, max_length=2000)


class Category(BaseModel):
    name: Line = Field(min_length=1, max_length=120)


@contextmanager
def answering() -> Iterator[None]:
    """Domain errors as HTTP: unknown → 404, signed → 409, bad input → 422, names unavailable → 503."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except Locked as exc:
        raise HTTPException(409, str(exc)) from exc
    except (AnalysisError, categories.CategoryError) as exc:
        raise HTTPException(422, str(exc)) from exc
    except NameSourceError as exc:
        raise HTTPException(503, str(exc)) from exc


router = APIRouter(prefix="/api/v1")


def _show(store: Store, analysis_id: Id, version: Id | None = None) -> dict[str, object]:
    return load(store, analysis_id, version).as_json()


def _belongs(store: Store, what: str, row_id: Id, analysis_id: Id) -> None:
    if editing.analysis_of(store, what, row_id) != analysis_id:
        raise NotFound(f"analysis {analysis_id} has no {what} {row_id}")


@router.get("/analyses")
def listing(service: Ops, who: Who) -> list[dict[str, object]]:
    store = service.store
    return analyses.listing(store)


@router.get("/analyses/overdue-actions")
def overdue(service: Ops, who: Who) -> list[dict[str, object]]:
    store, now = service.store, service.clock.now
    return analyses.overdue(store, now().astimezone(STOCKHOLM).date())


@router.post("/analyses", status_code=201)
def start(service: Ops, body: Start, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        analysis_id = analyses.start(store, service.var_dir, incident_id=body.incident_id,
                                     commissioner=body.commissioner, leader=body.leader, team=body.team,
                                     scope=body.scope, title=body.title, who=who.username, now=now())
        return _show(store, analysis_id)


@router.get("/analyses/{analysis_id}")
def get(service: Ops, analysis_id: Id, who: Who, version: Id | None = None) -> dict[str, object]:
    store = service.store
    with answering():
        return _show(store, analysis_id, version)


@router.patch("/analyses/{analysis_id}")
def header(service: Ops, analysis_id: Id, body: Header, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        analyses.update(store, analysis_id, who.username, now(), **body.model_dump(exclude_none=True))
        return _show(store, analysis_id)


@router.get("/analyses/{analysis_id}/changes")
def changes(service: Ops, analysis_id: Id, who: Who) -> list[dict[str, object]]:
    store = service.store
    with answering():
        load(store, analysis_id)
        return analyses.changes(store, analysis_id)


@router.post("/analyses/{analysis_id}/sign")
def sign(service: Ops, analysis_id: Id, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        sentence = analyses.sign(store, service.var_dir, analysis_id, who.username, now())
        return {"said": sentence, "analysis": _show(store, analysis_id)}


@router.post("/analyses/{analysis_id}/amend", status_code=201)
def amend(service: Ops, analysis_id: Id, body: Amend, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        number = analyses.amend(store, analysis_id, who.username, now(), body.reason)
        return _show(store, analysis_id, number)


# ---- events --------------------------------------------------------------------------------
@router.post("/analyses/{analysis_id}/events", status_code=201)
def add_event(service: Ops, analysis_id: Id, body: NewEvent, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        event_id = editing.add_event(store, analysis_id, body.text, as_utc(body.at), who.username, now(),
                                     at_end=as_utc(body.at_end), number=body.number)
        return {"event_id": event_id, "analysis": _show(store, analysis_id)}


@router.patch("/analyses/{analysis_id}/events/{event_id}")
def edit_event(service: Ops, analysis_id: Id, event_id: Id, body: EventChange, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "event", event_id, analysis_id)
        editing.edit_event(store, event_id, who.username, now(), text=body.text, at=as_utc(body.at),
                           at_end=as_utc(body.at_end))
        return _show(store, analysis_id)


@router.delete("/analyses/{analysis_id}/events/{event_id}")
def delete_event(service: Ops, analysis_id: Id, event_id: Id, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "event", event_id, analysis_id)
        editing.delete_event(store, event_id, who.username, now())
        return _show(store, analysis_id)


@router.post("/analyses/{analysis_id}/events/{event_id}/move")
def move_event(service: Ops, analysis_id: Id, event_id: Id, body: Move, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "event", event_id, analysis_id)
        editing.move_event(store, event_id, body.number, who.username, now())
        return _show(store, analysis_id)


@router.post("/analyses/{analysis_id}/events/{event_id}/merge")
def merge_events(service: Ops, analysis_id: Id, event_id: Id, body: Merge, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "event", event_id, analysis_id)
        _belongs(store, "event", body.from_event_id, analysis_id)
        editing.merge_events(store, event_id, body.from_event_id, who.username, now())
        return _show(store, analysis_id)


# ---- why-chains, causes, actions -----------------------------------------------------------
@router.post("/analyses/{analysis_id}/events/{event_id}/whys", status_code=201)
def ask_event(service: Ops, analysis_id: Id, event_id: Id, body: WhyStep, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "event", event_id, analysis_id)
        why_id = editing.ask_why(store, who.username, now(), question=body.question, answer=body.answer,
                                 event_id=event_id)
        return {"why_id": why_id, "analysis": _show(store, analysis_id)}


@router.post("/analyses/{analysis_id}/whys/{why_id}/whys", status_code=201)
def ask_deeper(service: Ops, analysis_id: Id, why_id: Id, body: WhyStep, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "why", why_id, analysis_id)
        new_id = editing.ask_why(store, who.username, now(), question=body.question, answer=body.answer,
                                 parent_id=why_id)
        return {"why_id": new_id, "analysis": _show(store, analysis_id)}


@router.patch("/analyses/{analysis_id}/whys/{why_id}")
def edit_why(service: Ops, analysis_id: Id, why_id: Id, body: WhyChange, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "why", why_id, analysis_id)
        editing.edit_why(store, why_id, who.username, now(), question=body.question, answer=body.answer)
        return _show(store, analysis_id)


@router.delete("/analyses/{analysis_id}/whys/{why_id}")
def delete_why(service: Ops, analysis_id: Id, why_id: Id, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "why", why_id, analysis_id)
        editing.delete_why(store, why_id, who.username, now())
        return _show(store, analysis_id)


@router.post("/analyses/{analysis_id}/whys/{why_id}/causes", status_code=201)
def add_cause(service: Ops, analysis_id: Id, why_id: Id, body: NewCause, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "why", why_id, analysis_id)
        cause_id = editing.add_cause(store, why_id, body.category, body.text, who.username, now())
        return {"cause_id": cause_id, "analysis": _show(store, analysis_id)}


@router.patch("/analyses/{analysis_id}/causes/{cause_id}")
def edit_cause(service: Ops, analysis_id: Id, cause_id: Id, body: CauseChange, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "cause", cause_id, analysis_id)
        editing.edit_cause(store, cause_id, who.username, now(), category=body.category, text=body.text)
        return _show(store, analysis_id)


@router.delete("/analyses/{analysis_id}/causes/{cause_id}")
def delete_cause(service: Ops, analysis_id: Id, cause_id: Id, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "cause", cause_id, analysis_id)
        editing.delete_cause(store, cause_id, who.username, now())
        return _show(store, analysis_id)


@router.post("/analyses/{analysis_id}/causes/{cause_id}/actions", status_code=201)
def add_action(service: Ops, analysis_id: Id, cause_id: Id, body: NewAction, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "cause", cause_id, analysis_id)
        action_id = editing.add_action(store, cause_id, who.username, now(), **body.model_dump())
        return {"action_id": action_id, "analysis": _show(store, analysis_id)}


@router.patch("/analyses/{analysis_id}/actions/{action_id}")
def edit_action(service: Ops, analysis_id: Id, action_id: Id, body: ActionChange, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "action", action_id, analysis_id)
        editing.edit_action(store, action_id, who.username, now(), **body.model_dump(exclude_none=True))
        return _show(store, analysis_id)


@router.delete("/analyses/{analysis_id}/actions/{action_id}")
def delete_action(service: Ops, analysis_id: Id, action_id: Id, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "action", action_id, analysis_id)
        editing.delete_action(store, action_id, who.username, now())
        return _show(store, analysis_id)


@router.post("/analyses/{analysis_id}/actions/{action_id}/follow-up")
def follow_up(service: Ops, analysis_id: Id, action_id: Id, body: FollowUp, who: Who) -> dict[str, object]:
    store, now = service.store, service.clock.now
    with answering():
        _belongs(store, "action", action_id, analysis_id)
        analyses.follow_up(store, action_id, body.status, body.note, who.username, now())
        return _show(store, analysis_id)


# ---- report and categories -----------------------------------------------------------------
@router.get("/analyses/{analysis_id}/report.{fmt}")
def report(service: Ops, sources: NameSources, analysis_id: Id, fmt: str, who: Who, version: Id | None = None, deidentified: bool = False,
           lang: str = "sv") -> Response:
    store, now = service.store, service.clock.now
    if lang not in LANGUAGES:
        raise HTTPException(422, f"lang must be one of {', '.join(LANGUAGES)}")
    with answering():
        body, media, name = exports.export(store, analysis_id, fmt, who=who.username, now=now(), version=version,
                                           lang=lang, deidentified=deidentified,
                                           sources=sources if deidentified else ())
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/analysis-categories")
def list_categories(service: Ops, who: Who) -> list[str]:
    store = service.store
    return categories.active(store)


@router.post("/analysis-categories", status_code=201)
def add_category(service: Ops, body: Category, who: Who) -> list[str]:
    store = service.store
    with answering():
        categories.add(store, body.name)
    return categories.active(store)


@router.delete("/analysis-categories/{name}")
def retire_category(service: Ops, name: str, who: Who) -> list[str]:
    store = service.store
    with answering():
        categories.retire(store, name)
    return categories.active(store)

