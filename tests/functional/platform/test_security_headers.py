"""Every service's responses carry the security headers; patient pages are never cached."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.routing import Route

from obruten.platform.headers import CSP, SecurityHeaders


def _app() -> SecurityHeaders:
    async def page(request):  # noqa: ANN001, ANN202
        return HTMLResponse("<h1>Patient</h1>")

    async def api(request):  # noqa: ANN001, ANN202
        return JSONResponse({"ok": True})

    async def asset(request):  # noqa: ANN001, ANN202
        return PlainTextResponse("body{}", headers={"cache-control": "max-age=3600"})

    async def cached_by_choice(request):  # noqa: ANN001, ANN202
        return JSONResponse({}, headers={"cache-control": "max-age=5"})

    return SecurityHeaders(Starlette(routes=[Route("/patients/1", page), Route("/api/v1/x", api),
                                             Route("/static/obruten.css", asset), Route("/api/v1/c", cached_by_choice)]))


def get(path: str) -> httpx.Response:
    async def run() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t") as client:
            return await client.get(path)

    return asyncio.run(run())


def test_html_pages_get_csp_without_script_and_are_not_cached() -> None:
    response = get("/patients/1")
    assert response.headers["content-security-policy"] == CSP
    assert "script-src 'none'" in CSP and "frame-ancestors 'none'" in CSP and "unsafe-eval" not in CSP
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"


def test_json_is_not_cached_and_gets_no_csp() -> None:
    response = get("/api/v1/x")
    assert response.headers["cache-control"] == "no-store"
    assert "content-security-policy" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_static_assets_and_explicit_cache_policies_are_kept() -> None:
    assert get("/static/obruten.css").headers["cache-control"] == "max-age=3600"
    assert get("/api/v1/c").headers["cache-control"] == "max-age=5"
    assert get("/api/v1/nope").headers["cache-control"] == "no-store"  # 404s too


def test_the_journal_sends_them_on_patient_pages_and_the_api(journal_server) -> None:  # type: ignore[no-untyped-def]
    client = httpx.Client(base_url=journal_server.base, timeout=10)
    login = client.post("/api/v1/login", json={"username": "lakare", "password": "demo"})
    client.headers["Authorization"] = f"Bearer {login.json()['token']}"
    login_page = client.get("/login")
    assert login_page.headers["content-security-policy"] == CSP
    assert login_page.headers["x-frame-options"] == "DENY"
    api = client.get("/api/v1/health")
    assert api.headers["cache-control"] == "no-store" and api.headers["x-content-type-options"] == "nosniff"
    ward = client.get(f"/ward/{login.json()['user']['units'][0]}")
    assert ward.status_code == 200 and ward.headers["cache-control"] == "no-store"
    assert ward.headers["content-security-policy"] == CSP
    assert "no-store" not in client.get("/static/obruten.css").headers.get("cache-control", "")
