"""Shared fixtures: a real PostgreSQL started by the tests (as an unprivileged user when root)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from obruten.platform.pgserver import DATABASE, PostgresInstance
from obruten.record.schema import app_url, migrate
from pgtools import Served, free_port, fresh_database, reachable_tempdir


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
    from obruten.devtools import seed

    url = fresh_database(pg, "region")
    seed.generate(url, 400, seed=7)
    return url


class LiveServer:
    def __init__(self, url: str, base: str, var_dir: Path) -> None:
        self.db_url, self.base, self.var_dir = url, base, var_dir


@pytest.fixture(scope="session")
def journal_server(region_url: str) -> Iterator[LiveServer]:
    """The journal web app served by uvicorn on a free port, in a background thread."""
    from obruten.platform import config as config_mod
    from obruten.record.app import create_app

    var_dir = reachable_tempdir("obruten-web-")
    cfg = config_mod.load(environ={}, var_dir=var_dir, secret_key="test-secret-" + "x" * 40)
    # the journal connects as the least-privileged app role, as `obruten serve` does
    served = Served(create_app(cfg, app_url(region_url, var_dir / "app-password")), what="the journal server")
    yield LiveServer(region_url, served.base, var_dir)
    served.stop()
    shutil.rmtree(var_dir, ignore_errors=True)
