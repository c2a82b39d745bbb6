"""A session token, CSRF token or cookie that is not ASCII or not well formed is no session: 401 or
the login page, never a 500, on every route of the journal (its API, pages, admin, post-registration,
ward kit, status and static files), as a cookie and as a bearer header.

The failure: a non-ASCII token reached ``hmac.compare_digest``, which raises ``TypeError`` for
non-ASCII text, so every route answered 500 to an unauthenticated client.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.routing import APIRoute

from obruten.postreg import web as postreg_web
from obruten.record import api, status_api, web, web_admin
from obruten.wardkit import web as wardkit_web
from obruten.wardkit.tokens import agent_token

SAMPLES = {"patient": "1", "unit": "H01-AVD01", "entry": "00000000-0000-0000-0000-000000000001",
           "order": "00000000-0000-0000-0000-000000000001", "order_number": "LAB-1AAAAAA-0000001",
           "table": "note", "user_id": "1", "code": "sv", "path": "obruten.css"}
BAD = ["ärlig-token".encode(), "é.é".encode(), b"\xff\xfe.\x80", b"abc", b".", b"x" * 5000,
       "😀".encode() + b".sig"]


def routes() -> list[tuple[str, str]]:
    """(method, path) of every route the journal app includes, path parameters filled with samples
    (its routers, as ``record.app.create_app`` includes them, and a static file)."""
    found: set[tuple[str, str]] = {("GET", "/static/obruten.css"), ("GET", "/metrics"), ("GET", "/api/v1/openapi.json")}
    for router in (api.router, web.router, web_admin.router, wardkit_web.router, postreg_web.api, postreg_web.pages,
                   status_api.router):
        for route in router.routes:
            assert isinstance(route, APIRoute)
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLES.get(m.group(1), "1"), route.path)
            found.update((m, path) for m in route.methods if m != "HEAD")
    return sorted(found)


ROUTES = routes()


def test_every_route_family_is_covered() -> None:
    paths = {p for _, p in ROUTES}
    for family in ("/api/v1/patients/", "/api/v1/logout", "/patients/", "/admin/users", "/login", "/logout",
                   "/api/v1/status", "/static/"):
        assert any(p.startswith(family) for p in paths), family
    assert len(ROUTES) > 40


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_malformed_tokens_are_no_session_never_a_500(journal_server, method: str, path: str) -> None:
    # the ward-kit routes check an agent token only once the agent secret exists: make sure it does
    agent_token(journal_server.var_dir, SAMPLES["unit"])
    with httpx.Client(base_url=journal_server.base, timeout=30) as client:
        for bad in BAD:
            for headers in ({"Authorization": b"Bearer " + bad},
                            {"Cookie": b"obruten_session=" + bad + b"; obruten_csrf=" + bad + b"; lang=" + bad
                                       + b"; obruten_override=" + bad + b".x"}):
                data = {"csrf": bad.decode("latin-1"), "username": "x", "password": "y"} if method == "POST" else None
                r = client.request(method, path, headers=headers, data=data)
                assert r.status_code < 500, (method, path, headers, r.status_code, r.text[:300])
                if path.startswith("/api/v1/") and path not in ("/api/v1/health", "/api/v1/openapi.json",
                                                                "/api/v1/docs", "/api/v1/status", "/api/v1/login",
                                                                "/api/v1/docs/oauth2-redirect"):
                    assert r.status_code in (401, 404, 405, 415, 422), (method, path, r.status_code, r.text[:300])
