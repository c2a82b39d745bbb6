"""The journal's web contract: the FastAPI dependencies every handler gets its collaborators through.

Handlers in ``record.api``, ``record.web``, ``record.web_admin``, ``record.status_api``,
``postreg.web`` and ``readcopy.web`` declare what they need (``JournalDep``, ``SessionDep``,
``FormDep``, ``RenderDep`` …) instead of reaching into ``app.state`` or into each other's private
helpers, so ``app.dependency_overrides[get_journal] = …`` reaches every one of them.

The one thing read from the app is the ``Runtime`` its lifespan built (``app.state.runtime``).
Error handlers and ASGI wrappers, which FastAPI does not inject, use ``render``, ``page_language``
and ``session_from_request``: the same code, resolved from the request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from obruten.platform.auth import InvalidToken, Session, TokenSigner, same_secret
from obruten.platform.config import Config
from obruten.platform.errors import Forbidden, Unauthenticated
from obruten.platform.flags import FlagCache
from obruten.platform.i18n import pick_language, translator
from obruten.record import staff
from obruten.record.login_guard import LoginGuard
from obruten.record.revocation import Revocations
from obruten.record.service import Journal

SESSION_COOKIE = "obruten_session"
LANG_COOKIE = "lang"
CSRF_COOKIE = "obruten_csrf"  # the login form's double-submit token (no session yet)
_ACTIVE_CACHE_SECONDS = 30
_FORM_EXPIRED = "the form has expired or did not come from this site; reload the page and try again"


@dataclass
class Runtime:
    """What every request handler needs; one per process, built whole by the app's lifespan."""

    config: Config
    signer: TokenSigner
    journal: Journal
    templates: Jinja2Templates
    revocations: Revocations  # sessions ended by logout or deactivation (record.revocation)
    guard: LoginGuard  # login throttling (record.login_guard)
    _active: dict[int, tuple[bool, float]] = field(default_factory=dict)

    async def user_active(self, user_id: int) -> bool:
        """Deactivated accounts lose their sessions within ``_ACTIVE_CACHE_SECONDS`` (a read, not a write)."""
        cached = self._active.get(user_id)
        now = time.monotonic()
        if cached and now - cached[1] < _ACTIVE_CACHE_SECONDS:
            return cached[0]
        async with self.journal.pool.connection() as conn:
            active = await staff.is_active(conn, user_id)
        self._active[user_id] = (active, now)
        return active


# ---- the runtime and the journal --------------------------------------------------------------------
async def get_runtime(request: Request) -> Runtime:
    """``async``: FastAPI runs a plain ``def`` dependency in a worker thread, a hop that cost more
    CPU than the read itself on the read copy's hot path; these dependencies never block."""
    return runtime_of(request)


def runtime_of(request: Request) -> Runtime:
    """``get_runtime`` outside dependency injection (error handlers, ASGI wrappers)."""
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_journal(rt: RuntimeDep) -> Journal:
    return rt.journal


JournalDep = Annotated[Journal, Depends(get_journal)]


def get_flags(request: Request) -> FlagCache:
    """This release's feature flags as switched (``FlagCache.on(name, unit)``; re-read every few seconds)."""
    cache: FlagCache | None = getattr(request.app.state, "flags", None)
    return cache if cache is not None else _NO_SWITCHES  # an app composed without the lifespan: every flag off


_NO_SWITCHES = FlagCache(lambda: (), ttl=float("inf"))


FlagsDep = Annotated[FlagCache, Depends(get_flags)]


# ---- language -------------------------------------------------------------------------------------------
def language_of(request: Request, rt: Runtime) -> str:
    return pick_language(request.cookies.get(LANG_COOKIE), rt.config.default_language)


async def get_language(request: Request, rt: RuntimeDep) -> str:
    return language_of(request, rt)


LanguageDep = Annotated[str, Depends(get_language)]


def page_language(request: Request) -> str:
    """``get_language`` outside dependency injection (error handlers, ASGI wrappers)."""
    return language_of(request, runtime_of(request))


# ---- sessions ----------------------------------------------------------------------------------------------
def bearer_or_cookie(request: Request) -> str | None:
    """The session token: ``Authorization: Bearer …`` (API clients) before the session cookie (pages)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


def client_address(request: Request) -> str | None:
    """The client's address, as uvicorn resolved it (``X-Forwarded-For`` only from the proxies in
    ``FORWARDED_ALLOW_IPS``; see platform/cookies.py)."""
    return request.client.host if request.client else None


async def get_optional_session(request: Request, rt: RuntimeDep) -> Session | None:
    """The viewer's session, if the token is valid and the account still active; else None."""
    token = bearer_or_cookie(request)
    if not token:
        return None
    try:
        session = rt.signer.read(token)
    except InvalidToken:  # any string at all, ASCII or not: no session (401 / the login page)
        return None
    if await rt.revocations.ended(session) or not await rt.user_active(session.user_id):
        return None
    return session


OptionalSessionDep = Annotated[Session | None, Depends(get_optional_session)]


async def session_from_request(request: Request) -> Session | None:
    """``get_optional_session`` outside dependency injection (error handlers)."""
    return await get_optional_session(request, runtime_of(request))


async def get_session(request: Request, session: OptionalSessionDep) -> Session:
    """The logged-in viewer (else 401 / the login page); pages render with it."""
    if session is None:
        raise Unauthenticated("log in first (POST /api/v1/login, or the login page)")
    request.state.session = session
    return session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_admin(session: SessionDep) -> Session:
    if session.role != "admin":
        raise Forbidden("this screen is for admins")
    return session


AdminDep = Annotated[Session, Depends(get_admin)]


# ---- forms -----------------------------------------------------------------------------------------------------
async def _fields(request: Request) -> tuple[dict[str, str], str]:
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    return data, data.pop("csrf", "")


async def get_form(request: Request, rt: RuntimeDep, session: SessionDep) -> dict[str, str]:
    """The posted form's text fields, once its CSRF token is checked against the viewer's session."""
    data, token = await _fields(request)
    if not rt.signer.check_csrf(session, token):
        raise Forbidden(_FORM_EXPIRED)
    return data


FormDep = Annotated[dict[str, str], Depends(get_form)]


async def get_login_form(request: Request) -> dict[str, str]:
    """The login form's fields, its CSRF token checked against the double-submit cookie."""
    data, token = await _fields(request)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not same_secret(token, cookie):
        raise Forbidden(_FORM_EXPIRED)
    return data


LoginFormDep = Annotated[dict[str, str], Depends(get_login_form)]


# ---- pages ------------------------------------------------------------------------------------------------------
class Renderer:
    """Renders a journal page with what every template expects (translations, session, CSRF, banner)."""

    def __init__(self, request: Request, rt: Runtime, lang: str) -> None:
        self.request, self.rt, self.lang = request, rt, lang

    def __call__(self, template: str, status_code: int = 200, **context: object) -> HTMLResponse:
        request = self.request
        session = context.pop("session", None) or getattr(request.state, "session", None)
        csrf = self.rt.signer.csrf_token(session) if isinstance(session, Session) \
            else request.cookies.get(CSRF_COOKIE, "")
        base = {"request": request, "t": translator(self.lang), "lang": self.lang, "session": session,
                "csrf": csrf, "status_message": getattr(request.state, "status_message", None)}
        return self.rt.templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)


async def get_render(request: Request, rt: RuntimeDep, lang: LanguageDep) -> Renderer:
    return Renderer(request, rt, lang)


RenderDep = Annotated[Renderer, Depends(get_render)]


def render(request: Request, template: str, status_code: int = 200, **context: object) -> HTMLResponse:
    """``RenderDep`` outside dependency injection (error handlers, ASGI wrappers)."""
    rt = runtime_of(request)
    return Renderer(request, rt, language_of(request, rt))(template, status_code, **context)
