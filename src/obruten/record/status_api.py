"""The status message on a node that serves UIs (the journal, a read copy).

``install(app, node_for(config), signer)`` composes onto ``app``: the ledger and follower
(``StatusNode``, also ``app.state.status_node``), a middleware that puts the banner in
``request.state.status_message`` for every page, ``GET``/``POST /api/v1/status``, the override form
for reserve routines and the 423 page. It patches nothing: the app's lifespan starts and stops the
node and builds its journal with ``node.guard(...)`` as the write guard.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from obruten.platform.auth import InvalidToken, Session, TokenSigner
from obruten.platform.config import Config
from obruten.platform.errors import Forbidden, Invalid
from obruten.platform.i18n import translator
from obruten.record.audit import AuditWriter
from obruten.record.deps import (
    FormDep,
    RuntimeDep,
    SessionDep,
    bearer_or_cookie,
    page_language,
    render,
    session_from_request,
)
from obruten.record.service import WriteGuard
from obruten.record.write_guard import write_guard
from obruten.status import guard as guard_mod
from obruten.status.banner import banner_view
from obruten.status.document import NotNewer, StatusError, Untrusted
from obruten.status.follower import Follower
from obruten.status.ledger import Ledger

OVERRIDE_COOKIE = "obruten_override"
_OVERRIDE_PURPOSE = "status-override"


@dataclass
class StatusNode:
    config: Config
    ledger: Ledger
    follower: Follower

    def start(self) -> None:
        self.follower.start()

    def stop(self) -> None:
        self.follower.stop()

    def guard(self, audit: AuditWriter, node: str) -> WriteGuard:
        """The operating-mode write guard for a journal auditing to ``audit`` as ``node``."""
        return write_guard(self.ledger, audit.record, node, self.config.default_language)


def node_for(config: Config) -> StatusNode:
    ledger = Ledger(config.var_dir, config.status_trusted_keys)
    urls = [u.strip() for u in config.status_urls.split(",") if u.strip()]
    return StatusNode(config, ledger, Follower(ledger, urls, config.status_poll_s))


def install(app: FastAPI, node: StatusNode, signer: TokenSigner | None = None) -> StatusNode:
    """Compose ``node``'s pieces onto ``app`` (``signer`` reads the viewer's session and the override
    cookie; without one, as on a bare push node, the banner is the region's). The caller's lifespan
    starts and stops the node."""
    app.state.status_node = node
    app.include_router(router)
    app.add_middleware(StatusMiddleware, node=node, signer=signer)
    app.add_exception_handler(guard_mod.WriteBlocked, blocked)  # type: ignore[arg-type]
    return node


def get_status_node(request: Request) -> StatusNode:
    return request.app.state.status_node


StatusNodeDep = Annotated[StatusNode, Depends(get_status_node)]


# ---- middleware -------------------------------------------------------------------------------------
def _session_of(request: Request, signer: TokenSigner | None) -> Session | None:
    """The viewer's session from the token alone (no database: the banner shows during outages)."""
    token = bearer_or_cookie(request)
    if not token or signer is None:
        return None
    try:
        return signer.read(token)
    except InvalidToken:
        return None


class StatusMiddleware:
    """Puts the banner for the viewer's care units in ``request.state.status_message`` (and
    ``request.state.status_banner_for(unit)``, the banner for the unit a page is about) and the
    request's reserve-routine override (if any) in ``guard.current_override``."""

    def __init__(self, app: ASGIApp, node: StatusNode, signer: TokenSigner | None = None) -> None:
        self.app, self.node, self.signer = app, node, signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        signer = self.signer
        request = Request(scope)
        session = _session_of(request, signer)
        doc, units = self.node.ledger.current(), session.units if session else None
        # pages without a unit: the viewer's units, each named; a page about one unit (a patient's,
        # a ward's) asks ``status_banner_for(unit)`` in base.html for that unit's mode
        request.state.status_message = banner_view(doc, units)
        request.state.status_banner_for = lambda unit: banner_view(doc, units, unit=unit)
        token = guard_mod.current_override.set(_override(request, signer))
        try:
            await self.app(scope, receive, send)
        finally:
            guard_mod.current_override.reset(token)


def _override(request: Request, signer: TokenSigner | None) -> guard_mod.Override | None:
    if guard_mod.OVERRIDE_HEADER in request.headers:
        return guard_mod.Override(unquote(request.headers[guard_mod.OVERRIDE_HEADER]))
    raw = request.cookies.get(OVERRIDE_COOKIE)
    if not raw or signer is None or "." not in raw:
        return None
    body, mac = raw.rsplit(".", 1)
    if not signer.verify(body, mac, _OVERRIDE_PURPOSE):  # any cookie text: no override, never an error
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    if data.get("until", 0) < time.time():
        return None
    return guard_mod.Override(str(data.get("reason", "")), sid=str(data.get("sid")))


# ---- routes ---------------------------------------------------------------------------------------------
router = APIRouter()


@router.get("/api/v1/status", tags=["status"], summary="The current signed status message (no login needed)")
def get_status(node: StatusNodeDep) -> JSONResponse:
    doc = node.ledger.current()
    return JSONResponse({"document": doc.as_dict() if doc else None,
                         "mode": doc.mode if doc else "normal", "follower": node.follower.last_sentence})


@router.post("/api/v1/status", tags=["status"], summary="Push a signed status message (accepted only if newer)")
async def push_status(request: Request, node: StatusNodeDep) -> JSONResponse:
    try:
        data = await request.json()
    except ValueError:
        return JSONResponse({"error": "send the signed status document as JSON"}, status_code=422)
    if isinstance(data, dict) and "document" in data:
        data = data["document"]
    try:
        doc = node.ledger.offer(data)
    except NotNewer as exc:
        held = node.ledger.current()
        if held is not None and isinstance(data, dict) and data.get("signature") == held.signature:
            return JSONResponse({"accepted": held.version, "already_held": True})  # a retried push
        return JSONResponse({"error": str(exc)}, status_code=409)
    except Untrusted as exc:
        return JSONResponse({"error": str(exc)}, status_code=403)
    except StatusError as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)
    return JSONResponse({"accepted": doc.version, "mode": doc.mode}, status_code=202)


@router.post("/status/override", include_in_schema=False)
async def override(session: SessionDep, form: FormDep, rt: RuntimeDep) -> Response:
    if session.role not in guard_mod.OVERRIDE_ROLES:
        raise Forbidden(f"only {' or '.join(guard_mod.OVERRIDE_ROLES)} may write during reserve routines")
    reason = str(form.get("reason", "")).strip()
    if len(reason) < 5:
        raise Invalid("give a reason of at least 5 characters for writing during reserve routines")
    until = int(time.time()) + guard_mod.OVERRIDE_MINUTES * 60
    body = base64.urlsafe_b64encode(json.dumps({"sid": session.sid, "until": until, "reason": reason[:500]})
                                    .encode()).rstrip(b"=").decode()
    back = str(form.get("back", "/"))
    response = RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/", 303)
    response.set_cookie(OVERRIDE_COOKIE, f"{body}.{rt.signer.sign(body, _OVERRIDE_PURPOSE)}", httponly=True,
                        samesite="lax", max_age=guard_mod.OVERRIDE_MINUTES * 60)
    return response


async def blocked(request: Request, exc: guard_mod.WriteBlocked) -> Response:
    """The 423 answer: JSON for the API, else the page naming the routine (with the override form)."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": exc.message, "details": exc.details}, status_code=exc.status)
    message = guard_mod.blocked_message(translator(page_language(request)), exc.details)
    session = await session_from_request(request)
    referer = request.headers.get("referer", "/")
    back = referer.split(request.base_url.netloc, 1)[-1] if request.base_url.netloc in referer else "/"
    return render(request, "status_blocked.html", exc.status, session=session, message=message,
                  details=exc.details, back=back,
                  may_override=bool(session and session.role in guard_mod.OVERRIDE_ROLES)) \
        if session else HTMLResponse(message, status_code=exc.status)
