"""The ops service's HTTP contract, shared by its five routers (``api``, ``web``, ``status_api``,
``analysis.api``, ``analysis.web``): who asks, and how a console page is answered.

Everything here is a FastAPI dependency, so a test (or another composition) replaces any of them
with ``app.dependency_overrides[dependency] = …``:

- ``Ops``: the ops service the app was composed with (``app.state.ops``, set by ``ops.app``);
  ``Issuer``: its status issuer (the event analysis adds ``analysis.http.NameSources``).
- ``Who``: an API client, by ``Authorization: Bearer <token>`` (``POST /api/v1/session``).
- ``Console``: a console user, by the session cookie; a POST must carry the form's ``csrf``
  token. No session: a redirect to ``/login``.
- ``Officer``: a console user in the role ``tib`` (officer on duty); others get 403.

Both ``Who`` and ``Console`` take only sessions of an ops console role (``users.CONSOLE_ROLES``):
a token that verifies but names another role (say a journal session, should a node be given the
ops secret) is refused with 403 on every router, the event analysis included.

``render`` answers a console page: templates, language, the session and its CSRF token, and the
region's status banner on every page.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from obruten.ops.clock import parse
from obruten.ops.service import OpsService
from obruten.ops.status_service import StatusIssuer, current
from obruten.ops.store import Store
from obruten.ops.users import CONSOLE_ROLES
from obruten.platform.auth import InvalidToken, Session
from obruten.platform.i18n import local_time, pick_language, translator
from obruten.status.banner import banner_css, render_banner

COOKIE = "obruten_ops"
LANG_COOKIE = "lang"
STALE_FORM = "stale form; reload the page and try again"

templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html"]))


def _lt(value: object, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if isinstance(value, str):
        value = parse(value)
    return local_time(value, fmt)  # type: ignore[arg-type]


templates.filters["lt"] = _lt


# ---- what the app was composed with ---------------------------------------------------------
def ops_service(request: Request) -> OpsService:
    return request.app.state.ops


Ops = Annotated[OpsService, Depends(ops_service)]


def status_issuer(service: Ops) -> StatusIssuer:
    if service.status_issuer is None:
        raise HTTPException(503, "the status service is not set up in this ops app")
    return service.status_issuer


Issuer = Annotated[StatusIssuer, Depends(status_issuer)]




# ---- who asks ---------------------------------------------------------------------------------
def _ops_role(session: Session) -> Session:
    if session.role not in CONSOLE_ROLES:
        raise HTTPException(403, f"the ops service is for its own users (roles {', '.join(CONSOLE_ROLES)}); "
                                 f"a session of role {session.role!r} is refused: log in with an ops account")
    return session


def api_session(service: Ops, authorization: Annotated[str | None, Header()] = None) -> Session:
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "send Authorization: Bearer <token> (POST /api/v1/session)")
    try:
        session = service.signer.read(authorization.removeprefix("Bearer ").strip())
    except InvalidToken as exc:
        raise HTTPException(401, str(exc)) from exc
    return _ops_role(session)


Who = Annotated[Session, Depends(api_session)]


def lang_of(request: Request, service: OpsService) -> str:
    return pick_language(request.cookies.get(LANG_COOKIE), service.settings.language)


def optional_console_session(request: Request, service: Ops) -> Session | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        return service.signer.read(token)
    except InvalidToken:
        return None


async def console_session(request: Request, service: Ops,
                          session: Annotated[Session | None, Depends(optional_console_session)]) -> Session:
    """The console user; a POST must also carry the form field ``csrf`` of that session."""
    if session is None:
        raise HTTPException(303, headers={"Location": "/login"})
    _ops_role(session)
    if request.method == "POST":
        form = await request.form()
        csrf = form.get("csrf")
        if not service.signer.check_csrf(session, csrf if isinstance(csrf, str) else None):
            raise HTTPException(403, STALE_FORM)
    return session


Console = Annotated[Session, Depends(console_session)]


def officer_on_duty(request: Request, service: Ops, session: Console) -> Session:
    """A console user in the role ``tib``: only the officer on duty decides the preparedness level."""
    if session.role != "tib":
        raise HTTPException(403, translator(lang_of(request, service))("ops.forbidden_tib"))
    return session


Officer = Annotated[Session, Depends(officer_on_duty)]


# ---- answering a console page -----------------------------------------------------------------
def console_banner(store: Store, lang: str, now: datetime | None = None) -> dict[str, str]:
    """The region's status banner for console pages (``status_banner`` and ``status_banner_css``)."""
    try:
        doc = current(store)
    except sqlite3.OperationalError:  # no status table: this store has no status issuer yet
        doc = None
    return {"status_banner": render_banner(doc, lang, now=now), "status_banner_css": banner_css()}


def render(request: Request, name: str, status: int = 200, session: Session | None = None,
           **ctx: object) -> HTMLResponse:
    """A console page: ``t`` and ``lang``, the session with its ``csrf`` token (when given), the
    status banner, the panels the app was composed with (``app.state.panels``), and ``ctx``."""
    service = ops_service(request)
    lang = lang_of(request, service)
    if session is not None:
        ctx = {"session": session, "csrf": service.signer.csrf_token(session), **ctx}
    panels = getattr(request.app.state, "panels", {})
    t = translator(lang)

    def label(prefix: str, value: object) -> str:
        """``t(prefix + value)`` where the catalogue has it, else the value as stored."""
        key = f"{prefix}{value}"
        text = t(key)
        return str(value) if text == key else text

    html = templates.get_template(name).render(t=t, label=label, lang=lang, request=request, **panels,
                                               **console_banner(service.store, lang, service.clock.now()), **ctx)
    return HTMLResponse(html, status_code=status)


def back(path: str = "/console") -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def split(text: str) -> list[str]:
    """A form field listing things by comma or line."""
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
