"""The journal's ASGI app: the composition root. It builds one lifespan (the database pool and the
Journal, built whole with its collaborators), includes the routers and adds the error pages.

Handlers get what they need through ``record.deps``; nothing here is imported by them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import datetime
from importlib import resources
from pathlib import Path

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from psycopg.errors import ReadOnlySqlTransaction
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from obruten.platform import collector, database, problems
from obruten.platform import config as config_mod
from obruten.platform.auth import Session, TokenSigner, load_or_create_secret
from obruten.platform.config import Config
from obruten.platform.errors import DomainError, NeedsEmergencyAccess, Unauthenticated
from obruten.platform.headers import SecurityHeaders
from obruten.platform.i18n import local_time, translator
from obruten.platform.limits import BodyLimit
from obruten.postreg import web as postreg_web
from obruten.readcopy import service as read_copy
from obruten.readcopy import web as read_copy_web
from obruten.record import (
    api,
    api_adt,
    api_medication,
    flags,
    status_api,
    telemetry,
    web,
    web_admin,
    web_adt,
    web_medication,
)
from obruten.record.audit import AuditUnavailable, AuditWriter, DatabaseSink
from obruten.record.deps import Runtime, render, runtime_of
from obruten.record.login_guard import AttemptLog, LoginGuard
from obruten.record.revocation import Revocations
from obruten.record.service import Journal
from obruten.status import banner
from obruten.wardkit import web as wardkit_web


def create_app(config: Config, database_url: str) -> FastAPI:
    secret = config.secret_key or load_or_create_secret(config.var_dir / "secret_key")
    signer = TokenSigner(secret, config.session_hours)
    status = status_api.node_for(config)
    metrics = telemetry.JournalMetrics()
    app = FastAPI(title="Obruten journal API", version="1",
                  lifespan=_lifespan(config, database_url, signer, status, metrics),
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None)
    app.state.wardkit_var_dir = config.var_dir
    _add_error_handlers(app)
    telemetry.install(app, metrics)  # /metrics: request, pool and audit-writer figures (docs/ops-service.md)
    if config.read_copy:  # writes refused before they reach a handler; /api/v1/read-copy
        app.include_router(read_copy_web.router)
        app.add_middleware(read_copy_web.RefuseWrites)
        app.add_exception_handler(ReadOnlySqlTransaction, read_copy_web.read_only)  # type: ignore[arg-type]
    for router in (api_medication.router, api.router, api_adt.router, web_medication.router, web.router, web_adt.router,
                   web_admin.router, wardkit_web.router, postreg_web.api, postreg_web.pages):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(resources.files("obruten.record").joinpath("static"))),
              name="static")
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    status_api.install(app, status, signer)  # the banner, /api/v1/status, the override form, the 423 page
    app.add_middleware(SecurityHeaders)  # outermost: every answer, errors included (CSP, no-store, nosniff)
    return app


def _lifespan(config: Config, database_url: str, signer: TokenSigner, status: status_api.StatusNode,
              metrics: telemetry.JournalMetrics) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's one lifespan: the pool, the read copy's services (if one), the Journal built whole
    with its (metered) audit sink and write guard, its metrics, and the status follower; stopped in
    reverse order."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            pool = await stack.enter_async_context(_pool(config, database_url))
            if config.read_copy:  # a hot standby: audit to a local spool, lag banner, shipping (obruten.readcopy)
                rc = await stack.enter_async_context(read_copy.running(config, pool))
                app.state.read_copy = rc
                audit = AuditWriter(telemetry.MeteredSink(rc.audit_sink(), metrics))
                journal: Journal = rc.journal(pool, audit, status.guard(audit, rc.node))
            else:
                audit = AuditWriter(telemetry.MeteredSink(DatabaseSink(pool), metrics))
                journal = Journal(pool=pool, audit=audit, node=config.node_name,
                                  emergency_hours=config.emergency_access_hours,
                                  write_guard=status.guard(audit, config.node_name))
            writable = not config.read_copy  # a read copy keeps its logouts and login failures in the process
            app.state.runtime = Runtime(
                config=config, signer=signer, journal=journal, templates=_templates(),
                revocations=Revocations(pool, writable=writable, lifetime=signer.lifetime, node=config.node_name,
                                        primary_url=config.primary_url if config.read_copy else None),
                guard=LoginGuard(AttemptLog(pool, writable=writable, node=config.node_name)))
            await stack.enter_async_context(telemetry.running(metrics, journal))
            app.state.flags = await stack.enter_async_context(flags.following(pool))  # deps.FlagsDep
            status.start()
            stack.callback(status.stop)
            collector.settle()  # start-up's objects out of every later full collection
            yield

    return lifespan


@asynccontextmanager
async def _pool(config: Config, database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    if not config.read_copy:  # the primary, wherever it is now (ADR 0050): 503 at once while there is none
        urls = [u.strip() for u in config.patroni_urls.split(",") if u.strip()]
        async with database.primary_pool(database_url, patroni_urls=urls, max_size=config.pool_size,
                                         kwargs={"options": "-c TimeZone=UTC"}) as primary:
            yield primary
        return
    # read-only connections; one statement, one snapshot: no BEGIN/COMMIT round trips
    kwargs = {**database.SESSION_KWARGS, "options": "-c TimeZone=UTC -c default_transaction_read_only=on",
              "autocommit": True}
    pool = AsyncConnectionPool(database_url, min_size=2, max_size=config.pool_size, open=False, kwargs=kwargs,
                               check=AsyncConnectionPool.check_connection, timeout=database.POOL_TIMEOUT_S)
    await pool.open(wait=True, timeout=30)
    try:
        yield pool
    finally:
        await pool.close()


def _templates() -> Jinja2Templates:
    folder = Path(str(resources.files("obruten.record").joinpath("templates")))
    # the status banner's template is the status model's own (one copy for every UI)
    templates = Jinja2Templates(directory=[folder, banner.template_dir()])
    templates.env.auto_reload = False  # templates are package data: no stat() of every file on every page
    templates.env.filters["local"] = _local_filter
    templates.env.filters["clock"] = lambda v: _local_filter(v, "%H:%M")
    return templates


def _local_filter(value: object, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if isinstance(value, str):
        try:
            parsed: object = datetime.fromisoformat(value)
        except ValueError:
            return value
        value = parsed
    return local_time(value, fmt) if isinstance(value, datetime) else ""


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _identity(request: Request, patient_id: object) -> dict | None:
    """The emergency-access prompt's banner (identity and unit only); None if it cannot be had."""
    session = getattr(request.state, "session", None)
    if not isinstance(patient_id, int) or not isinstance(session, Session):
        return None
    try:
        return await runtime_of(request).journal.emergency_identity(session, patient_id)
    except (DomainError, AuditUnavailable):
        return None


def _add_error_handlers(app: FastAPI) -> None:
    # invalid input and values the database refuses: 4xx in the one error shape (platform.problems),
    # in the reader's language; the OpenAPI document lists every error answer
    problems.install(app, default_language=lambda r: r.app.state.runtime.config.default_language, is_api=_is_api,
                     page=lambda r, status, message: render(r, "error.html", status, message=message))
    problems.document(app)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        headers = getattr(exc, "headers", None)  # e.g. Retry-After of a throttled login
        if _is_api(request):
            return problems.domain_answer(exc, headers)
        if isinstance(exc, Unauthenticated):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        if isinstance(exc, NeedsEmergencyAccess):  # the prompt shows who would be opened, not the record
            patient_id = exc.details.get("patient_id")
            return render(request, "emergency.html", 403, patient_id=patient_id,
                          pb=await _identity(request, patient_id))
        return render(request, "error.html", exc.status, message=exc.message)

    async def database_down(request: Request, exc: Exception) -> Response:
        """No primary, a connection lost mid-request, no connection in time: 503 at once, in the
        reader's language, naming the read copy and the ward kit (the status banner on pages)."""
        rt: Runtime = request.app.state.runtime
        watch = getattr(rt.journal.pool, "watch", None)
        if isinstance(watch, database.PrimaryWatch):
            await watch.suspect()
        t = translator(problems.language(request, rt.config.default_language))
        read_copy_url = rt.config.read_copy_web_url
        message = t("error.database_down", read_copy=read_copy_url or t("error.read_copy_unnamed"))
        response: Response
        if _is_api(request):
            response = problems.answer(message, 503, read_copy_url=read_copy_url or None,
                                       ward_kit=t("error.ward_kit"))
        else:
            response = render(request, "unavailable.html", 503, message=message, read_copy_url=read_copy_url)
        response.headers["Retry-After"] = "5"
        return response

    for error in (psycopg.OperationalError, PoolTimeout):
        app.add_exception_handler(error, database_down)

    @app.exception_handler(AuditUnavailable)
    async def audit_down(request: Request, exc: AuditUnavailable) -> Response:
        message = "the access log cannot be written right now, so the record is not shown; try again shortly"
        if _is_api(request):
            return problems.answer(message, 503)
        return render(request, "error.html", 503, message=message)


def create_from_env() -> FastAPI:
    """Entry point for the ASGI server: builds the app from the environment (used by worker processes)."""
    environ = config_mod.environment()
    cfg = config_mod.load(environ=environ)
    url = environ.get("OBRUTEN_SERVE_DATABASE_URL") or cfg.database_url
    if not url:
        raise RuntimeError("no database URL: start with `obruten serve` (it sets OBRUTEN_SERVE_DATABASE_URL)")
    return create_app(cfg, url)

