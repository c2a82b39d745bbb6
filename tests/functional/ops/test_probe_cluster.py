"""The cluster probe against fake Patroni members at the HTTP boundary (real HTTP servers answering
``GET /cluster`` with JSON in Patroni 4.1's shape), and on into alarms."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from obruten.ops import alarms
from obruten.ops.clock import SystemClock
from obruten.ops.findings import Finding
from obruten.ops.probe_database import ClusterProbe
from obruten.ops.service import OpsService
from pgtools import free_port

HEALTHY = json.loads((Path(__file__).parent / "data" / "patroni_cluster_healthy.json").read_text())


class FakePatroni:
    """One member's REST API: answers ``/cluster`` with ``body``; ``hang`` makes it accept the
    connection and say nothing (a frozen host)."""

    def __init__(self) -> None:
        self.body: dict[str, object] = copy.deepcopy(HEALTHY)
        self.hang = threading.Event()
        self.asked = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                fake.asked += 1
                if fake.hang.is_set():
                    time.sleep(1.0)
                    return
                if self.path != "/cluster":
                    self.send_error(404)
                    return
                data = json.dumps(fake.body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def member(self, name: str) -> dict[str, object]:
        return next(m for m in self.body["members"] if m["name"] == name)  # type: ignore[union-attr]

    def close(self) -> None:
        self.hang.clear()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def patroni() -> Iterator[FakePatroni]:
    fake = FakePatroni()
    yield fake
    fake.close()


def _by_target(findings: list[Finding]) -> dict[str, Finding]:
    return {f.target: f for f in findings}


def test_healthy_cluster_and_the_lagged_copy_lags_by_design(patroni: FakePatroni) -> None:
    found = _by_target(ClusterProbe([patroni.url]).check(SystemClock().now()))
    assert {t: f.status for t, f in found.items()} == {
        "patroni": "ok", "leader": "ok", "sync": "ok", "member:site-a": "ok", "member:site-b": "ok",
        "member:read-copy": "ok", "member:lagged-copy": "ok"}
    assert found["leader"].detail == "leader: site-a" and found["sync"].detail == "sync standby: site-b"
    assert found["member:lagged-copy"].value == 49.27 and "by design" in found["member:lagged-copy"].detail


def test_asks_the_next_member_when_one_is_silent_or_frozen(patroni: FakePatroni) -> None:
    frozen = FakePatroni()
    frozen.hang.set()
    try:
        nobody = f"http://127.0.0.1:{free_port()}"
        found = _by_target(ClusterProbe([nobody, frozen.url, patroni.url], timeout_s=0.5).check(SystemClock().now()))
        assert found["patroni"].status == "ok" and found["patroni"].detail == f"answered by {patroni.url}"
        assert frozen.asked == 1 and patroni.asked == 1
        [down] = ClusterProbe([nobody, frozen.url], timeout_s=0.5).check(SystemClock().now())
        assert (down.target, down.status) == ("patroni", "down")
        assert nobody in down.detail and frozen.url in down.detail
    finally:
        frozen.close()


def test_lost_sync_stopped_member_lag_and_a_member_that_vanished(patroni: FakePatroni) -> None:
    probe = ClusterProbe([patroni.url])
    probe.check(SystemClock().now())  # learns the members
    patroni.member("site-b").update(role="replica", state="stopped")
    patroni.member("read-copy").update(lag=40 * 1_048_576)
    patroni.body["members"] = [m for m in patroni.body["members"] if m["name"] != "lagged-copy"]  # type: ignore[union-attr]
    found = _by_target(probe.check(SystemClock().now()))
    assert found["sync"].status == "down" and found["sync"].detail == "sync standby: none"
    assert found["member:site-b"].status == "down"
    assert found["member:read-copy"].status == "slow" and found["member:read-copy"].value == 40.0
    assert found["member:lagged-copy"].status == "down" and "no longer in the cluster" in found["member:lagged-copy"].detail
    patroni.member("read-copy").update(lag="unknown")
    assert _by_target(probe.check(SystemClock().now()))["member:read-copy"].status == "slow"  # unknown lag is not fine
    patroni.body["members"] = [m for m in patroni.body["members"] if m["role"] != "leader"]  # type: ignore[union-attr]
    assert _by_target(probe.check(SystemClock().now()))["leader"].status == "down"


def test_quorum_standby_counts_as_sync(patroni: FakePatroni) -> None:
    patroni.member("site-b")["role"] = "quorum_standby"
    assert _by_target(ClusterProbe([patroni.url]).check(SystemClock().now()))["sync"].status == "ok"


def test_unreachable_cluster_fires_and_resolves_when_patroni_answers_again(service: OpsService,
                                                                            patroni: FakePatroni) -> None:
    probe = ClusterProbe([patroni.url], timeout_s=0.5)

    def round_(seconds: float) -> list[str]:
        said = service.step(probe.check(service.clock.now()))
        service.clock.advance(seconds=seconds)  # type: ignore[attr-defined]
        return said

    round_(10)
    assert not alarms.active(service.store)
    patroni.hang.set()
    for _ in range(4):
        round_(10)
    [alarm] = [a for a in alarms.active(service.store) if a.rule == "cluster-unreachable"]
    assert alarm.severity == "critical" and alarm.incident_id is not None
    patroni.hang.clear()
    for _ in range(5):
        round_(10)
    resolved = alarms.get(service.store, alarm.id)
    assert resolved is not None and resolved.state == "resolved"
