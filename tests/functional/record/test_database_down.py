"""The journal with its database gone (PostgreSQL stopped with ``-m immediate``, i.e. its
processes killed): login, a patient page and the API each answer a 503 within 2 s that names the
read copy and the ward kit, in Swedish by default; once PostgreSQL is back, the same journal
(not restarted) writes again (ADR 0050)."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from obruten.platform import config as config_mod
from obruten.platform.pgserver import DATABASE, PostgresInstance
from obruten.record.app import create_app
from obruten.record.schema import app_url, migrate
from pgtools import Served, free_port, login, reachable_tempdir, wait_for

READ_COPY = "http://läskopia.region.example:8001/"
LIMIT_S = 2.0


@pytest.fixture
def own_database() -> Iterator[PostgresInstance]:
    from obruten.devtools import seed

    base = reachable_tempdir("obruten-dbdown-")
    pg = PostgresInstance.at(base, free_port(), name="journal")
    try:
        pg.init({"shared_buffers": "32MB", "max_connections": "40"})
        pg.start()
        pg.ensure_database(DATABASE)
        migrate(pg.url())
        seed.generate(pg.url(), 100, seed=5)
        yield pg
    finally:
        pg.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


def timed(call: object) -> tuple[httpx.Response, float]:
    assert callable(call)
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_unavailable(response: httpx.Response, took: float, what: str) -> None:
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text[:300]}"
    assert took < LIMIT_S, f"{what} took {took:.2f} s"
    text = response.text if "html" in response.headers["content-type"] else response.json()["error"]
    assert "svarar inte" in text and "läskopian" in text and READ_COPY in text, f"{what}: {text[:300]}"
    assert "reservkit" in text, f"{what} does not name the ward kit: {text[:300]}"


def test_database_killed_then_back(own_database: PostgresInstance) -> None:
    pg = own_database
    var_dir = reachable_tempdir("obruten-dbdown-web-")
    cfg = config_mod.load(environ={}, var_dir=var_dir, secret_key="test-secret-" + "x" * 40,
                          read_copy_web_url=READ_COPY)
    served = Served(create_app(cfg, app_url(pg.url(), var_dir / "app-password")), what="the journal")
    try:
        with login(served.base, "sjukskoterska") as api, login(served.base, "lakare", app="web") as web, \
                httpx.Client(base_url=served.base, timeout=10) as anonymous:
            unit = api.units[0]
            patient = api.get(f"/api/v1/units/{unit}/patients").json()[0]["id"]
            note = {"kind": "omvardnad", "body": "Före avbrottet."}
            assert api.post(f"/api/v1/patients/{patient}/notes", json=note).status_code == 201
            form = anonymous.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf

            pg.stop(mode="immediate")  # SIGQUIT to every backend: connections die as with kill -9

            r, took = timed(lambda: anonymous.post("/login", data={"csrf": csrf.group(1), "username": "lakare",
                                                                   "password": "demo", "next": "/"}))
            assert_unavailable(r, took, "the login form")
            r, took = timed(lambda: web.get(f"/patients/{patient}"))
            assert_unavailable(r, took, "a patient page")
            r, took = timed(lambda: api.get(f"/api/v1/patients/{patient}"))
            assert_unavailable(r, took, "the API")
            r, took = timed(lambda: api.post(f"/api/v1/patients/{patient}/notes", json=note))
            assert_unavailable(r, took, "an API write")
            r, took = timed(lambda: anonymous.post("/api/v1/login", json={"username": "lakare", "password": "demo"}))
            assert_unavailable(r, took, "the API login")
            r = anonymous.post("/api/v1/login", json={"username": "lakare", "password": "demo"},
                               headers={"Accept-Language": "en"})
            assert r.status_code == 503 and "read copy" in r.json()["error"] and "downtime kit" in r.json()["error"]

            pg.start()
            back = time.monotonic()
            after = {"kind": "omvardnad", "body": "Efter avbrottet."}
            wait_for(lambda: api.post(f"/api/v1/patients/{patient}/notes", json=after).status_code == 201,
                     15, "the journal to write again without a restart", interval=0.1)
            print(f"first write acknowledged {time.monotonic() - back:.2f} s after PostgreSQL started")
            assert web.get(f"/patients/{patient}").status_code == 200
        with psycopg.connect(pg.url(), autocommit=True) as c:
            bodies = [r[0] for r in c.execute("SELECT body FROM note WHERE body LIKE '%avbrottet.'")]
        assert sorted(set(bodies)) == ["Efter avbrottet.", "Före avbrottet."]
    finally:
        served.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
