"""The read copy's web layer: writes are refused, ``GET /api/v1/read-copy`` tells how current it is.

Refusing is one rule in one place (``RefuseWrites``, an ASGI wrapper around the app): every request
that would write -- any POST/PUT/PATCH/DELETE except logging in and out and emergency access (granted
locally, see ``readcopy.journal``), and the GET pages that only show a write form -- gets HTTP 503
with the reason (API) or the error page (UI). The pool's ``default_transaction_read_only`` and the
standby itself are the second and third walls; a write that still reaches the database gets the
same answer. The banner and the hiding of write controls live in ``readcopy_banner.html``.

The journal's ``create_app`` composes these pieces when ``config.read_copy`` is set: ``router``,
``RefuseWrites`` and ``read_only`` (the handler for a write that reached the standby).
"""

from __future__ import annotations

import re
from typing import Annotated

import psycopg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from obruten.platform.i18n import translator
from obruten.readcopy import write_links
from obruten.readcopy.service import ReadCopy
from obruten.record.deps import page_language, render

API_MESSAGE = ("the read copy is read-only: document in the journal (the primary) when it is available, "
               "otherwise on paper according to the reserve routine (reservrutin)")

# login/logout need no write (a read copy keeps its logouts in the process: record.revocation); emergency access is granted locally (ADR 0022); a status message is
# pushed to every node, the read copy included (it lands in var/status, not in the database)
_ALLOWED_POSTS = re.compile(r"^/(api/v1/)?log(in|out)$|^/(api/v1/)?patients/\d+/emergency-access$"
                            r"|^/api/v1/status$")
_WRITE_FORMS = re.compile(r"^/patients/\d+/(note|medication|referral)/new$|^/notes/[^/]+/correct$"
                          r"|^/referrals/[^/]+/result$")
_READ_METHODS = ("GET", "HEAD", "OPTIONS")

router = APIRouter(prefix="/api/v1", tags=["read copy"])


def get_read_copy(request: Request) -> ReadCopy:
    """The read copy's services, started by the app's lifespan (``app.state.read_copy``)."""
    return request.app.state.read_copy


ReadCopyDep = Annotated[ReadCopy, Depends(get_read_copy)]


@router.get("/read-copy", summary="How current the read copy is: {as_of, lag_seconds, stale}")
async def read_copy_status(rc: ReadCopyDep) -> JSONResponse:
    return JSONResponse({**rc.lag.current().as_json(), "node": rc.node})


def refuses(method: str, path: str) -> bool:
    if method.upper() in _READ_METHODS:
        return bool(_WRITE_FORMS.match(path))
    return not _ALLOWED_POSTS.match(path)


def refusal(request: Request) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": API_MESSAGE, "read_copy": True}, status_code=503,
                            headers={"Retry-After": "60"})
    return render(request, "error.html", 503, message=translator(page_language(request))("readcopy.read_only"))


class RefuseWrites:
    """Refuses writes, and strips every write control (a link to a write form, a form that
    writes, a link labelled with a write verb) from the pages it serves (``write_links``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.labels = write_links.write_labels()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if refuses(scope["method"], scope["path"]):
            await refusal(Request(scope, receive))(scope, receive, send)
            return
        await self.app(scope, receive, self._stripping(send))

    def _stripping(self, send: Send) -> Send:
        """``send``, with an HTML body rewritten without write controls (held until complete)."""
        start: Message | None = None
        body: list[bytes] = []

        async def stripping(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                given = dict(message.get("headers", []))
                if given.get(b"content-type", b"").startswith(b"text/html"):
                    start = message
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            html = write_links.strip_write_controls(b"".join(body).decode("utf-8"), refuses_any, self.labels)
            data = html.encode("utf-8")
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data, "more_body": False})

        return stripping


def refuses_any(method: str, path: str) -> bool:
    """Whether a link (GET) or form (its method) to ``path`` leads to a write the read copy refuses:
    a write form, or a POST that is not one of the few a read copy takes (log in and out, emergency
    access). A form that searches (GET) is a read."""
    if method.upper() == "GET":
        return bool(_WRITE_FORMS.match(path))
    return refuses(method, path)


async def read_only(request: Request, exc: psycopg.errors.ReadOnlySqlTransaction) -> Response:
    """A write that got past ``RefuseWrites`` and reached the standby: the same answer."""
    return refusal(request)
