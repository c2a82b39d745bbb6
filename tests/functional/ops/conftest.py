"""Local fakes for the ops tests: an SMTP server, an HTTP receiver (webhook and SMS gateway),
a controllable clock, and an ops service wired to them (no journal database needed).

Every test that uses the ops service runs twice: with the SQLite store and with the store in
PostgreSQL (its own schema in a database of the shared test server), ADR 0030."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from obruten.ops import users
from obruten.ops.clock import FakeClock
from obruten.ops.service import OpsService
from obruten.ops.settings import Settings
from obruten.ops.store import Store
from obruten.platform.pgserver import PostgresInstance
from pgtools import Served, free_port, fresh_database

_schemas = itertools.count(1)


_hashes: dict[str, str] = {}


@pytest.fixture(autouse=True)
def reuse_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """One argon2 hash costs about a second on this machine and the demo staff share a password:
    hash each password once per session (still a real hash, verified for real at login)."""
    real = users.hash_password

    def cached(password: str) -> str:
        if password not in _hashes:
            _hashes[password] = real(password)
        return _hashes[password]

    monkeypatch.setattr(users, "hash_password", cached)


@pytest.fixture(scope="session")
def ops_store_database(pg: PostgresInstance) -> str:
    """A database for ops stores on the shared test server; each test gets its own schema in it."""
    return fresh_database(pg, "ops_store")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's ops store lives: a SQLite file, or a fresh schema in PostgreSQL."""
    if request.param == "sqlite":
        return tmp_path / "var" / "ops" / "ops.sqlite3"
    import psycopg

    url = request.getfixturevalue("ops_store_database")
    schema = f"ops_test_{next(_schemas)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{url}?options=-csearch_path%3D{schema}"


@dataclass
class Mailbox:
    messages: list[dict[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        mail = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[attr-defined]
        self.messages.append({"to": str(mail["To"]), "subject": str(mail["Subject"]),
                              "body": mail.get_content()})  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Mailbox]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, box
    controller.stop()


class Receiver:
    """Collects JSON POSTs by path; ``fail`` makes it answer 503 (to test retries)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, object]]] = []
        self.fail = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.fail:
                    self.send_response(503)
                else:
                    receiver.posts.append((self.path, json.loads(body)))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def at(self, path: str) -> list[dict[str, object]]:
        return [body for p, body in self.posts if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path, smtp: tuple[Controller, Mailbox], receiver: Receiver) -> Settings:
    controller, _ = smtp
    return Settings(var_dir=tmp_path / "var", smtp_host="127.0.0.1", smtp_port=controller.port,
                    sms_gateway_url=receiver.url + "/sms", webhook_urls=(receiver.url + "/hook",),
                    backup_probe=False, public_url="http://127.0.0.1:8010")


@pytest.fixture
def make_service(settings: Settings, clock: FakeClock,
                 store_location: Path | str) -> Iterator[Callable[..., OpsService]]:
    made: list[OpsService] = []

    def make(seed: bool = True, **changes: object) -> OpsService:
        from dataclasses import replace

        s = replace(settings, **changes)
        service = OpsService(s, store=Store(store_location), clock=clock, probes=[])
        if seed:
            users.seed_demo(service.store, clock.now())
        made.append(service)
        return service

    yield make
    for service in made:
        service.store.close()


@pytest.fixture
def service(make_service: Callable[..., OpsService]) -> OpsService:
    return make_service()


class Live(Served):
    """The ops app served by uvicorn in a thread on a free loopback port."""

    def __init__(self, service: OpsService) -> None:
        from obruten.ops.app import create_app

        super().__init__(create_app(service), lifespan="off", what="the ops app")


@pytest.fixture
def live(service: OpsService) -> Iterator[Live]:
    server = Live(service)
    yield server
    server.close()
