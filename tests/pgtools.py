"""Helpers for tests that start their own PostgreSQL (imported as ``pgtools``; conftest is not importable
by name once several conftest.py files exist)."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from obruten.platform.pgserver import PostgresInstance
from obruten.record.schema import migrate


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
        import threading
        import time

        import uvicorn

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,  # type: ignore[arg-type]
                                                    log_level="warning", lifespan=lifespan))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.02)

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
    import shutil

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
