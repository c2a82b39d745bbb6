"""Pure pieces of the cluster, backup and drill packages (no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from obruten.cluster import patroni
from obruten.cluster.topology import Topology, TopologyError
from obruten.drill.ledger import Ack, write_gap, writer_runs
from obruten.drill.load import _lag


def test_backup_root_inside_cluster_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="separate storage"):
        Topology.create(tmp_path / "c", tmp_path / "c" / "backup")


def test_member_roles_in_patroni_config(tmp_path: Path) -> None:
    topo = Topology.create(tmp_path / "c", tmp_path / "b", 55400, lag_delay="6h")
    conf = {m.name: patroni.render(topo, m) for m in topo.members}
    assert conf["lagged-copy"]["tags"] == {"nofailover": True, "nosync": True, "noloadbalance": True}
    assert conf["lagged-copy"]["postgresql"]["recovery_conf"]["recovery_min_apply_delay"] == "6h"
    assert "self_addr" not in conf["lagged-copy"]["raft"]  # not a Raft voter
    rc, site = conf["read-copy"]["tags"], conf["site-a"]["tags"]
    assert rc["nofailover"] is True and rc["sync_priority"] < site["sync_priority"]  # last sync candidate
    lifted = patroni.render(topo, topo.read_copy, promotable=True)["tags"]
    assert "nofailover" not in lifted and lifted["failover_priority"] < site["failover_priority"]
    dcs = conf["site-a"]["bootstrap"]["dcs"]
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (20, 2, 5)
    # quorum commit: the sync role moves without an empty /sync key (ADR 0011)
    assert dcs["synchronous_mode"] == "quorum" and dcs["synchronous_mode_strict"] is False
    assert dcs["synchronous_node_count"] == 1
    assert str(topo.backup_root) in dcs["postgresql"]["parameters"]["archive_command"]
    assert "target_session_attrs=read-write" in topo.write_url()
    assert "55403" not in topo.write_url()  # the lagged copy never serves the journal's writes


def _ack(t: float, port: int) -> Ack:
    return Ack(str(t), f"LAB-1-{t}", port, t - 0.001, t)


def test_write_gap_is_the_pause_that_spans_the_fault() -> None:
    times = [1.0, 1.1, 1.2, 1.3, 9.0, 9.1, 9.2]
    assert write_gap(times, fault_at=1.25) == (1.3, 9.0)
    assert write_gap([1.0, 2.0], fault_at=5.0) is None


def test_writer_runs_expose_interleaved_primaries() -> None:
    clean = [_ack(1, 5400), _ack(2, 5400), _ack(3, 5401), _ack(4, 5401)]
    split = [_ack(1, 5400), _ack(2, 5401), _ack(3, 5400), _ack(4, 5401)]
    assert len(writer_runs(clean)) == 2
    assert len(writer_runs(split)) == 4


def test_read_copy_lag_does_not_count_a_dead_primary() -> None:
    assert _lag(replayed_at=100.0, last_ack=100.002, now=130.0) == pytest.approx(0.002)
    assert _lag(replayed_at=95.0, last_ack=100.0, now=101.0) == pytest.approx(5.0)


def test_backup_timer_decides_full_then_incremental_then_verify() -> None:
    from datetime import UTC, datetime, timedelta

    from obruten.backup.schedule import Policy, Snapshot, decide

    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    p = Policy()
    assert decide(Snapshot(now, None, None, None, None, None), p)[0] == "full"
    day_old = now - timedelta(hours=25)
    assert decide(Snapshot(now, day_old, day_old, day_old, "b1", "b1"), p)[0] == "incremental"
    fresh = now - timedelta(minutes=5)
    assert decide(Snapshot(now, fresh, day_old, day_old, "b1", "b2"), p)[0] == "verify"
    assert decide(Snapshot(now, fresh, day_old, fresh, "b2", "b2"), p)[0] == "nothing"
    week_old = now - timedelta(days=8)
    assert decide(Snapshot(now, fresh, week_old, fresh, "b2", "b2"), p)[0] == "full"


def test_backup_events_feed_the_ops_backup_probe(tmp_path: Path) -> None:
    """The events backups emit are the ones (and in the shape) the ops backup probe reads."""
    from datetime import UTC, datetime

    from obruten.backup.catalog import Backup, Verification
    from obruten.cluster import announce
    from obruten.ops.probe_local import BackupProbe
    from obruten.ops.store import Store
    from obruten.ops.timeline import ingest
    from obruten.platform import events

    var = tmp_path / "var"
    topo = Topology.create(tmp_path / "c", tmp_path / "b", 55400, events_dir=var)
    store = Store(tmp_path / "ops.sqlite")
    now = datetime.now(UTC)
    assert {f.status for f in BackupProbe(store).check(now)} == {"down"}  # nothing recorded yet

    b = Backup("20261122T100000Z-full", "full", None, now.isoformat(), now.isoformat(), "0/3000028", 1,
               "site-a", 12_000_000)
    announce.base_backup_completed(topo, b, 2.5)
    announce.verification(topo, Verification(now.isoformat(), b.label, now.isoformat(), True, 9.0, {}))
    announce.verification(topo, Verification(now.isoformat(), b.label, now.isoformat(), False, 9.0, {}, "boom"))
    kinds = [e.kind for _, e in events.read(var)]
    assert kinds == ["backup.base_completed", "backup.restore_verified", "backup.restore_verification_failed"]
    assert ingest(store, var) == 3
    findings = {f.target: f for f in BackupProbe(store).check(now)}
    assert findings["base_backup"].status == "ok" and findings["restore_verification"].status == "ok"
    base = next(e for _, e in events.read(var) if e.kind == "backup.base_completed")
    assert base.data["label"] == b.label and base.data["size_bytes"] == 12_000_000

    # a topology without an events directory (tests, benchmarks) records nothing
    quiet = Topology.create(tmp_path / "q", tmp_path / "qb", 55500)
    announce.base_backup_completed(quiet, b, 1.0)
    assert len(kinds) == len(list(events.read(var)))


def test_role_hook_reads_the_recovery_state_from_pg_control(tmp_path: Path) -> None:
    import sys

    from obruten.cluster import role_hook

    (tmp_path / "global").mkdir()
    control = tmp_path / "global" / "pg_control"
    for state, recovering in ((role_hook.DB_IN_ARCHIVE_RECOVERY, True), (6, False)):
        control.write_bytes(b"\0" * 16 + state.to_bytes(4, sys.byteorder) + b"\0" * 100)
        assert role_hook.in_archive_recovery(tmp_path) is recovering
    assert role_hook.nudge_summarizer(tmp_path / "missing", limit_s=1) == 0
    topo = Topology.create(tmp_path / "c", tmp_path / "b", 55400)
    cmd = patroni.role_hook_command(topo, topo.members[0])
    assert "obruten.cluster.role_hook" in cmd and "--events-dir" not in cmd


def test_ops_cluster_probe_counts_a_quorum_standby_as_synchronous() -> None:
    from datetime import UTC, datetime

    from obruten.ops.probe_database import ClusterProbe

    members = [{"name": "site-a", "role": "leader", "state": "running", "lag": 0},
               {"name": "site-b", "role": "quorum_standby", "state": "streaming", "lag": 0}]
    sync = next(f for f in ClusterProbe([])._judge({"members": members}, datetime.now(UTC)) if f.target == "sync")
    assert sync.status == "ok" and "site-b" in sync.detail
