"""The ward agent's local web app: the kits this PC holds, readable and printable with the network
unplugged (nothing on the pages loads from elsewhere), a stale-kit alarm banner, ``/metrics``.

``app.state``: ``settings`` (AgentSettings), ``agent`` (Agent: fetch loop, fetch state),
``kits`` (KitStore: ``.newest()`` → Kit with ``.data``, ``.pdf_path``, ``.html_path``, ``.as_of``,
``.built_at``), ``templates`` (Jinja2Templates over this package's templates/, with the kit
helpers as globals). ``obruten.ward_agent.web.router`` (downtime documentation) is mounted
beside the kit pages; both render through ``obruten.ward_agent.render``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from obruten.platform import problems
from obruten.platform.fields import Id
from obruten.platform.headers import SecurityHeaders
from obruten.platform.i18n import translator
from obruten.platform.metrics import CONTENT_TYPE
from obruten.status.document import StatusError
from obruten.status.follower import Follower
from obruten.status.ledger import Ledger
from obruten.ward_agent import web
from obruten.ward_agent.agent import Agent
from obruten.ward_agent.render import language, render, templates
from obruten.ward_agent.settings import AgentSettings
from obruten.wardkit.store import Kit

log = logging.getLogger("obruten.ward_agent")


def create_app(settings: AgentSettings, agent: Agent | None = None) -> FastAPI:
    settings.validate()
    agent = agent or Agent(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the periodic fetch, and the watch that hears of a new kit at once (agent.watch)
        tasks = [asyncio.create_task(_loop(agent)), asyncio.create_task(agent.watch())] \
            if settings.fetch_every_s > 0 else []
        follower.start()
        try:
            yield
        finally:
            follower.stop()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(title="Obruten ward agent", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/v1/openapi.json")
    app.state.settings, app.state.agent, app.state.kits = settings, agent, agent.kits
    app.state.templates = templates()
    # The region's signed status message, the same banner as in the journal (R16): followed from
    # the status service while the network is up, pushed to POST /api/v1/status, kept on disk.
    app.state.status_ledger = ledger = Ledger(settings.var_dir, settings.status_trusted_keys)
    app.state.status_follower = follower = Follower(ledger, settings.status_urls)
    _access_log(app, settings.state_dir / "access.jsonl")
    _routes(app)
    # invalid input answered with the error page (or the one JSON error shape under /api/), and
    # the OpenAPI document at /api/v1/openapi.json listing the error answers
    problems.install(app, default_language=lambda r: r.app.state.settings.language, http_errors=False,
                     page=lambda r, status, message: render(r, "agent_error.html", status, message=message))
    problems.document(app)
    app.include_router(web.router)  # documentation during downtime
    app.add_middleware(SecurityHeaders)  # kits hold patient data: no-store; CSP without script
    return app


async def _loop(agent: Agent) -> None:
    while True:
        await asyncio.to_thread(agent.tick)
        await asyncio.sleep(agent.settings.fetch_every_s)


def _access_log(app: FastAPI, path: Path) -> None:
    """Which page was opened when (no content, no query strings); the ward PC has no logins."""
    path.parent.mkdir(parents=True, exist_ok=True)

    @app.middleware("http")
    async def record(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if request.url.path != "/metrics":
            line = json.dumps({"at": time.time(), "method": request.method, "path": request.url.path,
                               "status": response.status_code, "client": request.client.host if request.client else ""})
            with path.open("a") as fh:
                fh.write(line + "\n")
        return response


def _kit_or_404(request: Request, stamp: str) -> Kit:
    kit = request.app.state.kits.get(stamp)
    if kit is None:
        raise HTTPException(404, translator(language(request))("agent.no_such"))
    return kit


def _routes(app: FastAPI) -> None:
    @app.post("/api/v1/status")
    async def accept_status(request: Request) -> JSONResponse:
        """A status message pushed by the status service; kept only when newer and trusted."""
        try:
            doc = request.app.state.status_ledger.offer(await request.json())
        except (StatusError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"accepted": doc.version})

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        kits = request.app.state.kits.kits()
        return render(request, "agent_index.html", kits=kits, kit=kits[0] if kits else None, newest=True)

    @app.get("/kits/{stamp}", response_class=HTMLResponse)
    def kit_page(request: Request, stamp: str) -> HTMLResponse:
        kit = _kit_or_404(request, stamp)
        kits = request.app.state.kits.kits()
        return render(request, "agent_index.html", kits=kits, kit=kit, newest=bool(kits) and kits[0].stamp == stamp)

    @app.get("/kits/{stamp}/patients/{patient_id}", response_class=HTMLResponse)
    def patient_page(request: Request, stamp: str, patient_id: Id) -> HTMLResponse:
        kit = _kit_or_404(request, stamp)
        patient = next((p for p in kit.data["patients"] if p["id"] == patient_id), None)
        if patient is None:
            raise HTTPException(404, translator(language(request))("agent.no_such"))
        return render(request, "agent_patient.html", kit=kit, p=patient)

    @app.get("/kits/{stamp}/kit.pdf", response_class=FileResponse,
             responses={200: {"description": "The kit as PDF", "content": {"application/pdf": {}}}})
    def pdf(request: Request, stamp: str) -> FileResponse:
        kit = _kit_or_404(request, stamp)
        return FileResponse(kit.pdf_path, media_type="application/pdf",
                            headers={"Content-Disposition": f'inline; filename="reservkit-{kit.unit}-{stamp}.pdf"'})

    @app.get("/kits/{stamp}/kit.html", response_class=HTMLResponse)
    def offline_html(request: Request, stamp: str) -> FileResponse:
        kit = _kit_or_404(request, stamp)
        return FileResponse(kit.html_path, media_type="text/html; charset=utf-8")

    @app.get("/newest.pdf", status_code=303, response_class=RedirectResponse)
    def newest_pdf(request: Request) -> RedirectResponse:
        kit = request.app.state.kits.newest()
        if kit is None:
            raise HTTPException(404, translator(language(request))("agent.no_kit"))
        return RedirectResponse(f"/kits/{kit.stamp}/kit.pdf", status_code=303)

    @app.get("/status")
    def status(request: Request) -> dict[str, object]:
        agent: Agent = request.app.state.agent
        newest = agent.kits.newest()
        return {"unit": agent.settings.unit, "newest": newest.stamp if newest else None,
                "as_of": newest.as_of.isoformat() if newest else None, "age_minutes": agent.age_minutes(),
                "stale": agent.stale(), "kits": [k.stamp for k in agent.kits.kits()],
                "last_fetch": {"at": agent.state.at.isoformat() if agent.state.at else None,
                               "result": agent.state.result, "said": agent.state.sentence},
                "report": agent.state.report_sentence}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics(request: Request) -> PlainTextResponse:
        agent: Agent = request.app.state.agent
        agent.update_metrics()
        return PlainTextResponse(agent.metrics.render(), media_type=CONTENT_TYPE)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return problems.answer(str(exc.detail), exc.status_code)
        return render(request, "agent_error.html", exc.status_code, message=exc.detail)


__all__ = ["create_app", "render"]
