"""The status service's HTTP side, mounted in the ops app: the API that nodes poll and issuers
call, and the console page ``/console/status``. Thin: who asks (``ops.http``), then the
``StatusIssuer``, whose rule says who may issue (the officer on duty, or whoever holds the on-call
function tib or sysf)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from obruten.ops.http import Console, Issuer, Ops, Who, render, split
from obruten.ops.service import OpsService
from obruten.ops.status_service import NotAllowed, StatusIssuer, current, deliveries, history
from obruten.platform.auth import Session
from obruten.platform.fields import Line, Text
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


@router.get("/api/v1/status/history")
def get_history(service: Ops, who: Who) -> dict[str, object]:
    return {"history": history(service.store), "deliveries": deliveries(service.store)}


# ---- console ------------------------------------------------------------------------------------
def _page(request: Request, service: OpsService, session: Session, error: str | None = None,
          status: int = 200) -> HTMLResponse:
    return render(request, "status.html", status, session=session, doc=current(service.store), modes=MODES,
                  error=error, history=history(service.store), deliveries=deliveries(service.store))


@router.get("/console/status", response_class=HTMLResponse, include_in_schema=False)
def status_page(request: Request, service: Ops, session: Console) -> HTMLResponse:
    return _page(request, service, session)


@router.post("/console/status", response_class=HTMLResponse, include_in_schema=False)
def status_form(request: Request, service: Ops, issuer: Issuer, session: Console, mode: Annotated[str, Form()],
                reason: Annotated[str, Form()] = "", headline: Annotated[str, Form()] = "",
                routine: Annotated[str, Form()] = "", details: Annotated[str, Form()] = "",
                unit_modes: Annotated[str, Form()] = "", systems: Annotated[str, Form()] = "",
                units: Annotated[str, Form()] = "", next_update: Annotated[str, Form()] = "") -> Response:
    try:
        body = IssueRequest(mode=mode, headline=headline, routine=routine, details=details, reason=reason,
                            unit_modes=_pairs(unit_modes), affected_systems=split(systems),
                            affected_units=split(units), next_update=next_update or None)
        _issue(service, issuer, session, body)
    except HTTPException as exc:
        return _page(request, service, session, str(exc.detail), exc.status_code)
    except ValueError as exc:  # pydantic's ValidationError and our own parse errors
        return _page(request, service, session, str(exc), 422)
    return RedirectResponse("/console/status", status_code=303)


def _pairs(text: str) -> dict[str, str]:
    pairs = {}
    for part in split(text):
        unit, sep, mode = part.partition("=")
        if not sep:
            raise StatusError(f"write unit modes as UNIT=mode, one per line (got {part!r})")
        pairs[unit.strip()] = mode.strip()
    return pairs
