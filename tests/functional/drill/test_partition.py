"""Fencing and host loss on a real cluster whose members each run in a network namespace of their
own (the partition drill's layout): the primary cut off by its link going down, and the primary's
host lost with every one of its processes. One cluster for the module; both tests inject real
faults (a link down, SIGKILL)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from obruten.cluster import members, patroni
from obruten.drill import host, netns, partition, scenarios
from obruten.drill.faults import healthy

REPO = Path(__file__).resolve().parents[3]


def _say(message: str) -> None:
    print(message)


def _started(pid: int) -> str | None:
    """The process's start time (clock ticks since boot): a pid reused later has another."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            rest = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if rest[0] in ("Z", "X") else rest[19]


def test_production_patroni_config_requires_a_watchdog_and_this_machine_has_none() -> None:
    prod = yaml.safe_load((REPO / "deploy" / "patroni-production.yml").read_text())
    assert prod["watchdog"]["mode"] == "required" and prod["watchdog"]["device"] == "/dev/watchdog"
    # the rendered development config says off: there is no /dev/watchdog here to arm
    assert patroni.WATCHDOG_MODE == "off"
    assert not Path("/dev/watchdog").exists() or patroni.WATCHDOG_MODE in ("automatic", "required")


@pytest.fixture(scope="module")
def netns_cluster() -> Iterator[partition.NetnsCluster]:
    if (why := netns.unavailable()) is not None:
        pytest.skip(why)
    cluster = partition.start_cluster(_say, timeout=180)
    try:
        yield cluster
    finally:
        cluster.stop(_say)


@pytest.mark.cluster
@pytest.mark.fault
def test_cut_off_primary_acknowledges_nothing_after_the_promotion_and_nothing_is_lost(
        netns_cluster: partition.NetnsCluster) -> None:
    c = netns_cluster
    report = partition.run_on(c.topo, _say, net=c.net, rate=100, writers=2, timeout=120, work=c.base)
    print(report.to_markdown())
    assert report.promoted_s is not None, "no member was promoted while the primary was cut off"
    assert report.leader_after not in (report.victim, "none")
    assert report.writes_acked > 200  # both sides really wrote
    # the split-brain count: what the old primary acknowledged once another member was primary …
    assert report.acked_after_promotion_by_old == 0
    # … and whether any of it exists in the history the cluster kept
    assert report.acked_after_promotion_present == 0
    assert report.writes_lost == 0
    assert report.old_writable_s is not None, "the old primary never stopped being read-write"


@pytest.mark.cluster
@pytest.mark.fault
def test_frozen_leader_patroni_is_replaced_and_its_primary_acknowledges_nothing_after(
        netns_cluster: partition.NetnsCluster) -> None:
    """What a watchdog guards against, without one: the leader's Patroni stopped (SIGSTOP) while its
    PostgreSQL runs on; the lock expires, a site standby is promoted; the frozen primary may stay
    read-write, but nothing it acknowledges after the promotion may exist or be lost."""
    report = partition.run_on(netns_cluster.topo, _say, net=None, rate=100, writers=2, timeout=120)
    print(report.to_markdown())
    assert report.promoted_s is not None and report.leader_after not in (report.victim, "none")
    assert report.acked_after_promotion_by_old == 0
    assert report.acked_after_promotion_present == 0
    assert report.writes_lost == 0


@pytest.mark.cluster
@pytest.mark.fault
def test_host_loss_leaves_no_process_of_the_lost_host_alive(netns_cluster: partition.NetnsCluster) -> None:
    topo = netns_cluster.topo
    snap = members.wait_for(topo, healthy(topo), "a healthy cluster", 120, _say)
    leader = topo.member(snap.leader or "")
    # a process started for that site (as a journal bound to it would be) lives on its host too
    bound = subprocess.Popen(["sleep", "600"], env={**os.environ, host.HOST_ENV: leader.name},
                             start_new_session=True)
    try:
        before = {pid: _started(pid) for pid in host.host_pids(topo, leader)}
        assert bound.pid in before
        assert len(before) > 8, f"a member's host is more than Patroni and its postmaster: {before}"
        report = scenarios.run(topo, "host-loss", _say, rate=100, writers=2, timeout=120)
        survivors = [pid for pid, started in before.items() if _started(pid) == started]
        assert survivors == [], f"still alive after the host loss: {host.describe(survivors)}"
        assert bound.wait(timeout=5) == -9
        assert report.writes_lost == 0 and report.rto_s is not None
    finally:
        if bound.poll() is None:
            bound.kill()
            bound.wait()
