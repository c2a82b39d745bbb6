"""Builds the journal's ASGI app: database pool, audit writer, session handling, error pages."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from psycopg_pool import AsyncConnectionPool

from obruten.platform import config as config_mod
from obruten.platform import problems
from obruten.platform.auth import InvalidToken, Session, TokenSigner, load_or_create_secret
from obruten.platform.config import Config
from obruten.platform.errors import DomainError, NeedsEmergencyAccess, Unauthenticated
from obruten.platform.i18n import LANGUAGES, local_time, translator
from obruten.platform.limits import BodyLimit
from obruten.record import staff
from obruten.record.audit import AuditUnavailable, AuditWriter, DatabaseSink
from obruten.record.service import Journal

SESSION_COOKIE = "obruten_session"
LANG_COOKIE = "lang"
_ACTIVE_CACHE_SECONDS = 30


@dataclass
class Runtime:
    """What every request handler needs; one per process."""

    config: Config
    signer: TokenSigner
    journal: Journal
    templates: Jinja2Templates
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


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def language(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE) or request.app.state.runtime.config.default_language
    return lang if lang in LANGUAGES else "sv"


async def optional_session(request: Request) -> Session | None:
    rt = runtime(request)
    token = request.cookies.get(SESSION_COOKIE)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    if not token:
        return None
    try:
        session = rt.signer.read(token)
    except InvalidToken:
        return None
    if not await rt.user_active(session.user_id):
        return None
    return session


async def current_session(request: Request) -> Session:
    session = await optional_session(request)
    if session is None:
        raise Unauthenticated("log in first (POST /api/v1/login, or the login page)")
    return session


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def render(request: Request, template: str, status_code: int = 200, **context: object) -> HTMLResponse:
    rt = runtime(request)
    lang = language(request)
    session = context.pop("session", None) or getattr(request.state, "session", None)
    base = {"request": request, "t": translator(lang), "lang": lang, "session": session,
            "csrf": rt.signer.csrf_token(session) if session else request.cookies.get("obruten_csrf", ""),
            "status_message": getattr(request.state, "status_message", None)}
    return rt.templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)


def _templates() -> Jinja2Templates:
    folder = Path(str(resources.files("obruten.record").joinpath("templates")))
    templates = Jinja2Templates(directory=folder)
    templates.env.filters["local"] = _local_filter
    templates.env.filters["clock"] = lambda v: _local_filter(v, "%H:%M")
    return templates


def _local_filter(value: object, fmt: str = "%Y-%m-%d %H:%M") -> str:
    from datetime import datetime

    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return local_time(value, fmt) if isinstance(value, datetime) else ""


def create_app(config: Config, database_url: str) -> FastAPI:
    secret = config.secret_key or load_or_create_secret(config.var_dir / "secret_key")
    signer = TokenSigner(secret, config.session_hours)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kwargs: dict[str, object] = {"options": "-c TimeZone=UTC"}
        if config.read_copy:  # read-only connections; one statement, one snapshot: no BEGIN/COMMIT round trips
            kwargs = {"options": "-c TimeZone=UTC -c default_transaction_read_only=on", "autocommit": True}
        pool = AsyncConnectionPool(database_url, min_size=2, max_size=config.pool_size, open=False, kwargs=kwargs)
        await pool.open(wait=True, timeout=30)
        if config.read_copy:  # a hot standby: audit to a local spool, lag banner, shipping (obruten.readcopy)
            from obruten.readcopy.service import start_read_copy

            journal = await start_read_copy(app, config, pool)
        else:
            journal = Journal(pool=pool, audit=AuditWriter(DatabaseSink(pool)), node=config.node_name,
                              emergency_hours=config.emergency_access_hours)
        app.state.runtime = Runtime(config=config, signer=signer, journal=journal, templates=_templates())
        try:
            yield
        finally:
            if config.read_copy:
                await app.state.read_copy.stop()
            await pool.close()

    app = FastAPI(title="Obruten journal API", version="1", lifespan=lifespan,
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None)
    _install_error_handlers(app)
    from obruten.record.telemetry import install as install_metrics

    install_metrics(app)  # /metrics: request, pool and audit-writer figures (docs/ops-service.md)
    from obruten.record import api
    from obruten.record import web as pages
    from obruten.record import web_admin as pages_admin

    if config.read_copy:
        from obruten.readcopy.web import install

        install(app)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(pages_admin.router)
    from obruten.wardkit.web import router as wardkit_router  # noqa: I001
    app.include_router(wardkit_router)
    from obruten.postreg import web as postreg_web

    app.include_router(postreg_web.api)
    app.include_router(postreg_web.pages)
    app.mount("/static", StaticFiles(directory=str(resources.files("obruten.record").joinpath("static"))),
              name="static")
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    from obruten.record.status_api import install as install_status

    install_status(app, config)  # the status banner, /api/v1/status, the operating-mode write guard
    return app


def _install_error_handlers(app: FastAPI) -> None:
    problems.install(app, default_language=lambda r: r.app.state.runtime.config.default_language, is_api=_is_api,
                     page=lambda r, status, message: render(r, "error.html", status, message=message))
    problems.document(app)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if _is_api(request):
            return problems.domain_answer(exc)
        if isinstance(exc, Unauthenticated):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        if isinstance(exc, NeedsEmergencyAccess):
            return render(request, "emergency.html", 403, patient_id=exc.details.get("patient_id"))
        return render(request, "error.html", exc.status, message=exc.message)

    @app.exception_handler(AuditUnavailable)
    async def audit_down(request: Request, exc: AuditUnavailable) -> Response:
        message = "the access log cannot be written right now, so the record is not shown; try again shortly"
        if _is_api(request):
            return problems.answer(message, 503)
        return render(request, "error.html", 503, message=message)


def create_from_env() -> FastAPI:
    """Entry point for the ASGI server: builds the app from the environment (used by worker processes)."""
    cfg = config_mod.load()
    url = os.environ.get("OBRUTEN_SERVE_DATABASE_URL") or cfg.database_url
    if not url:
        raise RuntimeError("no database URL: start with `obruten serve` (it sets OBRUTEN_SERVE_DATABASE_URL)")
    return create_app(cfg, url)
