"""The journal's handlers get their collaborators through ``record.deps``, so
``app.dependency_overrides`` reaches them: no database, no lifespan, only overrides."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from obruten.platform import config as config_mod
from obruten.platform.auth import Session
from obruten.platform.i18n import pick_language
from obruten.postreg.web import get_service
from obruten.record import deps
from obruten.record.app import create_app
from obruten.record.status_api import StatusNode, get_status_node
from obruten.status.follower import Follower
from obruten.status.ledger import Ledger
from obruten.wardkit.tokens import agent_token
from obruten.wardkit.web import get_var_dir


class Client:
    """Requests straight to the ASGI app (no server, no lifespan: nothing connects to a database)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://journal.test") as client:
                return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

        return asyncio.run(go())

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        return self.request("POST", path, **kwargs)


NURSE = Session(user_id=7, username="syster", full_name="Syster Test", role="nurse", units=("AVD1",))
ADMIN = Session(user_id=1, username="chef", full_name="Chef Test", role="admin", units=())


class FakeJournal:
    """Answers what the handlers ask, and remembers who asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    async def units(self) -> list[dict]:
        self.calls.append(("units", None))
        return [{"id": "OVERRIDE", "name": "Från override", "admitted": 3}]

    async def ward_list_json(self, session: Session, unit: str) -> str:
        self.calls.append(("ward_list_json", (session.username, unit)))
        return '[{"patient_id": 42}]'

    async def emergency_accesses(self, session: Session) -> list[dict]:
        self.calls.append(("emergency_accesses", session.username))
        return [{"who": "override"}]


class FakeRender:
    def __init__(self) -> None:
        self.pages: list[tuple[str, dict[str, object]]] = []

    def __call__(self, template: str, status_code: int = 200, **context: object) -> HTMLResponse:
        self.pages.append((template, context))
        return HTMLResponse(template, status_code=status_code)


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    cfg = config_mod.load(environ={}, var_dir=tmp_path, secret_key="deps-test-" + "z" * 40)
    return create_app(cfg, "postgresql://nowhere.invalid/obruten")  # never connected: no lifespan runs


def test_api_handlers_use_the_overridden_journal_and_session(app: FastAPI) -> None:
    journal = FakeJournal()
    app.dependency_overrides[deps.get_journal] = lambda: journal
    app.dependency_overrides[deps.get_optional_session] = lambda: NURSE
    client = Client(app)

    r = client.get("/api/v1/units")
    assert r.status_code == 200 and r.json()[0]["id"] == "OVERRIDE"
    r = client.get("/api/v1/units/AVD1/patients")
    assert r.status_code == 200 and r.json() == [{"patient_id": 42}]
    assert journal.calls == [("units", None), ("ward_list_json", ("syster", "AVD1"))]


def test_no_session_is_401_and_the_journal_is_not_asked(app: FastAPI) -> None:
    journal = FakeJournal()
    app.dependency_overrides[deps.get_journal] = lambda: journal
    app.dependency_overrides[deps.get_optional_session] = lambda: None
    r = Client(app).get("/api/v1/units")
    assert r.status_code == 401 and "log in first" in r.json()["error"]
    assert journal.calls == []


def test_pages_use_the_overridden_session_journal_and_render(app: FastAPI) -> None:
    journal, render = FakeJournal(), FakeRender()
    app.dependency_overrides[deps.get_journal] = lambda: journal
    app.dependency_overrides[deps.get_render] = lambda: render
    app.dependency_overrides[deps.get_optional_session] = lambda: ADMIN
    client = Client(app)

    r = client.get("/units")  # record.web
    assert r.status_code == 200 and r.text == "units.html"
    r = client.get("/admin/emergency-access")  # record.web_admin (admins only)
    assert r.status_code == 200 and r.text == "admin_emergency.html"
    assert [(t, c.get("units") or c.get("rows")) for t, c in render.pages] == [
        ("units.html", [{"id": "OVERRIDE", "name": "Från override", "admitted": 3}]),
        ("admin_emergency.html", [{"who": "override"}])]
    assert ("emergency_accesses", "chef") in journal.calls


def test_forms_are_csrf_checked_through_the_form_dependency(app: FastAPI) -> None:
    journal = FakeJournal()
    app.dependency_overrides[deps.get_journal] = lambda: journal
    app.dependency_overrides[deps.get_optional_session] = lambda: NURSE
    app.dependency_overrides[deps.get_form] = lambda: {"reason": "override-form"}
    seen: list[str] = []

    class FakeService:
        async def reject(self, session: Session, entry: int, reason: str) -> None:
            seen.append(f"{session.username} rejected {entry}: {reason}")

    app.dependency_overrides[get_service] = FakeService
    r = Client(app).post("/postreg/AVD1/entries/5/reject")
    assert r.status_code == 303 and r.headers["location"] == "/postreg/AVD1?done=rejected"
    assert seen == ["syster rejected 5: override-form"]


def test_status_and_wardkit_routes_take_overrides_too(app: FastAPI, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    follower = Follower(Ledger(other), [])
    follower.last_sentence = "the overridden node"
    app.dependency_overrides[get_status_node] = lambda: StatusNode(app.state.status_node.config, follower.ledger,
                                                                   follower)
    app.dependency_overrides[get_var_dir] = lambda: other
    client = Client(app)
    r = client.get("/api/v1/status")
    assert r.status_code == 200 and r.json() == {"document": None, "mode": "normal", "follower": "the overridden node"}
    token = agent_token(other, "AVD1")  # valid only under the overridden var dir
    r = client.get("/api/v1/wardkits/AVD1/latest", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404 and "no kit built yet for AVD1" in r.text


@pytest.mark.parametrize(("chosen", "default", "expected"), [
    (None, "sv", "sv"), ("en", "sv", "en"), ("", "en", "en"), ("de", "en", "en"), ("de", "fi", "sv"),
    ("sv", "en", "sv"), (None, "xx", "sv")])
def test_one_language_resolver(chosen: str | None, default: str, expected: str) -> None:
    assert pick_language(chosen, default) == expected
