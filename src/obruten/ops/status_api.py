"""The status service's HTTP side, mounted in the ops app: the API that nodes poll and issuers
call, and the console page ``/console/status``. Thin: check who asks, call ``StatusIssuer``."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from obruten.ops.api import Who
from obruten.ops.clock import parse as parse_time
from obruten.ops.service import OpsService
from obruten.ops.status_service import NotAllowed, StatusIssuer, StatusSettings, current, deliveries, history
from obruten.ops.store import Store
from obruten.platform.auth import InvalidToken, Session
from obruten.platform.i18n import LANGUAGES, local_time, translator
from obruten.status.banner import banner_css, render_banner
from obruten.status.document import MODES, StatusError, parse_duration


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    mode: str = Field(pattern="^(" + "|".join(MODES) + ")$")
    headline: str = Field(default="", max_length=300)
    routine: str = Field(default="", max_length=1000)
    details: str = Field(default="", max_length=4000)
    unit_modes: dict[str, str] = {}
    affected_systems: list[str] = []
    affected_units: list[str] = []
    next_update: str | None = Field(default=None, description="e.g. 30m, 2h", max_length=20)
    reason: str = Field(min_length=3, max_length=2000)


_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]))
_env.filters["lt"] = lambda value: local_time(parse_time(value), "%Y-%m-%d %H:%M:%S")


def console_banner(store: Store, lang: str) -> dict[str, str]:
    """The status banner for ops console pages (``status_banner`` and ``status_banner_css``)."""
    try:
        doc = current(store)
    except sqlite3.OperationalError:  # the status table is created when the status routes start
        doc = None
    return {"status_banner": render_banner(doc, lang), "status_banner_css": banner_css()}


def issuer_for(service: OpsService) -> StatusIssuer:
    """One issuer per ops service (kept on it so the console and the API share it)."""
    found = getattr(service, "status_issuer", None)
    if found is None:
        found = StatusIssuer(service.store, service.var_dir, StatusSettings.load(service.settings.ops_dir))
        service.status_issuer = found  # type: ignore[attr-defined]
    return found


def router(service: OpsService) -> APIRouter:
    r = APIRouter()
    issuer = issuer_for(service)

    def issue(session: Session, body: IssueRequest) -> tuple[object, list[str]]:
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

    @r.get("/api/v1/status")
    def get_status() -> JSONResponse:
        doc = current(service.store)
        return JSONResponse({"document": doc.as_dict() if doc else None, "mode": doc.mode if doc else "normal"})

    @r.get("/api/v1/status/key")
    def get_key() -> dict[str, str]:
        """The line nodes add to their trusted-keys file."""
        return {"key_id": issuer.key.key_id, "trusted_line": issuer.key.trusted_line()}

    @r.post("/api/v1/status/issue", status_code=201)
    def post_issue(body: IssueRequest, who: Who) -> dict[str, object]:
        doc, said = issue(who, body)
        return {"document": doc.as_dict(), "said": said}  # type: ignore[attr-defined]

    @r.get("/api/v1/status/history")
    def get_history(who: Who) -> dict[str, object]:
        return {"history": history(service.store), "deliveries": deliveries(service.store)}

    # ---- console ------------------------------------------------------------------------------
    def console_session(request: Request) -> Session:
        from obruten.ops.web import COOKIE

        token = request.cookies.get(COOKIE)
        try:
            return service.signer.read(token or "")
        except InvalidToken as exc:
            raise HTTPException(303, headers={"Location": "/login"}) from exc

    def page(request: Request, session: Session, error: str | None = None, status: int = 200) -> HTMLResponse:
        lang = request.cookies.get("lang", service.settings.language)
        lang = lang if lang in LANGUAGES else "sv"
        doc = current(service.store)
        html = _env.get_template("status.html").render(
            t=translator(lang), lang=lang, request=request, session=session, csrf=service.signer.csrf_token(session),
            doc=doc, modes=MODES, error=error, **console_banner(service.store, lang),
            history=history(service.store), deliveries=deliveries(service.store))
        return HTMLResponse(html, status_code=status)

    @r.get("/console/status", response_class=HTMLResponse)
    def status_page(request: Request) -> HTMLResponse:
        return page(request, console_session(request))

    @r.post("/console/status", response_class=HTMLResponse)
    def status_form(request: Request, mode: Annotated[str, Form()], reason: Annotated[str, Form()] = "",
                    headline: Annotated[str, Form()] = "", routine: Annotated[str, Form()] = "",
                    details: Annotated[str, Form()] = "", unit_modes: Annotated[str, Form()] = "",
                    systems: Annotated[str, Form()] = "", units: Annotated[str, Form()] = "",
                    next_update: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
        session = console_session(request)
        if not service.signer.check_csrf(session, csrf):
            raise HTTPException(403, "stale form; reload the page and try again")
        try:
            body = IssueRequest(mode=mode, headline=headline, routine=routine, details=details, reason=reason,
                                unit_modes=_pairs(unit_modes), affected_systems=_split(systems),
                                affected_units=_split(units), next_update=next_update or None)
            issue(session, body)
        except HTTPException as exc:
            return page(request, session, str(exc.detail), exc.status_code)
        except ValueError as exc:  # pydantic's ValidationError and our own parse errors
            return page(request, session, str(exc), 422)
        return RedirectResponse("/console/status", status_code=303)

    return r


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _pairs(text: str) -> dict[str, str]:
    pairs = {}
    for part in _split(text):
        unit, sep, mode = part.partition("=")
        if not sep:
            raise StatusError(f"write unit modes as UNIT=mode, one per line (got {part!r})")
        pairs[unit.strip()] = mode.strip()
    return pairs
