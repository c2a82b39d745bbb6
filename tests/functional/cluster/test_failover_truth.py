"""Issue 13 on a real four-member cluster (own module, own cluster): the journal leaves a primary
whose Patroni is frozen (SIGSTOP) and writes on the new leader; the lagged copy refuses a recovery
it cannot honour even after it was restarted, and recovers across a restart when it can; with both
sites gone, `cluster status` shows the majority's truth (none) and `cluster up`'s wait for a
leader gives advice within seconds."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from obruten.cluster import lagged, lifecycle, members, patroni
from obruten.cluster import overview as status
from obruten.cluster.members import ClusterError, all_streaming
from obruten.cluster.topology import Topology
from obruten.platform import config as config_mod
from obruten.record.schema import app_url
from pgtools import Served, login, reachable_tempdir, wait_for

pytestmark = pytest.mark.cluster


def _say(message: str) -> None:
    print(message)


def _writable(topo: Topology, name: str) -> bool:
    try:
        with psycopg.connect(topo.member_url(topo.member(name), "postgres", timeout=1), autocommit=True) as c:
            return c.execute("SELECT NOT pg_is_in_recovery()").fetchone()[0]
    except psycopg.Error:
        return False


def _healthy(topo: Topology) -> None:
    """Every member streaming and exactly one writable site, three times in a row (a woken old
    primary is read-write until its Patroni demotes it, then rewinds and restarts it)."""
    names = [m.name for m in topo.members]
    streaming = all_streaming(names, (topo.lagged_copy.name,))
    in_a_row = [0]

    def settled() -> bool:
        ok = streaming(members.view(topo)) and sum(_writable(topo, m.name) for m in topo.sites) == 1
        in_a_row[0] = in_a_row[0] + 1 if ok else 0
        return in_a_row[0] >= 3

    wait_for(settled, 180, "the cluster to settle: every member streaming, one writable site", interval=0.5)


def test_journal_leaves_a_frozen_primary_and_writes_on_the_new_leader(cluster: Topology) -> None:
    from obruten.devtools import seed

    seed.generate(cluster.write_url(), 100, seed=3)
    urls = ",".join(f"http://127.0.0.1:{m.rest_port}" for m in cluster.members if m.can_be_primary)
    var_dir = reachable_tempdir("obruten-frozen-")
    cfg = config_mod.load(environ={}, var_dir=var_dir, secret_key="test-secret-" + "x" * 40, patroni_urls=urls,
                          read_copy_web_url="http://läskopia.example/")
    served = Served(create_app_for(cfg, app_url(cluster.write_url(), var_dir / "app-password")), what="the journal")
    old = members.view(cluster).leader
    assert old is not None
    frozen = patroni.patroni_pid(cluster, cluster.member(old))
    assert frozen is not None
    acknowledged: list[str] = []
    try:
        with login(served.base, "sjukskoterska") as api:
            patient = api.get(f"/api/v1/units/{api.units[0]}/patients").json()[0]["id"]

            def write(label: str) -> httpx.Response:
                r = api.post(f"/api/v1/patients/{patient}/notes", json={"kind": "omvardnad", "body": label})
                if r.status_code == 201:
                    acknowledged.append(label)
                return r

            assert write("före frysningen").status_code == 201
            others = [m for m in cluster.members if m.can_be_primary and m.name != old]
            db_acked: list[float] = []
            with psycopg.connect(cluster.write_url(), autocommit=True) as c:
                c.execute("CREATE TABLE IF NOT EXISTS freeze_probe (at timestamptz NOT NULL)")

            def probe_database() -> None:
                """When a new leader first acknowledges a commit (it waits for a synchronous standby)."""
                while not db_acked and time.monotonic() - stopped_at < 120:
                    for m in others:
                        try:
                            with psycopg.connect(cluster.member_url(m, timeout=1), autocommit=True) as c:
                                c.execute("INSERT INTO freeze_probe VALUES (now())")
                                db_acked.append(time.monotonic())
                                return
                        except psycopg.Error:
                            pass
                    time.sleep(0.05)

            os.kill(frozen, signal.SIGSTOP)
            stopped_at = time.monotonic()
            prober = threading.Thread(target=probe_database)
            prober.start()
            slowest_503 = 0.0
            first_after: float | None = None
            n = 0
            while first_after is None:
                assert time.monotonic() - stopped_at < 120, "no write acknowledged on a new leader in 120 s"
                n += 1
                started = time.monotonic()
                r = write(f"under frysningen {n}")
                assert r.status_code in (201, 503), r.text
                if r.status_code == 503:
                    slowest_503 = max(slowest_503, time.monotonic() - started)
                elif db_acked:
                    first_after = time.monotonic()
                time.sleep(0.05)
            prober.join()
            print(f"new leader acknowledged a direct commit {db_acked[0] - stopped_at:.1f} s after SIGSTOP; the "
                  f"journal's first write {first_after - db_acked[0]:.2f} s after that; slowest 503 "
                  f"{slowest_503:.2f} s; {n} writes tried")
            assert slowest_503 < 2.5, f"a 503 took {slowest_503:.2f} s"
            new = members.view(cluster).leader
            assert new is not None and new != old
            # every acknowledged note is on the new leader: none went (only) to the frozen one
            with psycopg.connect(cluster.member_url(cluster.member(new)), autocommit=True) as c:
                there = {r[0] for r in c.execute("SELECT body FROM note WHERE patient_id = %s", (patient,))}
            assert set(acknowledged) <= there, sorted(set(acknowledged) - there)
    finally:
        os.kill(frozen, signal.SIGCONT)
        served.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
    _healthy(cluster)


def create_app_for(cfg: config_mod.Config, url: str) -> object:
    from obruten.record.app import create_app

    return create_app(cfg, url)


def _rows_on_lagged(topo: Topology) -> int | None:
    try:
        with psycopg.connect(topo.member_url(topo.lagged_copy, timeout=1), autocommit=True) as c:
            return c.execute("SELECT count(*) FROM lag_truth").fetchone()[0]
    except psycopg.Error:
        return None


def _restart_lagged(topo: Topology) -> None:
    m = topo.lagged_copy
    _say(patroni.stop(topo, m))
    patroni.start(topo, m)
    wait_for(lambda: _rows_on_lagged(topo) is not None, 90, "the lagged copy to accept connections again",
             interval=0.2)


def _target_then_error(topo: Topology, error_sql: str) -> datetime:
    with psycopg.connect(topo.write_url(), autocommit=True) as conn:
        now = conn.execute("SELECT now()").fetchone()[0]
        target = (now + timedelta(seconds=1)).replace(microsecond=0)
        wait_for(lambda: datetime.now(UTC) > target + timedelta(milliseconds=200), 5, "the target to pass")
        conn.execute(error_sql)
    return target


def test_lagged_copy_refuses_after_a_restart_and_recovers_across_one(cluster: Topology) -> None:
    with psycopg.connect(cluster.write_url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE lag_truth (id int PRIMARY KEY, good bool NOT NULL)")
        conn.execute("INSERT INTO lag_truth SELECT g, true FROM generate_series(1, 50) g")
    target = _target_then_error(cluster, "INSERT INTO lag_truth SELECT g, false FROM generate_series(51, 60) g")
    # the lagged copy (10 s behind) replays the bad rows and a checkpoint after them, so that its
    # restart point lies past every commit: after the restart it replays no commit until new ones
    # have waited out the delay, and pg_last_xact_replay_timestamp() stays NULL (the case of issue 13)
    with psycopg.connect(cluster.write_url(), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        checkpoint_lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    with psycopg.connect(cluster.member_url(cluster.lagged_copy, "postgres"), autocommit=True) as c:
        wait_for(lambda: c.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                                   (str(checkpoint_lsn),)).fetchone()[0], 90,
                 "the lagged copy to replay the bad rows and the checkpoint", interval=0.5)
        c.execute("CHECKPOINT")  # a restart point at that checkpoint
    assert _rows_on_lagged(cluster) == 60
    _restart_lagged(cluster)
    with psycopg.connect(cluster.member_url(cluster.lagged_copy, "postgres"), autocommit=True) as c:
        stale = c.execute("SELECT pg_last_xact_replay_timestamp()").fetchone()[0]
    assert stale is None, "the restart did not reproduce the NULL replay timestamp this test is about"
    with pytest.raises(ClusterError) as refused:
        lagged.recover(cluster, target.isoformat(), _say, timeout=120)
    text = str(refused.value)
    assert "already replayed past" in text and "PAUSED" in text and "obruten cluster resume-lagged" in text
    assert _rows_on_lagged(cluster) == 60  # still the standby it was: nothing promoted, nothing handed back
    assert "replay resumed" in lagged.resume(cluster)

    # restarted again (its replay timestamp NULL), a target it has not passed yet is honoured
    _restart_lagged(cluster)
    target = _target_then_error(cluster, "DELETE FROM lag_truth WHERE good")  # the next error, 10 s away
    sentence = lagged.recover(cluster, target.isoformat(), _say, timeout=120)
    assert "recovered" in sentence
    with psycopg.connect(cluster.member_url(cluster.lagged_copy), autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        assert conn.execute("SELECT count(*) FILTER (WHERE good), count(*) FROM lag_truth").fetchone() == (50, 60)
    row = next(r for r in status.collect(cluster).rows if r.name == cluster.lagged_copy.name)
    assert (row.role, row.state) == ("recovered", "running outside the cluster")


def test_both_sites_gone_status_tells_the_truth_and_up_advises(cluster: Topology) -> None:
    for site in cluster.sites:
        patroni.kill(cluster, site)
    snap = members.wait_for(cluster, lambda v: v.quorum is False, "the Raft majority to be gone", 30)
    assert snap.leader is None
    st = status.collect(cluster)
    rows = {r.name: r for r in st.rows}
    assert st.leader is None
    assert rows["site-a"].state == rows["site-b"].state == "unreachable"
    assert rows["read-copy"].state == members.NO_MAJORITY and rows["read-copy"].lag_bytes is None
    assert any(a.startswith("NO-DCS-MAJORITY: 2 of 3 voting members are gone") and "Both sites lost" in a
               for a in st.alarms), st.alarms
    print(status.render(st))
    started = time.monotonic()
    with pytest.raises(ClusterError, match="Both sites lost"):
        lifecycle.wait_for_leader(cluster, 240, _say)
    took = time.monotonic() - started
    print(f"cluster up's wait for a leader gave advice after {took:.1f} s")
    assert took < lifecycle.QUORUM_GRACE_S + 10  # the read copy's Raft node answers from the start
