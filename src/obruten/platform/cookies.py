"""Cookie flags: ``Secure`` when the request came over TLS, ``HttpOnly`` and ``SameSite=Lax`` always.

"Came over TLS" is ``request.url.scheme == "https"``. Behind a TLS-terminating reverse proxy the
scheme comes from its ``X-Forwarded-Proto`` header, which uvicorn (``obruten serve``) honours only
from the addresses in ``FORWARDED_ALLOW_IPS`` (uvicorn's setting; default ``127.0.0.1``, a proxy
on the same host). A proxy elsewhere: set ``FORWARDED_ALLOW_IPS`` to its address. Nothing else
reads the forwarded headers, so a client cannot claim TLS (or another address) on its own.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from starlette.requests import HTTPConnection


class CookieFlags(TypedDict):
    secure: bool
    httponly: bool
    samesite: Literal["lax"]


def over_tls(request: HTTPConnection) -> bool:
    return request.url.scheme in ("https", "wss")


def cookie_flags(request: HTTPConnection) -> CookieFlags:
    """Keyword arguments for ``Response.set_cookie``/``delete_cookie`` of a session or CSRF cookie."""
    return {"secure": over_tls(request), "httponly": True, "samesite": "lax"}
