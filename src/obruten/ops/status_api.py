"""The status service's HTTP side, mounted in the ops app: the API that nodes poll and issuers
call, and the console page ``/console/status``. Thin: who asks (``ops.http``), then the
``StatusIssuer``, whose rule says who may issue (the officer on duty, or whoever holds the on-call
function tib or sysf)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field

from obruten.ops.http import Console, Issuer, Ops, Who, lang_of, render, split
from obruten.ops.service import OpsService
from obruten.ops.status_service import NotAllowed, StatusIssuer, current, deliveries, history
from obruten.platform.auth import Session
from obruten.platform.fields import Line, Text
from obruten.platform.i18n import translator
from obruten.status.banner import render_banner
from obruten.status.document import MODES, StatusDocument, StatusError, parse_duration


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    mode: Line = Field(pattern="^(" + "|".join(MODES) + ")$")
    headline: Line = Field(default="", max_length=300)
    routine: Text = Field(default="", max_length=1000)
    details: Text = Field(default="", max_length=4000)
    unit_modes: dict[str, str] = {}
    affected_systems: list[Line] = []
    affected_units: list[Line] = []
    next_update: Line | None = Field(default=None, description="e.g. 30m, 2h", max_length=20)
    reason: Text = Field(min_length=3, max_length=2000)


class NormalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: Text = Field(min_length=3, max_length=2000)


router = APIRouter()


def _issue(service: OpsService, issuer: StatusIssuer, session: Session,
           body: IssueRequest) -> tuple[StatusDocument, list[str]]:
    try:
        due = parse_duration(body.next_update) if body.next_update else None
        return issuer.issue(session, mode=body.mode, headline=body.headline, routine=body.routine,
                            reason=body.reason, now=service.clock.now(), details=body.details,
                            unit_modes=body.unit_modes, systems=body.affected_systems, units=body.affected_units,
                            next_update_in=due)
    except NotAllowed as exc:
        raise HTTPException(403, str(exc)) from exc
    except StatusError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/api/v1/status")
def get_status(service: Ops) -> JSONResponse:
    doc = current(service.store)
    return JSONResponse({"document": doc.as_dict() if doc else None, "mode": doc.mode if doc else "normal"})


@router.get("/api/v1/status/key")
def get_key(issuer: Issuer) -> dict[str, str]:
    """The line nodes add to their trusted-keys file."""
    return {"key_id": issuer.key.key_id, "trusted_line": issuer.key.trusted_line()}


@router.post("/api/v1/status/issue", status_code=201)
def post_issue(service: Ops, issuer: Issuer, body: IssueRequest, who: Who) -> dict[str, object]:
    doc, said = _issue(service, issuer, who, body)
    return {"document": doc.as_dict(), "said": said}


@router.post("/api/v1/status/normal", status_code=201)
def post_normal(service: Ops, issuer: Issuer, body: NormalRequest, who: Who) -> dict[str, object]:
    """Return to normal operation: unit modes, routine and text cleared in one signed version."""
    try:
        doc, said = issuer.return_to_normal(who, reason=body.reason, now=service.clock.now())
    except NotAllowed as exc:
        raise HTTPException(403, str(exc)) from exc
    return {"document": doc.as_dict(), "said": said}


@router.get("/api/v1/status/history")
def get_history(service: Ops, who: Who) -> dict[str, object]:
    return {"history": history(service.store), "deliveries": deliveries(service.store)}


# ---- console ------------------------------------------------------------------------------------
def _page(request: Request, service: OpsService, session: Session, error: str | None = None,
          status: int = 200, form: dict[str, str] | None = None, preview: str = "",
          preview_problem: str = "") -> HTMLResponse:
    """The status page. The editor starts empty (a new message inherits nothing from the last);
    after a refused submission it keeps what was typed (``form``)."""
    issuer = service.status_issuer
    return render(request, "status.html", status, session=session, doc=current(service.store), modes=MODES,
                  error=error, history=history(service.store), deliveries=deliveries(service.store),
                  normal_minutes=issuer.settings.normal_banner_minutes if issuer else 0, form=form or {},
                  preview=Markup(preview), preview_problem=preview_problem)


@router.get("/console/status", response_class=HTMLResponse, include_in_schema=False)
def status_page(request: Request, service: Ops, session: Console) -> HTMLResponse:
    return _page(request, service, session)


@router.post("/console/status", response_class=HTMLResponse, include_in_schema=False)
def status_form(request: Request, service: Ops, issuer: Issuer, session: Console, mode: Annotated[str, Form()],
                reason: Annotated[str, Form()] = "", headline: Annotated[str, Form()] = "",
                routine: Annotated[str, Form()] = "", details: Annotated[str, Form()] = "",
                unit_modes: Annotated[str, Form()] = "", systems: Annotated[str, Form()] = "",
                units: Annotated[str, Form()] = "", next_update: Annotated[str, Form()] = "") -> Response:
    typed = {"mode": mode, "headline": headline, "routine": routine, "details": details, "reason": reason,
             "unit_modes": unit_modes, "systems": systems, "units": units, "next_update": next_update}
    try:
        body = IssueRequest(mode=mode, headline=headline, routine=routine, details=details, reason=reason,
                            unit_modes=_pairs(unit_modes), affected_systems=split(systems),
                            affected_units=split(units), next_update=next_update or None)
        _issue(service, issuer, session, body)
    except HTTPException as exc:
        return _page(request, service, session, str(exc.detail), exc.status_code, typed)
    except ValueError as exc:  # pydantic's ValidationError and our own parse errors
        return _page(request, service, session, str(exc), 422, typed)
    return RedirectResponse("/console/status", status_code=303)


@router.post("/console/status/normal", response_class=HTMLResponse, include_in_schema=False)
def normal_form(request: Request, service: Ops, issuer: Issuer, session: Console,
                reason: Annotated[str, Form()] = "") -> Response:
    """"Återgå till normal drift": one action, one signed version."""
    if len(reason.strip()) < 3:
        reason = translator(lang_of(request, service))("status.normal.reason_default")
    try:
        issuer.return_to_normal(session, reason=reason, now=service.clock.now())
    except NotAllowed as exc:
        return _page(request, service, session, str(exc), 403)
    return RedirectResponse("/console/status", status_code=303)


@router.post("/console/status/preview", response_class=HTMLResponse, include_in_schema=False)
def preview_form(request: Request, service: Ops, issuer: Issuer, session: Console,
                 mode: Annotated[str, Form()] = "", headline: Annotated[str, Form()] = "",
                 routine: Annotated[str, Form()] = "", details: Annotated[str, Form()] = "",
                 unit_modes: Annotated[str, Form()] = "", systems: Annotated[str, Form()] = "",
                 units: Annotated[str, Form()] = "", next_update: Annotated[str, Form()] = "",
                 reason: Annotated[str, Form()] = "") -> HTMLResponse:
    """The editor again, with what was typed and the banner as staff would see it (the same
    ``banner.html``), or why it cannot be sent yet; nothing is signed or recorded. (The console
    runs no script, by its CSP: the preview is a button, not a keystroke.)"""
    typed = {"mode": mode, "headline": headline, "routine": routine, "details": details, "reason": reason,
             "unit_modes": unit_modes, "systems": systems, "units": units, "next_update": next_update}
    lang = lang_of(request, service)
    t = translator(lang)
    preview, problem = "", ""
    try:
        if mode not in MODES:
            raise StatusError(t("status.field.mode_choose"))
        doc = issuer.preview(session, mode=mode, headline=headline, routine=routine, details=details,
                             unit_modes=_pairs(unit_modes), systems=split(systems), units=split(units),
                             next_update_in=parse_duration(next_update) if next_update.strip() else None,
                             now=service.clock.now())
        preview = render_banner(doc, lang, now=service.clock.now()) or t("status.preview.empty")
    except StatusError as exc:  # NotAllowed is one too
        problem = str(exc)
    return _page(request, service, session, form=typed, preview=preview, preview_problem=problem)


def _pairs(text: str) -> dict[str, str]:
    pairs = {}
    for part in split(text):
        unit, sep, mode = part.partition("=")
        if not sep:
            raise StatusError(f"write unit modes as UNIT=mode, one per line (got {part!r})")
        pairs[unit.strip()] = mode.strip()
    return pairs
