"""The outgoing HTTP clients on their failure paths, against a small local server: an error status,
a port nobody listens on, an address that is no URL, a body over the limit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from obruten.ops.channels import DeliveryError, Message, WebhookChannel
from obruten.platform import http
from obruten.status.follower import Follower, fetch
from obruten.status.ledger import Ledger
from obruten.ward_agent.agent import Agent
from obruten.ward_agent.settings import AgentSettings
from pgtools import free_port

DEAD = f"http://127.0.0.1:{free_port()}"  # nobody listens: connection refused


class Upstream:
    """Answers every request to ``path`` with ``answers[path]`` (status, body)."""

    def __init__(self, answers: dict[str, tuple[int, bytes]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = answers.get(self.path, (404, b"not here"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream({"/hook": (500, b"down for maintenance"), "/api/v1/status": (503, b"starting")})
    yield server
    server.close()


def test_webhook_failures_are_delivery_errors(upstream: Upstream) -> None:
    channel = WebhookChannel(timeout=2)
    for address, said in [(upstream.url + "/hook", "answered HTTP 500"), (DEAD + "/hook", "Connection refused"),
                          ("not a url", "not a url"), ("http://[::1/hook", "http://[::1/hook")]:
        with pytest.raises(DeliveryError) as caught:
            channel.send(Message(address, "Larm", "text"))
        assert said in str(caught.value), (address, str(caught.value))


def test_status_fetch_fails_on_an_error_status_and_the_follower_keeps_going(upstream: Upstream,
                                                                            tmp_path: Path) -> None:
    with pytest.raises(http.FAILURES):
        fetch(upstream.url, timeout=2)
    sentence = Follower(Ledger(tmp_path), [DEAD, upstream.url]).tick()
    assert sentence.startswith("no status service answered; showing the last accepted message"), sentence
    assert f"{DEAD}: [Errno 111] Connection refused" in sentence and f"{upstream.url}: HTTP 503" in sentence


def test_ward_agent_refuses_a_file_over_the_limit_and_says_why_each_upstream_failed(tmp_path: Path) -> None:
    path = "/api/v1/wardkits/U1/latest"
    huge, busy = Upstream({path: (200, b"x" * 200_000)}), Upstream({path: (503, b"busy " * 200)})
    try:
        agent = Agent(AgentSettings(var_dir=tmp_path, unit="U1", token="t", max_file_bytes=1000, timeout_s=2,
                                    journal_urls=(huge.url, busy.url, DEAD)))
        said = agent.tick()
    finally:
        huge.close()
        busy.close()
    assert said.startswith("upstream unreachable") and said.endswith("serving the kits held"), said
    assert f"{huge.url}: file larger than 1000 bytes" in said
    assert f"{busy.url}: HTTP 503 {'busy ' * 100}"[:-1] in said and "busy " * 101 not in said  # 500 bytes of it
    assert f"{DEAD}: [Errno 111] Connection refused" in said


def test_unreachable_says_what_where_why_and_what_next() -> None:
    with pytest.raises(http.FAILURES) as caught, http.client(2) as client:
        client.get(DEAD + "/healthz")
    assert http.unreachable("the ops service", DEAD, caught.value, "Start it.") == (
        f"the ops service is unreachable at {DEAD} ([Errno 111] Connection refused). Start it.")
