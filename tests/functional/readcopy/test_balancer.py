"""Two read copies behind HAProxy: one is killed with SIGKILL under load and users see no error.

Cheaper than the whole Patroni cluster and the same parts that matter here: a primary, two streaming
hot standbys of it (`pg_basebackup -R`), a read copy (`obruten serve --read-copy`, its own process
group) on each, with the same secret key, and HAProxy from Debian's package with the configuration
``obruten.readcopy.balancer`` writes. Health is each read copy's ``/api/v1/read-copy/ready``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from obruten.devtools import seed
from obruten.platform.pgserver import DATABASE, PostgresInstance
from obruten.readcopy import balancer
from obruten.readcopy.standby import create_standby, wait_replayed
from obruten.record.schema import migrate
from pgtools import free_port, reachable_tempdir, wait_for

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(shutil.which("haproxy") is None and not os.path.exists("/usr/sbin/haproxy"),
                                 reason="HAProxy is not installed (make setup installs Debian's haproxy)")]

SECRET = "balancer-test-secret-" + "z" * 40
OBRUTEN = str(Path(sys.executable).parent / "obruten")


@dataclass
class Pool:
    base: Path
    primary: PostgresInstance
    standbys: list[PostgresInstance]
    procs: dict[str, subprocess.Popen[bytes]]
    urls: dict[str, str]
    lb: balancer.Balancer
    patients: list[int] = field(default_factory=list)


def _read_copy(base: Path, name: str, standby: PostgresInstance, primary: PostgresInstance,
               port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OBRUTEN_SECRET_KEY": SECRET, "OBRUTEN_READ_COPY_STALE_SECONDS": "5",
           "OBRUTEN_NODE_NAME": name}
    return subprocess.Popen([OBRUTEN, "--var-dir", str(base / f"{name}-var"), "serve", "--read-copy",
                             "--database-url", standby.url(), "--primary-url", primary.url(), "--port", str(port)],
                            env=env, stdin=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    base = reachable_tempdir("obruten-balancer-")
    primary = PostgresInstance.at(base, free_port(), name="primary")
    standbys: list[PostgresInstance] = []
    procs: dict[str, subprocess.Popen[bytes]] = {}
    lb: balancer.Balancer | None = None
    try:
        primary.init()
        primary.start()
        primary.ensure_database(DATABASE)
        migrate(primary.url())
        seed.generate(primary.url(), 400, seed=11)
        members = []
        for name in ("rc-1", "rc-2"):
            standby = create_standby(primary, base, free_port(), name=f"standby-{name}")
            standbys.append(standby)
            port = free_port()
            procs[name] = _read_copy(base, name, standby, primary, port)
            members.append(balancer.Member(name, "127.0.0.1", port))
        for standby in standbys:
            wait_replayed(primary.url(), standby.url())
        urls = {m.name: f"http://127.0.0.1:{m.port}" for m in members}
        for name, url in urls.items():
            wait_for(lambda u=url: httpx.get(f"{u}{balancer.READY_PATH}", timeout=2).status_code == 200, 60,
                     f"{name} ready", proc=procs[name], ignore=(httpx.HTTPError,))
        lb = balancer.Balancer(base / "haproxy", members, balancer.Settings(bind_port=free_port(), check_every_ms=500))
        lb.start()
        with psycopg.connect(primary.url()) as conn:
            patients = [r[0] for r in conn.execute(
                "SELECT a.patient_id FROM admission_current a JOIN staff_unit su ON su.unit_id = a.unit_id"
                " JOIN staff s ON s.id = su.staff_id WHERE s.username = 'lakare' AND a.discharged_at IS NULL"
                " ORDER BY 1 LIMIT 20")]
        yield Pool(base, primary, standbys, procs, urls, lb, patients)
    finally:
        if lb is not None:
            lb.stop()
        for proc in procs.values():
            _stop(proc)
        for instance in (*standbys, primary):
            instance.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


def _login(base: str) -> str:
    with httpx.Client(base_url=base, timeout=30) as c:
        answer = c.post("/api/v1/login", json={"username": "lakare", "password": "demo"})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["token"])


def test_a_session_made_on_one_read_copy_works_on_the_other_and_through_the_balancer(pool: Pool) -> None:
    token = _login(pool.urls["rc-1"])
    for url in (pool.urls["rc-2"], pool.lb.url):
        with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as c:
            assert c.get(f"/api/v1/patients/{pool.patients[0]}").status_code == 200


def test_a_current_member_is_ready_and_a_bad_limit_is_refused(pool: Pool) -> None:
    url = pool.urls["rc-2"] + balancer.READY_PATH
    ready = httpx.get(url, params={"max_lag": 2}, timeout=5)
    assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["node"] == "rc-2"
    assert httpx.get(url, params={"max_lag": -1}, timeout=5).status_code == 422  # bad input: a clear 4xx


def test_a_logout_on_one_read_copy_ends_the_session_on_the_other(pool: Pool) -> None:
    token = _login(pool.urls["rc-1"])
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=pool.urls["rc-1"], timeout=30, headers=auth) as rc1, \
            httpx.Client(base_url=pool.urls["rc-2"], timeout=30, headers=auth) as rc2:
        assert rc2.get("/api/v1/units").status_code == 200
        assert rc1.post("/api/v1/logout").json() == {"logged_out": True, "everywhere": True}
        # written to the primary, back by replication to every member (within ~1 s + the replay lag)
        wait_for(lambda: rc2.get("/api/v1/units").status_code == 401, 15, "the logout to reach rc-2")


async def _load(base: str, token: str, patients: list[int], seconds: float, kill_at: float,
                kill: subprocess.Popen[bytes]) -> tuple[int, int, list[str], list[float], list[float]]:
    """Closed loop of 8 clients over the balancer; SIGKILL ``kill``'s process group at ``kill_at``."""
    done = retried = 0
    failures: list[str] = []
    before: list[float] = []
    after: list[float] = []
    start = time.monotonic()
    killed_at: float | None = None

    async def client(k: int) -> None:
        nonlocal done, retried
        async with httpx.AsyncClient(base_url=base, timeout=30,
                                     headers={"Authorization": f"Bearer {token}"}) as c:
            i = k
            while time.monotonic() - start < seconds:
                path = f"/api/v1/patients/{patients[i % len(patients)]}" if i % 2 else "/api/v1/units"
                t0 = time.monotonic()
                try:
                    try:
                        status = (await c.get(path)).status_code
                    except httpx.RemoteProtocolError:
                        # HAProxy closes a kept-alive client connection without an answer when the
                        # member it reused went away before answering: the HTTP signal that a GET may
                        # be sent again, which browsers do by themselves (RFC 9110 9.2.2). Once only.
                        retried += 1
                        status = (await c.get(path)).status_code
                except httpx.HTTPError as exc:
                    failures.append(f"{path}: {type(exc).__name__}")
                    continue
                finally:
                    i += 8
                (after if killed_at is not None and t0 >= killed_at else before).append(time.monotonic() - t0)
                if status != 200:
                    failures.append(f"{path}: HTTP {status}")
                done += 1

    async def killer() -> None:
        nonlocal killed_at
        await asyncio.sleep(kill_at)
        os.killpg(kill.pid, signal.SIGKILL)  # the whole read copy: its uvicorn and its workers
        killed_at = time.monotonic()

    await asyncio.gather(killer(), *(client(k) for k in range(8)))
    return done, retried, failures, before, after


def test_killing_a_read_copy_under_load_costs_users_nothing_but_a_retry(pool: Pool) -> None:
    token = _login(pool.lb.url)
    with httpx.Client(base_url=pool.lb.url, timeout=10) as c:
        assert {c.get("/api/v1/read-copy").json()["node"] for _ in range(6)} == {"rc-1", "rc-2"}  # both serve
    victim = pool.procs["rc-1"]
    done, retried, failures, before, after = asyncio.run(_load(pool.lb.url, token, pool.patients, 8.0, 3.0, victim))
    assert victim.wait(10) == -signal.SIGKILL

    def p99(values: list[float]) -> float:
        return sorted(values)[int(0.99 * (len(values) - 1))] * 1000 if values else float("nan")

    print(f"\nthrough HAProxy, rc-1 SIGKILLed at 3 s of 8: {done} GETs answered, {len(failures)} failed, "
          f"{retried} sent again by the client after a closed kept-alive connection "
          f"({len(failures) / max(1, done + len(failures)):.2%}); p99 {p99(before):.0f} ms before the kill "
          f"({len(before)} requests), {p99(after):.0f} ms after ({len(after)} requests)")
    assert not failures, f"GETs failed through the balancer: {failures[:5]}"
    assert retried <= 8, f"{retried} client retries: more than one per client connection"
    assert len(after) > 50, "too few requests after the kill to judge"
    # the survivor carries everything; the balancer has taken the dead member out
    with httpx.Client(base_url=pool.lb.url, timeout=10) as c:
        assert {c.get("/api/v1/read-copy").json()["node"] for _ in range(6)} == {"rc-2"}
