"""Shared fixtures: a real PostgreSQL started by the tests (as an unprivileged user when root)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from obruten.pgserver import DATABASE, PostgresInstance
from obruten.schema import migrate
from pgtools import free_port, fresh_database, reachable_tempdir


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresInstance]:
    base = reachable_tempdir("obruten-test-")
    instance = PostgresInstance.at(base, free_port())
    instance.init()
    instance.start()
    instance.ensure_database(DATABASE)
    migrate(instance.url())
    yield instance
    instance.stop(mode="immediate")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def db_url(pg: PostgresInstance) -> str:
    return pg.url()


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c




@pytest.fixture(scope="session")
def region_url(pg: PostgresInstance) -> str:
    """A migrated database holding a small synthetic region with the demo logins."""
    from obruten import seed

    url = fresh_database(pg, "region")
    seed.generate(url, 400, seed=7)
    return url


class LiveServer:
    def __init__(self, url: str, base: str, var_dir: Path) -> None:
        self.db_url, self.base, self.var_dir = url, base, var_dir


@pytest.fixture(scope="session")
def journal_server(region_url: str) -> Iterator[LiveServer]:
    """The journal web app served by uvicorn on a free port, in a background thread."""
    import threading
    import time

    import uvicorn

    from obruten import config as config_mod
    from obruten.web.app import create_app

    var_dir = reachable_tempdir("obruten-web-")
    cfg = config_mod.load(environ={}, var_dir=var_dir, secret_key="test-secret-" + "x" * 40)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(cfg, region_url), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the journal server did not start")
        time.sleep(0.05)
    yield LiveServer(region_url, f"http://127.0.0.1:{port}", var_dir)
    server.should_exit = True
    thread.join(timeout=10)
    shutil.rmtree(var_dir, ignore_errors=True)
