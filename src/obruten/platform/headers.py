"""ASGI middleware: the security headers every Obruten service sends.

- ``Content-Security-Policy`` on HTML: no script at all (the UIs need none), styles and images
  from the service itself (inline ``<style>`` and ``style=""`` are allowed; they carry no code),
  forms post only to the service, and no page may be framed (``frame-ancestors 'none'``).
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` (patient ids are in URLs: never sent to another site; the
  service itself uses the referer to return to the page a language switch came from)
  and ``X-Frame-Options: DENY`` (browsers without CSP level 2) on every response.
- ``Cache-Control: no-store`` on every response that does not set its own cache policy, except
  the static assets: patient pages, API answers and kits must not stay in a shared PC's cache.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'none'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
           (b"x-frame-options", b"DENY"))
_ALWAYS_NAMES = frozenset(k for k, _ in _ALWAYS)
_CSP = CSP.encode()


class SecurityHeaders:
    """Wraps an app; ``cacheable`` are path prefixes that keep their own caching (static assets)."""

    def __init__(self, app: ASGIApp, cacheable: tuple[str, ...] = ("/static/",)) -> None:
        self.app = app
        self.cacheable = cacheable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(self.cacheable)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers, names, content_type = [], set(), b""
                for k, v in message.get("headers", []):
                    name = k.lower()
                    if name in _ALWAYS_NAMES:
                        continue
                    headers.append((k, v))
                    names.add(name)
                    if name == b"content-type":
                        content_type = v
                headers.extend(_ALWAYS)
                if content_type.startswith(b"text/html") and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", _CSP))
                if not cacheable and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
