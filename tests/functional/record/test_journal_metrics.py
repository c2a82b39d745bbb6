"""``/metrics`` on a running journal: scraped over HTTP and read with prometheus_client's parser;
with ``serve --workers 2`` every scrape is the sum over both workers, and counters never go back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from metrics_page import families, value
from pgtools import free_port

CLI = [sys.executable, "-c", "from obruten.cli import main; main()"]


def test_journal_serves_request_pool_and_audit_figures(journal_server) -> None:
    with httpx.Client(base_url=journal_server.base, timeout=10) as client:
        r = client.post("/api/v1/login", json={"username": "lakare", "password": "demo"})
        assert r.status_code == 200, r.text
        client.headers["Authorization"] = f"Bearer {r.json()['token']}"
        units = [u for u in client.get("/api/v1/units").json() if u["admitted"] > 0]
        patients = client.get(f"/api/v1/units/{units[0]['id']}/patients").json()
        assert client.get(f"/api/v1/patients/{patients[0]['id']}").status_code == 200  # an audited read
        assert client.get("/api/v1/patients/999999999").status_code in (403, 404)
        scrape = client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = scrape.text
    found = families(text)

    assert found["obruten_http_requests"].type == "counter"
    assert "# TYPE obruten_http_requests_total counter" in text
    assert value(text, "obruten_http_requests_total", method="POST", route="/api/v1/login", status="200") >= 1
    # route templates, never a patient id in a label
    assert value(text, "obruten_http_requests_total", method="GET", route="/api/v1/patients/{patient}",
                 status="200") >= 1
    assert not any("999999999" in v for s in found["obruten_http_requests"].samples for v in s.labels.values())
    assert found["obruten_http_request_duration_seconds"].type == "histogram"
    assert value(text, "obruten_http_request_duration_seconds_count", route="/api/v1/login") >= 1

    assert found["obruten_db_pool_pool_size"].type == "gauge"
    assert value(text, "obruten_db_pool_pool_size") >= 1
    assert value(text, "obruten_db_pool_requests_num_total") >= 1
    assert value(text, "obruten_audit_queue_events") >= 0
    assert found["obruten_audit_flush_seconds"].type == "histogram"
    assert value(text, "obruten_audit_flush_seconds_count", outcome="ok") >= 1
    assert value(text, "obruten_audit_events_total", outcome="ok") >= 2  # the login and the read
    assert not any(name.endswith("_created") for name in found), "only the documented series"


# ---- several workers --------------------------------------------------------------------------
def _wait_for(what: str, condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the journal exited ({proc.returncode}) while waiting for {what}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Workers:
    def __init__(self, proc: subprocess.Popen, base: str, metrics_dir: Path) -> None:
        self.proc, self.base, self.metrics_dir = proc, base, metrics_dir

    def scrape(self) -> str:
        r = httpx.get(self.base + "/metrics", timeout=10)  # a new connection: any worker may answer
        assert r.status_code == 200, r.text
        return r.text

    def live_pids(self) -> set[int]:
        """The workers whose pool gauges count in the sum now."""
        return {int(p.stem.rsplit("_", 1)[1]) for p in self.metrics_dir.glob("gauge_livesum_*.db")}


@pytest.fixture
def two_workers(db_url: str, tmp_path: Path) -> Iterator[Workers]:
    var_dir = tmp_path / "var"
    stale = var_dir / "metrics" / "counter_1.db"  # a file an earlier run left behind: not a valid one
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with open(tmp_path / "journal.log", "wb") as log:
        proc = subprocess.Popen(CLI + ["--var-dir", str(var_dir), "--database-url", db_url, "serve",
                                       "--workers", "2", "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    workers = Workers(proc, f"http://127.0.0.1:{port}", var_dir / "metrics")
    try:
        _wait_for("the journal to answer", lambda: _answers(workers.base + "/api/v1/health"), proc)
        yield workers
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_two_workers_serve_the_sum_and_counters_never_go_back(two_workers: Workers) -> None:
    w = two_workers
    assert not (w.metrics_dir / "counter_1.db").exists(), "stale files are wiped at start"
    assert w.metrics_dir.stat().st_mode & 0o777 == 0o700
    # each worker's pool has min_size 2: the sum over both is 4, whichever worker answers
    _wait_for("both workers' pools in the sum",
              lambda: value(w.scrape(), "obruten_db_pool_pool_min") == 4 and len(w.live_pids()) == 2, w.proc)

    def counted(text: str) -> float:
        try:  # a request the test alone makes: unauthenticated, refused
            return value(text, "obruten_http_requests_total", method="GET", route="/api/v1/units", status="401")
        except KeyError:
            return 0.0

    requests, seen = 0, [0.0]
    for _ in range(20):
        for _ in range(5):
            assert httpx.get(w.base + "/api/v1/units", timeout=10).status_code == 401  # a new connection each
            requests += 1
        seen.append(counted(w.scrape()))
    assert seen == sorted(seen), f"the request counter went backwards: {seen}"
    # a worker counts a request just after answering it: wait for the last one
    _wait_for(f"all {requests} requests counted", lambda: counted(w.scrape()) >= requests, w.proc, timeout=10)
    assert counted(w.scrape()) == requests

    # a worker killed outright: its counts stay in the sum, its pool leaves it
    victim = min(w.live_pids())
    os.kill(victim, signal.SIGKILL)
    _wait_for("the killed worker's pool to leave the sum",  # (the scrape forgets it: scrape first)
              lambda: counted(w.scrape()) == requests and victim not in w.live_pids(), w.proc)
    assert value(w.scrape(), "obruten_db_pool_pool_min") <= 4

    # a clean stop: every worker takes its pool out of the sum on the way out
    os.killpg(w.proc.pid, signal.SIGTERM)
    assert w.proc.wait(30) == 0
    assert w.live_pids() == set()
