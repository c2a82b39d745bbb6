"""Helpers shared by the functional tests: their own PostgreSQL, apps served over real HTTP, one
``login`` for the journal and the ops console, one ``wait_for`` (imported as ``pgtools``; conftest
is not importable by name once several conftest.py files exist)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import psycopg
import uvicorn

from obruten.platform.pgserver import PostgresInstance
from obruten.record.schema import migrate

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, *, interval: float = 0.05,
             proc: subprocess.Popen[Any] | None = None, ignore: tuple[type[Exception], ...] = ()) -> T:
    """Poll ``predicate`` until it returns something truthy and return that; fail naming ``what`` once
    ``timeout`` seconds have passed, or at once when ``proc`` (the process that should bring it about)
    has exited. Exceptions of the ``ignore`` types count as "not yet" (e.g. a server still starting)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}")
        try:
            value = predicate()
        except ignore:
            value = None
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(interval)


class Session(httpx.Client):
    """An HTTP client logged in as one user: to the journal API (a bearer token; ``units`` are the
    user's units) or to the ops console (a session cookie; ``csrf`` is the token its forms need)."""

    token: str = ""
    csrf: str = ""
    units: list[str]

    def __enter__(self) -> Session:  # already open (it logged in): ``with login(...) as c`` closes it after
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def login(base: str | httpx.URL, username: str, password: str = "demo", *,
          app: Literal["journal", "web", "ops"] = "journal", timeout: float = 15) -> Session:
    """Log in over real HTTP the way a user does: to the journal's API (``journal``), its pages
    (``web``: the login form, a session cookie) or the ops console (``ops``). The caller closes the
    client (or uses the ``login`` fixture, which does)."""
    client = Session(base_url=base, timeout=timeout)
    client.units = []
    try:
        if app == "journal":
            r = client.post("/api/v1/login", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
            client.token = r.json()["token"]
            client.headers["Authorization"] = f"Bearer {client.token}"
            client.units = r.json()["user"]["units"]
        elif app == "web":
            form = client.get("/login")
            found = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert found, "no CSRF token on the login page"
            r = client.post("/login", data={"csrf": found.group(1), "username": username, "password": password,
                                            "next": "/"})
            assert r.status_code == 303, r.text
        else:
            r = client.post("/login", data={"username": username, "password": password})
            assert r.status_code == 303, r.text
            page = client.get("/console")
            assert page.status_code == 200, page.text
            found = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert found, "no CSRF token on the console page"
            client.csrf = found.group(1)
    except BaseException:
        client.close()  # a failed login leaves no open connection behind
        raise
    return client


def browser_login(browser: Any, base: str, username: str, password: str = "demo") -> Any:
    """A new page of ``browser`` (or a browser context) logged in to the journal's pages as ``username``."""
    page = browser.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/ward/**")
    return page


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable_tempdir(prefix: str) -> Path:
    """A temp dir the PostgreSQL service user can enter (pytest's own tmp dirs are 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(path, 0o755)
    return path


def fresh_database(pg: PostgresInstance, name: str) -> str:
    """A new, migrated database on the shared test server (dropped and recreated if it exists)."""
    with psycopg.connect(pg.url("postgres"), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    url = pg.url(name)
    migrate(url)
    return url


class Served:
    """An ASGI app served by uvicorn in a thread on a free loopback port (real HTTP); ``stop()``
    really stops it. ``lifespan="off"`` for apps whose state the test sets up itself."""

    def __init__(self, app: object, lifespan: str = "on", what: str = "the app") -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,  # type: ignore[arg-type]
                                                    log_level="warning", lifespan=lifespan))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), 30, f"{what} to start", interval=0.02)
        if not self.server.started:
            raise RuntimeError(f"{what} did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # do not wait for idle keep-alive clients
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the server thread did not stop"

    close = stop


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (``make browser`` installs it)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def seeded_database(pg: PostgresInstance, name: str, patients: int = 150) -> str:
    """A new database with its own small synthetic region and the demo logins, for tests that write
    enough to disturb the shared region."""
    from obruten.devtools import seed

    url = fresh_database(pg, name)
    seed.generate(url, patients, seed=11)
    return url
