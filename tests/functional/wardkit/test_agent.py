"""The ward agent against a real journal app serving kits over HTTP (uvicorn on loopback): it keeps
only verified kits, never replaces a good kit with a bad one, keeps three, raises the stale alarm,
reports to the real ops API, and serves its page while the journal is stopped."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pypdf
import pytest

from metrics_page import value
from obruten.platform.signing import SigningKey
from obruten.ward_agent import agent as agent_mod
from obruten.ward_agent.agent import Agent
from obruten.ward_agent.app import create_app
from obruten.ward_agent.settings import AgentSettings
from obruten.wardkit import build
from obruten.wardkit.tokens import agent_token
from pgtools import Served, reachable_tempdir, wait_for

from .conftest import CHROMIUM_ARGS, NOW, Ward


class AgentPage:
    """The agent's own app, served over real HTTP like on the ward PC."""

    def __init__(self, settings: AgentSettings, agent: Agent | None = None) -> None:
        self.app = create_app(settings, agent)
        self.served = Served(self.app)
        self.http = httpx.Client(base_url=self.served.base, timeout=10)

    @property
    def agent(self) -> Agent:
        return self.app.state.agent

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def close(self) -> None:
        self.http.close()
        self.served.stop()


@pytest.fixture
def page() -> Iterator[Callable[..., AgentPage]]:
    made: list[AgentPage] = []

    def make(settings: AgentSettings, agent: Agent | None = None) -> AgentPage:
        made.append(AgentPage(settings, agent))
        return made[-1]
    yield make
    for p in made:
        p.close()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def journal(ward: Ward) -> Iterator[Served]:
    """A journal (the real web app, its own var dir) that serves the ward's kits."""
    from obruten.platform import config as config_mod
    from obruten.record.app import create_app as journal_app

    var_dir = reachable_tempdir("obruten-wk-journal-")
    cfg = config_mod.load(environ={}, var_dir=var_dir, secret_key="test-secret-" + "x" * 40)
    served = Served(journal_app(cfg, ward.url))
    served.var_dir = var_dir  # type: ignore[attr-defined]
    yield served
    if served.thread.is_alive():
        served.stop()
    shutil.rmtree(var_dir, ignore_errors=True)


@pytest.fixture
def publish(journal: Served, ward: Ward) -> Callable[[int], str]:
    """Build and publish the ward's kit as of NOW + ``minutes``; returns its stamp."""
    var_dir: Path = journal.var_dir  # type: ignore[attr-defined]
    key = build.signing_key(var_dir)

    def make(minutes: int) -> str:
        at = NOW + timedelta(minutes=minutes)
        data = ward.kit(at)
        data["generated_at"] = at.isoformat()
        return build.write_kit(data, build.unit_store(var_dir, ward.unit), key).stamp
    return make


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW + timedelta(minutes=1))


@pytest.fixture
def settings(journal: Served, ward: Ward, tmp_path: Path, clock: Clock) -> AgentSettings:
    var_dir: Path = journal.var_dir  # type: ignore[attr-defined]
    trusted = tmp_path / "trusted_keys"
    trusted.write_text(build.signing_key(var_dir).trusted_line() + "\n")
    return AgentSettings(var_dir=tmp_path / "ward-pc", unit=ward.unit, journal_urls=(journal.base,),
                         token=agent_token(var_dir, ward.unit), trusted_keys=trusted, fetch_every_s=0,
                         clock=clock, agent_name="avd-pc-1")


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_agent_fetches_verifies_and_serves_the_kit(settings: AgentSettings, publish: Callable[[int], str],
                                                   ward: Ward, page: Callable[..., AgentPage]) -> None:
    stamp = publish(0)
    agent = Agent(settings)
    said = agent.tick()
    assert said.startswith(f"kept new kit {stamp}"), said
    assert agent.tick().startswith("newest kit"), "the same kit is not fetched twice"
    client = page(settings, agent)
    index = client.get("/")
    assert index.status_code == 200
    assert "Uppgifter per 2026-11-20 10:00" in index.text and "Aaberg, Aina" in index.text
    assert "Anafylaxi mot testamin" in index.text and 'id="stale-alarm"' not in index.text
    # the list shows every scheduled drug's next dose, not only the soonest
    assert "20/11 14:00 Testocillin 10 mg" in index.text and "20/11 14:00 Slutamin 10 mg" in index.text
    assert "Skriv ut" in index.text and "window.print()" in index.text
    patient = client.get(f"/kits/{stamp}/patients/{ward.patient}")
    assert "Testocillin" in patient.text and "Utsattin" not in patient.text
    assert "LIVSHOTANDE" in patient.text
    english = client.get(f"/kits/{stamp}/patients/{ward.patient}?lang=en")
    assert "LIFE-THREATENING" in english.text and "Data as of 2026-11-20 10:00" in english.text
    pdf = client.get(f"/kits/{stamp}/kit.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content == (settings.kits_dir / stamp / "kit.pdf").read_bytes()
    # the pages load nothing from anywhere else: they work with the network unplugged
    for outside in ("http://", "https://", "<link", "<script src"):
        assert outside not in index.text
    metrics = client.get("/metrics").text
    assert value(metrics, "obruten_wardagent_last_fetch_success", unit=ward.unit) == 1
    assert value(metrics, "obruten_wardkit_age_seconds", unit=ward.unit) == 60
    assert client.get("/kits/nope/kit.pdf").status_code == 404


def test_agent_refuses_a_tampered_new_kit_and_keeps_the_old(settings: AgentSettings, journal: Served,
                                                             publish: Callable[[int], str], ward: Ward) -> None:
    good = publish(0)
    agent = Agent(settings)
    agent.tick()
    for minutes, name in ((5, "kit.pdf"), (10, "kit.json"), (15, "kit.html")):
        bad = publish(minutes)  # a newer kit, altered on the server after signing
        _flip(journal.var_dir / "wardkits" / ward.unit / bad / name)  # type: ignore[attr-defined]
        said = agent.tick()
        assert said.startswith(f"refused kit {bad}: {name} does not match"), said
        assert agent.kits.newest().stamp == good  # type: ignore[union-attr]
        assert agent.state.result == agent_mod.REFUSED
    assert [p.name for p in settings.kits_dir.iterdir()] == [good], "nothing half-written is left behind"
    assert value(agent.metrics.render().decode(), "obruten_wardagent_last_fetch_success", unit=ward.unit) == 0


def test_agent_refuses_a_kit_signed_by_an_untrusted_key(settings: AgentSettings, journal: Served, ward: Ward,
                                                        tmp_path: Path, key: SigningKey) -> None:
    data = ward.kit()
    var_dir: Path = journal.var_dir  # type: ignore[attr-defined]
    build.write_kit(data, build.unit_store(var_dir, ward.unit), key)   # a key the ward PC does not trust
    agent = Agent(settings)
    said = agent.tick()
    assert "not in the trusted keys file" in said and agent.kits.newest() is None


def test_agent_keeps_three(settings: AgentSettings, publish: Callable[[int], str]) -> None:
    agent = Agent(settings)
    stamps = []
    for minutes in (0, 5, 10, 15, 20):
        stamps.append(publish(minutes))
        assert agent.tick().startswith("kept new kit")
    assert [k.stamp for k in agent.kits.kits()] == stamps[::-1][:3]
    assert sorted(p.name for p in settings.kits_dir.iterdir()) == sorted(stamps[-3:])


def test_stale_alarm_follows_the_clock(settings: AgentSettings, publish: Callable[[int], str],
                                       clock: Clock, page: Callable[..., AgentPage]) -> None:
    client = page(settings)
    assert 'id="stale-alarm"' in client.get("/").text, "no kit yet: alarm"
    publish(0)
    client.agent.tick()
    assert 'id="stale-alarm"' not in client.get("/").text
    clock.now = NOW + timedelta(minutes=16)
    text = client.get("/").text
    assert 'id="stale-alarm"' in text and "16 minuter gammalt" in text
    assert value(client.get("/metrics").text, "obruten_wardkit_stale") == 1
    assert client.get("/status").json()["stale"] is True


def test_agent_serves_while_the_journal_is_stopped(settings: AgentSettings, journal: Served,
                                                   publish: Callable[[int], str], ward: Ward,
                                                   page: Callable[..., AgentPage]) -> None:
    stamp = publish(0)
    agent = Agent(settings)
    agent.tick()
    journal.stop()
    said = agent.tick()
    assert said.startswith("upstream unreachable") and "serving the kits held" in said
    client = page(settings, agent)
    assert "Aaberg, Aina" in client.get("/").text
    pdf = client.get(f"/kits/{stamp}/kit.pdf")
    text = pypdf.PdfReader(__import__("io").BytesIO(pdf.content)).pages[0].extract_text()
    assert "Uppgifter per" in text and ward.unit in text
    assert value(client.get("/metrics").text, "obruten_wardagent_last_fetch_success", unit=ward.unit) == 0


def test_wrong_token_is_refused_upstream(settings: AgentSettings, publish: Callable[[int], str]) -> None:
    publish(0)
    agent = Agent(replace(settings, token="0" * 64))
    said = agent.tick()
    assert "HTTP 401" in said and agent.kits.newest() is None


def test_agent_reports_to_the_ops_service(settings: AgentSettings, publish: Callable[[int], str],
                                          tmp_path: Path) -> None:
    from obruten.ops.app import create_app as ops_app
    from obruten.ops.service import OpsService
    from obruten.ops.settings import Settings

    service = OpsService(Settings(var_dir=tmp_path / "ops", agent_token="ops-agent-token", backup_probe=False),
                         probes=[], channels={})
    ops = Served(ops_app(service))
    try:
        publish(0)
        agent = Agent(replace(settings, ops_url=ops.base, ops_token="ops-agent-token"))
        agent.tick()
        assert agent.state.report_sentence == "reported to the ops service"
        row = service.store.one("SELECT unit, agent, kit_at FROM ward_agent")
        assert row["unit"] == settings.unit and row["agent"] == "avd-pc-1"
        assert row["kit_at"].startswith("2026-11-20T09:00:00")
        bad = Agent(replace(settings, ops_url=ops.base, ops_token="wrong"))
        bad.report()
        assert "refused the report (HTTP 401)" in bad.state.report_sentence
    finally:
        ops.stop()
        service.store.close()


def test_trusted_keys_are_reread_without_restart(settings: AgentSettings, publish: Callable[[int], str],
                                                 tmp_path: Path) -> None:
    publish(0)
    keys = settings.trusted_keys_file
    line = keys.read_text()
    keys.write_text("")                       # the builder's key is not (yet) trusted
    agent = Agent(settings)
    assert "not in the trusted keys file" in agent.tick()
    keys.write_text(line)                     # the operator adds it: the next round takes the kit
    assert agent.tick().startswith("kept new kit")
    keys.write_text("")                       # and removes it again: the kit held is no longer shown
    agent.reload_trusted()
    assert agent.kits.newest() is None and agent.stale()


@pytest.mark.browser
def test_agent_page_in_chromium_with_the_journal_gone(settings: AgentSettings, publish: Callable[[int], str],
                                                      page: Callable[..., AgentPage], ward: Ward,
                                                      journal: Served) -> None:
    from playwright.sync_api import sync_playwright

    stamp = publish(0)
    agent = Agent(settings)
    agent.tick()
    journal.stop()                                   # the journal is gone; the ward PC still serves
    served = page(settings, agent)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=CHROMIUM_ARGS)
        tab = browser.new_page()
        outside: list[str] = []
        tab.on("request", lambda r: None if r.url.startswith(served.served.base) else outside.append(r.url))
        tab.goto(served.served.base + "/")
        assert tab.locator("h1").inner_text() == "Avdelningens reservkit"
        assert tab.locator("#stale-alarm").count() == 0
        tab.click("text=Aaberg, Aina")
        tab.wait_for_url(f"**/kits/{stamp}/patients/{ward.patient}")
        assert "LIVSHOTANDE" in tab.locator(".warnings").inner_text()
        assert tab.locator("button.print").is_visible()
        tab.click("text=In English")
        assert "LIFE-THREATENING" in tab.locator(".warnings").inner_text()
        assert outside == [], f"the page loaded something from elsewhere: {outside}"
        browser.close()


def test_settings_take_one_journal_url_or_several(tmp_path: Path) -> None:
    one = AgentSettings(var_dir=tmp_path, unit="H01-AVD10", token="t", journal_url="http://j:8000").validate()
    assert one.journal_urls == ("http://j:8000",)
    two = AgentSettings(var_dir=tmp_path, unit="H01-AVD10", token="t",
                        journal_urls=("http://j:8000", "http://r:8000")).validate()
    assert two.journal_url == "http://j:8000"
    from obruten.ward_agent.settings import AgentSettingsError
    with pytest.raises(AgentSettingsError, match="journal-url"):
        AgentSettings(var_dir=tmp_path, unit="H01-AVD10", token="t").validate()


def test_agent_shows_the_regions_status_message(settings: AgentSettings, publish: Callable[[int], str],
                                               page: Callable[..., AgentPage], tmp_path: Path) -> None:
    """The same signed status banner as in the journal, followed from the status service and
    accepted by push; an untrusted message is refused."""
    import json
    from dataclasses import replace
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from obruten.platform.signing import load_or_create_key
    from obruten.status.document import draft

    key = load_or_create_key(tmp_path / "status-key.pem")
    keys = tmp_path / "status_trusted_keys"
    keys.write_text(key.trusted_line() + "\n")
    doc = draft(version=100, mode="reservrutin", headline="Journalen nere", routine="Pappersjournal RR-1",
                issuer_name="Tove Beredskap", issuer_role="TIB").signed(key)
    served = {"document": doc.as_dict()}

    class StatusService(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = json.dumps(served).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), StatusService)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        publish(0)
        agent = Agent(settings)
        agent.tick()
        followed = replace(settings, status_urls=(f"http://127.0.0.1:{server.server_port}",),
                           status_trusted_keys=keys)
        client = page(followed, agent)
        # the follower polls in the background: the banner appears within its poll interval
        index = wait_for(lambda: 'id="status-banner"' in (text := client.get("/").text) and text, 10,
                         "the status banner on the agent's page")
        assert "Journalen nere" in index and "Pappersjournal RR-1" in index
        # a push of an older or foreign message is refused and changes nothing
        stranger = load_or_create_key(tmp_path / "stranger.pem")
        forged = draft(version=200, mode="normal", headline="", routine="", issuer_name="X",
                       issuer_role="TIB").signed(stranger)
        assert client.http.post("/api/v1/status", json=forged.as_dict()).status_code == 409
        newer = draft(version=101, mode="efterregistrering", headline="Journalen åter", routine="Efterregistrera",
                      issuer_name="Tove Beredskap", issuer_role="TIB").signed(key)
        assert client.http.post("/api/v1/status", json=newer.as_dict()).json() == {"accepted": 101}
        assert "Journalen åter" in client.get("/").text
    finally:
        server.shutdown()
        server.server_close()
