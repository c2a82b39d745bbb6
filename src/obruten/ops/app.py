"""The ops app's composition root: it only composes.

``build_service`` makes the ops service whole with its collaborators (store, clock, alarm
channels, probes, the status issuer) and the event analysis tables. ``create_app`` mounts the
six module-level routers (``api``, ``audit_api``, ``web``, ``status_api``, ``analysis.api``, ``analysis.web``);
handlers reach the service only through the dependencies of ``ops.http``, so
``app.dependency_overrides`` replaces any of them.

Two ways in, one lifespan:

- ``create_app(service)``: the caller built the service (and owns its store and loop); the app
  completes it (status issuer, analysis tables) and serves it. Works without a lifespan too.
- ``create_app(settings=…, run_loop=True)``: the lifespan builds the service from the settings,
  runs its loop, and on shutdown stops the loop and closes the store (an ``AsyncExitStack``, last
  started first stopped).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from obruten.ops import alarms, api, audit_anchors, audit_api, status_api, web
from obruten.ops.analysis import api as analysis_api
from obruten.ops.analysis import schema as analysis_schema
from obruten.ops.analysis import web as analysis_web
from obruten.ops.channels import Channel
from obruten.ops.clock import Clock
from obruten.ops.probes import Probe
from obruten.ops.service import OpsService
from obruten.ops.settings import Settings
from obruten.ops.status_service import StatusIssuer, StatusSettings
from obruten.ops.store import Store
from obruten.platform import problems
from obruten.platform.headers import SecurityHeaders

LOOP_STOP_S = 20


def complete(service: OpsService) -> OpsService:
    """What the app needs beside the loop: a status issuer (from ``var/ops/status.toml``) when the
    service has none, and the event analysis tables."""
    if service.status_issuer is None:
        service.status_issuer = StatusIssuer(service.store, service.var_dir,
                                             StatusSettings.load(service.settings.ops_dir))
    analysis_schema.ensure(service.store)
    audit_anchors.ensure(service.store)  # GET /api/v1/audit/anchors answers before the first anchor
    return service


def build_service(settings: Settings, *, store: Store | None = None, clock: Clock | None = None,
                  channels: Mapping[str, Channel] | None = None, probes: Iterable[Probe] | None = None,
                  status_issuer: StatusIssuer | None = None) -> OpsService:
    """The ops service whole; each collaborator not given is built from ``settings``."""
    store = store or Store(settings.store_location)
    return complete(OpsService(settings, store=store, clock=clock, channels=channels, probes=probes,
                               status_issuer=status_issuer))


@contextmanager
def running(service: OpsService) -> Iterator[threading.Thread]:
    """The ops loop (probe, judge, alarm, escalate, deliver) in a thread, stopped on exit."""
    stop = threading.Event()
    loop = threading.Thread(target=service.run, args=(stop,), name="ops-loop", daemon=True)
    loop.start()
    try:
        yield loop
    finally:
        stop.set()
        loop.join(timeout=LOOP_STOP_S)


def _alarm_error(request: Request, exc: Exception) -> JSONResponse:
    return problems.answer(str(exc), 404, detail=str(exc))


def create_app(service: OpsService | None = None, *, settings: Settings | None = None,
               run_loop: bool = False) -> FastAPI:
    """The ops app over ``service``, or over one its lifespan builds from ``settings``."""
    if (service is None) == (settings is None):
        raise TypeError("create_app takes the ops service, or the settings to build one from (not both)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if settings is not None:  # no service given: build it here, and close its store at the end
                built = build_service(settings)
                stack.callback(built.store.close)
                app.state.ops = built
            if run_loop:
                stack.enter_context(running(app.state.ops))
            yield

    app = FastAPI(title="Obruten ops", version="1", docs_url=None, redoc_url=None, openapi_url="/api/v1/openapi.json",
                  lifespan=lifespan)
    app.state.panels = analysis_web.PANELS  # the console pages' event analysis panels
    if service is not None:
        app.state.ops = complete(service)
    app.include_router(status_api.router)  # the status service: operating mode and status message
    app.include_router(api.router)
    app.include_router(audit_api.router)  # the signed audit anchors, read-only
    app.include_router(web.router, include_in_schema=False)  # the console: pages for people, not the API
    app.include_router(analysis_api.router)  # event analysis: /api/v1/analyses and /console/analyses
    app.include_router(analysis_web.router, include_in_schema=False)
    app.add_exception_handler(alarms.AlarmError, _alarm_error)
    # one error shape ({"error", "problems"}, with "detail" kept), invalid input and refused values
    # answered 4xx, and the OpenAPI document at /api/v1/openapi.json saying so
    problems.install(app, default_language=lambda r: r.app.state.ops.settings.language)
    problems.document(app, is_api=lambda path: not path.startswith("/console"))
    app.add_middleware(SecurityHeaders)  # CSP without script, frame-ancestors none, no-store, nosniff
    return app
