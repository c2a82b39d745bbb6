"""The ops app's composition and HTTP contract (``ops.app``, ``ops.http``): dependency overrides
reach the handlers, every router refuses who lacks the role, and the lifespan builds the service
whole and stops what it started."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from obruten.ops import http, preparedness
from obruten.ops.app import create_app
from obruten.ops.service import OpsService
from obruten.ops.settings import Settings
from obruten.ops.status_service import current
from obruten.platform.auth import Session
from pgtools import Served

OFFICER = Session(4242, "stand-in", "Stina Ersättare", "tib", ())


def test_a_dependency_override_reaches_the_handlers(service: OpsService) -> None:
    app = create_app(service)
    app.dependency_overrides[http.api_session] = lambda: OFFICER
    app.dependency_overrides[http.console_session] = lambda: OFFICER
    server = Served(app, lifespan="off", what="the ops app")
    try:
        client = httpx.Client(base_url=server.base, timeout=10)
        change = {"level": "stabsläge", "reason": "Övning"}
        assert client.post("/api/v1/preparedness", json=change).status_code == 200  # no token: the override asks
        assert preparedness.current(service.store).decided_by == "stand-in"
        page = client.get("/console")
        assert page.status_code == 200 and "Stina Ersättare" in page.text
        app.dependency_overrides.clear()
        assert client.post("/api/v1/preparedness", json=change).status_code == 401
        assert client.get("/console").status_code == 303
        client.close()
    finally:
        server.close()


def _console(base: str, username: str) -> tuple[httpx.Client, str]:
    web = httpx.Client(base_url=base, timeout=10)
    assert web.post("/login", data={"username": username, "password": "demo"}).status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', web.get("/console").text)
    assert csrf is not None
    return web, csrf.group(1)


def test_who_lacks_the_role_is_refused_on_every_router(service: OpsService, live) -> None:  # type: ignore[no-untyped-def]
    # A token the ops signer verifies but of a role that is not an ops console role (a journal
    # session, were a node given the ops secret). The event analysis console took it before its
    # session helper became ``ops.http.Console``; now every router refuses it.
    stranger = service.signer.issue(Session(1, "lakare", "Lena Läkare", "physician", ("AVD1",)))
    web = httpx.Client(base_url=live.base, timeout=10, cookies={http.COOKIE: stranger})
    for path in ("/console", "/console/analyses", "/console/status", "/console/oncall"):
        r = web.get(path, follow_redirects=False)
        assert r.status_code == 403 and "ops account" in r.text, path
    web.close()
    api = httpx.Client(base_url=live.base, timeout=10, headers={"Authorization": f"Bearer {stranger}"})
    for path in ("/api/v1/alarms", "/api/v1/analyses", "/api/v1/status/history"):
        assert api.get(path).status_code == 403, path
    api.close()

    # IT operations (role it, on call as it1) is an ops user, but not the officer on duty
    it, csrf = _console(live.base, "it")
    assert it.get("/console/analyses").status_code == 200
    r = it.post("/console/preparedness", data={"csrf": csrf, "level": "stabsläge", "reason": "Nej"})
    assert r.status_code == 403 and "TIB" in r.text
    assert preparedness.current(service.store).level == "normalläge"
    r = it.post("/console/status", data={"csrf": csrf, "mode": "storning", "headline": "x", "reason": "Nej"})
    assert r.status_code == 403 and "may not change the operating mode" in r.text
    assert current(service.store) is None

    tib, csrf = _console(live.base, "tib")
    assert tib.post("/console/preparedness", data={"csrf": "stale", "level": "stabsläge"}).status_code == 403
    r = tib.post("/console/preparedness", data={"csrf": csrf, "level": "stabsläge", "reason": "Övning"},
                 follow_redirects=False)
    assert r.status_code == 303 and preparedness.current(service.store).level == "stabsläge"
    it.close()
    tib.close()


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ops-loop"]


def test_the_lifespan_builds_the_service_whole_runs_its_loop_and_stops_it(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", backup_probe=False, tick_s=0.2)
    app = create_app(settings=settings, run_loop=True)
    before = _loop_threads()

    async def serve_a_while() -> None:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://ops") as client:
            service: OpsService = app.state.ops
            assert service.status_issuer is not None  # the status service is part of the whole
            key = (await client.get("/api/v1/status/key")).json()
            assert key["key_id"] == service.status_issuer.key.key_id
            assert (await client.get("/api/v1/analysis-categories")).status_code == 401  # analysis is mounted
            deadline = time.monotonic() + 20
            while "obruten_ops_last_tick_timestamp_seconds" not in (await client.get("/metrics")).text:
                assert time.monotonic() < deadline, "the ops loop did not tick"
                await asyncio.sleep(0.05)
            assert len(_loop_threads()) == len(before) + 1

    asyncio.run(serve_a_while())
    assert _loop_threads() == before  # the loop is stopped when the app stops, then the store closed
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        app.state.ops.store.one("SELECT 1")
