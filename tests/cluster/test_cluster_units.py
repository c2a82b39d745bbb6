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
    assert rc["failover_priority"] < site["failover_priority"] and rc["sync_priority"] < site["sync_priority"]
    dcs = conf["site-a"]["bootstrap"]["dcs"]
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (20, 2, 5)
    assert dcs["synchronous_mode"] is True and dcs["synchronous_mode_strict"] is False
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
