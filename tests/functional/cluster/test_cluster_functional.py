"""A real four-member Patroni cluster: failover without loss, switchover, PITR, lagged copy.

The tests share one cluster (module scope) and run in file order; the lagged-copy test detaches
the lagged copy, so it runs last.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from obruten.backup import basebackup, catalog, restore, verify, wal_receiver
from obruten.cluster import members
from obruten.cluster import overview as status
from obruten.cluster.lagged import recover
from obruten.cluster.topology import Topology
from obruten.drill import scenarios
from pgtools import wait_for

pytestmark = pytest.mark.cluster


def _say(message: str) -> None:
    print(message)


def test_status_shows_one_primary_a_sync_standby_and_streaming_copies(cluster: Topology) -> None:
    st = status.collect(cluster)
    roles = {r.name: r for r in st.rows}
    assert st.leader in ("site-a", "site-b")
    assert sum(1 for r in st.rows if r.sync_state in ("sync", "quorum") and r.name != "backup-store") == 1
    assert roles["backup-store"].state == "streaming" and roles["backup-store"].sync_state in ("sync", "quorum")
    assert not any(a.startswith("BACKUP-STREAM") for a in st.alarms)
    assert roles["read-copy"].state == "streaming"
    assert roles["lagged-copy"].state == "streaming"
    assert "NO-PRIMARY: no member accepts writes" not in st.alarms
    with psycopg.connect(cluster.write_url(), autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False


def test_status_raises_an_alarm_while_the_backup_stream_is_down(cluster: Topology) -> None:
    wal_receiver.stop(cluster)
    try:
        def alarmed() -> status.Status | None:
            st = status.collect(cluster)
            return st if any(a.startswith("BACKUP-STREAM") for a in st.alarms) else None

        st = wait_for(alarmed, 20, "the BACKUP-STREAM alarm")
        assert {r.name: r for r in st.rows}["backup-store"].state == "not connected"
    finally:
        wal_receiver.start(cluster)
        wal_receiver.wait_counted(cluster.write_url(), 60)
    assert not any(a.startswith("BACKUP-STREAM") for a in status.collect(cluster).alarms)


def test_restore_lands_exactly_on_the_requested_second_and_verify_passes(cluster: Topology) -> None:
    basebackup.take(cluster, _say, full=True)
    basebackup.take(cluster, _say)  # incremental: the restore goes through pg_combinebackup
    with psycopg.connect(cluster.write_url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS pitr_probe (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY)")
        target = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
        while datetime.now(UTC) < target + timedelta(seconds=1):
            conn.execute("INSERT INTO pitr_probe DEFAULT VALUES")
            time.sleep(0.01)
        expected = {r[0] for r in conn.execute(
            "SELECT id FROM pitr_probe WHERE pg_xact_commit_timestamp(xmin) <= %s", (target,))}
        total = conn.execute("SELECT count(*) FROM pitr_probe").fetchone()[0]
    assert 0 < len(expected) < total  # rows on both sides of the target
    basebackup.switch_and_wait_archived(cluster)
    dest = cluster.backup_root / "restores" / "test-pitr"
    pg, b = restore.restore(cluster, target, dest, cluster.base_port + 31, _say)
    try:
        assert b.kind == "incremental"
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            restored = {r[0] for r in conn.execute("SELECT id FROM pitr_probe")}
        assert restored == expected
    finally:
        restore.discard(pg)

    v = verify.run(cluster, _say)
    assert v.ok, v.problem
    assert catalog.last_good_verification(cluster.backup_root) == v
    assert "VERIFY-OLD" not in " ".join(status.collect(cluster).alarms)


def test_switchover_loses_no_acknowledged_write(cluster: Topology) -> None:
    report = scenarios.run(cluster, "switchover", _say, rate=100, warmup=1.5, timeout=90)
    assert report.leader_after != report.leader_before
    assert report.writes_acked > 0
    assert report.writes_lost == 0
    assert not report.two_writers, report.two_writers_evidence
    assert report.order_numbers_unique and report.order_numbers_repeated_after_fault == 0


@pytest.mark.fault
def test_primary_crash_fails_over_with_zero_acknowledged_writes_lost(cluster: Topology) -> None:
    report = scenarios.run(cluster, "primary-crash", _say, rate=100, warmup=1.5, timeout=120)
    assert report.leader_after != report.leader_before
    assert report.timeline_after is not None and report.timeline_before is not None
    assert report.timeline_after > report.timeline_before
    assert report.writes_lost == 0
    assert report.rto_s is not None
    assert not report.two_writers, report.two_writers_evidence
    assert report.order_numbers_unique and report.order_numbers_repeated_after_fault == 0
    assert report.passed
    # the old primary came back as a standby (pg_rewind) and the cluster is whole again
    members.wait_for(cluster, scenarios.healthy(cluster), "a healthy cluster", 60)


@pytest.mark.fault
def test_losing_the_synchronous_standby_moves_the_guarantee_to_the_read_copy(cluster: Topology) -> None:
    report = scenarios.run(cluster, "sync-standby-loss", _say, rate=100, warmup=1.5, timeout=90)
    # detected = the killed site left the quorum and another standby (the read copy: the other site
    # is the primary) took its place, so commits stayed durable at two sites
    assert report.detect_s is not None, report.sentences
    assert report.leader_after == report.leader_before  # losing a standby is no failover
    assert report.writes_lost == 0 and report.rto_s is not None
    assert not report.two_writers, report.two_writers_evidence
    assert report.rejoin_s is not None  # the site came back and the cluster is whole again


def test_lagged_copy_recovers_data_destroyed_by_a_replicated_error(cluster: Topology) -> None:
    with psycopg.connect(cluster.write_url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE lag_probe (id int PRIMARY KEY)")
        conn.execute("INSERT INTO lag_probe SELECT generate_series(1, 50)")
        before_error = conn.execute("SELECT now()").fetchone()[0]
        target = (before_error + timedelta(seconds=1)).replace(microsecond=0)
        while datetime.now(UTC) < target + timedelta(milliseconds=200):
            time.sleep(0.05)
        conn.execute("DROP TABLE lag_probe")  # the error, replicated at once to every other member
        with psycopg.connect(cluster.member_url(cluster.read_copy), autocommit=True) as rc:
            deadline = time.monotonic() + 10
            while rc.execute("SELECT to_regclass('lag_probe')").fetchone()[0] is not None:
                assert time.monotonic() < deadline, "the read copy never replayed the DROP"
                time.sleep(0.1)
    sentence = recover(cluster, target.isoformat(), _say, timeout=120)
    assert "recovered" in sentence
    with psycopg.connect(cluster.member_url(cluster.lagged_copy), autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        assert conn.execute("SELECT count(*) FROM lag_probe").fetchone()[0] == 50
