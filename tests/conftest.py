"""Shared fixtures: a real PostgreSQL started by the tests (as an unprivileged user when root), the
journal served over HTTP, ``login`` sessions closed after each test, one headless Chromium.

The tiers are folders: ``tests/unit`` (no servers, no PostgreSQL, no CLI processes) and
``tests/functional`` (real PostgreSQL, apps over HTTP, CLIs); each test gets its tier's marker, so
``-m unit`` works as well as the path. ``browser``, ``cluster`` and ``fault`` are set by the tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from obruten.platform.pgserver import DATABASE, PostgresInstance
from obruten.record.schema import app_url, migrate
from pgtools import Served, Session, chromium, free_port, fresh_database, reachable_tempdir
from pgtools import login as log_in

TESTS = Path(__file__).parent
TIERS = ("unit", "functional")
# what a unit test may not ask for: each of these starts PostgreSQL or a server
SERVER_FIXTURES = {"pg", "db_url", "conn", "region_url", "journal_server", "browser"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(item.path).relative_to(TESTS).parts
        tier = parts[0] if parts[0] in TIERS else None
        if tier is None:
            raise pytest.UsageError(f"{item.nodeid}: every test lives in tests/unit or tests/functional")
        item.add_marker(tier)
        wanted = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if tier == "unit" and (wanted or item.get_closest_marker("browser") or item.get_closest_marker("cluster")):
            raise pytest.UsageError(f"{item.nodeid}: a unit test uses {sorted(wanted) or 'a server'}; "
                                    "move it to tests/functional")


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


@pytest.fixture
def login() -> Iterator[Callable[..., Session]]:
    """``login(base, username, app="journal"|"ops")``: a logged-in client, closed after the test."""
    made: list[Session] = []

    def make(base: Any, username: str, password: str = "demo", **kw: Any) -> Session:
        made.append(log_in(base, username, password, **kw))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def http() -> Iterator[Callable[..., httpx.Client]]:
    """``http(base)``: a plain client for real HTTP (not logged in), closed after the test."""
    made: list[httpx.Client] = []

    def make(base: Any, timeout: float = 10, **kw: Any) -> httpx.Client:
        made.append(httpx.Client(base_url=base, timeout=timeout, **kw))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium for the tests of one module (mark them ``browser``)."""
    with chromium() as b:
        yield b


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


@contextmanager
def serve_journal(region_url: str) -> Iterator[LiveServer]:
    """The journal web app on the region's database with a var dir of its own (its own status
    ledger and keys), served by uvicorn on a free port in a background thread."""
    # imported here, not at the top: the unit tier loads this conftest and needs no web app
    from obruten.platform import config as config_mod
    from obruten.record.app import create_app

    var_dir = reachable_tempdir("obruten-web-")
    cfg = config_mod.load(environ={}, var_dir=var_dir, secret_key="test-secret-" + "x" * 40)
    # the journal connects as the least-privileged app role, as `obruten serve` does
    served = Served(create_app(cfg, app_url(region_url, var_dir / "app-password")), what="the journal server")
    try:
        yield LiveServer(region_url, served.base, var_dir)
    finally:
        served.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def journal_server(region_url: str) -> Iterator[LiveServer]:
    """The journal shared by the session's tests (leave it as you found it: normal mode)."""
    with serve_journal(region_url) as server:
        yield server


@pytest.fixture
def own_journal_server(region_url: str) -> Iterator[LiveServer]:
    """A journal of the test's own, for a test that leaves state the shared one must not keep
    (e.g. a status version from the future, which would refuse every later message)."""
    with serve_journal(region_url) as server:
        yield server
