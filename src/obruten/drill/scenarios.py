"""Drill scenarios: inject one fault under load, watch the cluster recover, check the ledger.

Each step is "snapshot → decide → sentence": the sentences go into the report in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from obruten.cluster import announce, members, patroni
from obruten.cluster.members import ClusterView, view
from obruten.cluster.topology import Topology
from obruten.drill import disk_full, host
from obruten.drill.faults import DrillError, Fault, Prepared, healthy
from obruten.drill.ledger import write_gap, writer_runs
from obruten.drill.load import Load, ensure_fixture
from obruten.drill.report import Report, percentile
from obruten.platform.progress import Say
from obruten.platform.rows import one

__all__ = ["NAMES", "PREPARED", "SCENARIOS", "DrillError", "Fault", "Prepared", "healthy", "run"]


def _primary_crash(topo: Topology, snap: ClusterView) -> Fault:
    leader = snap.leader or ""
    pids = host.kill_host(topo, topo.member(leader))
    return Fault(leader, f"loss of {leader}'s host: SIGKILL of all {len(pids)} of its processes (Patroni, the "
                         f"postmaster and every child; pids {pids})", True, lambda v: v.leader != leader)


def _postgres_crash(topo: Topology, snap: ClusterView) -> Fault:
    leader = snap.leader or ""
    pids = patroni.kill(topo, topo.member(leader), patroni=False)
    return Fault(leader, f"SIGKILL of {leader}'s postmaster only (pid {pids}); Patroni keeps running", False,
                 lambda v: (s := v.state_of(leader)) is None or s.state != "running" or v.leader != leader)


def _switchover(topo: Topology, snap: ClusterView) -> Fault:
    leader = snap.leader or ""
    sentence = members.switchover(topo)
    return Fault(leader, f"planned switchover requested: {sentence}", False, lambda v: v.leader not in (None, leader))


def _sync_standby_loss(topo: Topology, snap: ClusterView) -> Fault:
    if not snap.sync_standbys:
        raise DrillError("no synchronous standby to lose; wait until `obruten cluster status` shows one")
    victim = snap.sync_standbys[0]
    pids = host.kill_host(topo, topo.member(victim))
    return Fault(victim, f"loss of the synchronous standby {victim}'s host: SIGKILL of all {len(pids)} of its "
                         f"processes (pids {pids})",
                 True, lambda v: victim not in v.sync_standbys and bool(v.sync_standbys))


SCENARIOS: dict[str, Callable[[Topology, ClusterView], Fault]] = {
    "primary-crash": _primary_crash,
    "host-loss": _primary_crash,  # the same fault under the name operations use
    "postgres-crash": _postgres_crash,
    "switchover": _switchover,
    "sync-standby-loss": _sync_standby_loss,
}


PREPARED: dict[str, Callable[[Topology, Say, float], Prepared]] = {"disk-full": disk_full.prepare}
NAMES = (*SCENARIOS, *PREPARED)


def run(topo: Topology, scenario: str, say: Say, rate: float = 200, writers: int = 2, warmup: float = 3.0,
        timeout: float = 120) -> Report:
    if scenario not in NAMES:
        raise DrillError(f"unknown scenario {scenario!r}; choose one of {', '.join(NAMES)}")
    sentences: list[str] = []

    def note(s: str) -> None:
        if not s.startswith("  waiting for"):  # progress lines are shown, not reported
            sentences.append(s)
        say(s)

    started = datetime.now(UTC).isoformat(timespec="seconds")
    members.wait_for(topo, healthy(topo), "a healthy cluster before the drill", timeout, say)
    announce.emit(topo, "drill.started", f"Övning {scenario} startad", "drill", drill=scenario)
    try:
        prepared = PREPARED[scenario](topo, note, timeout) if scenario in PREPARED else None
        try:
            report = _run(topo, scenario, prepared.inject if prepared else SCENARIOS[scenario], note, sentences,
                          started, rate, writers, warmup, timeout)
        finally:
            if prepared is not None:
                prepared.cleanup()
    except Exception as exc:
        announce.emit(topo, "drill.aborted", f"Övning {scenario} avbruten: {str(exc).splitlines()[0][:200]}",
                      "drill", drill=scenario)
        raise
    announce.emit(topo, "drill.finished", f"Övning {scenario} {'godkänd' if report.passed else 'UNDERKÄND'}: "
                  f"skrivningar åter efter {report.rto_s or 0:.1f} s, {report.writes_lost} kvitterade förlorade",
                  "drill", drill=scenario, passed=report.passed, rto_s=report.rto_s, detect_s=report.detect_s,
                  writes_lost=report.writes_lost, read_copy_availability=round(report.read_copy_availability, 4))
    return report


def _run(topo: Topology, scenario: str, inject: Callable[[Topology, ClusterView], Fault], note: Say,
         sentences: list[str], started: str, rate: float, writers: int, warmup: float, timeout: float) -> Report:
    snap = members.wait_for(topo, healthy(topo), "a healthy cluster before the fault", timeout, note)
    leader_before, tl_before = snap.leader or "", _timeline(snap)
    fixture = ensure_fixture(topo.write_url())
    member_urls = {m.pg_port: topo.member_url(m, timeout=1) for m in topo.members if m.can_be_primary}
    load = Load(topo.write_url(), topo.member_url(topo.read_copy, timeout=1), member_urls, fixture, rate, writers,
                read_url=topo.read_url(timeout=1))
    rc_log = topo.log_dir() / f"{topo.read_copy.name}-patroni.log"
    rc_log_at = rc_log.stat().st_size if rc_log.exists() else 0
    load.start()
    note(f"load started: {writers} writers at {rate:.0f} writes/s; primary {leader_before}, timeline {tl_before}")
    try:
        time.sleep(warmup)  # a steady load before the fault; not a measurement
        fault_at = time.time()
        fault = inject(topo, snap)
        note(f"fault injected: {fault.sentence}")
        announce.emit(topo, "drill.fault_injected", f"Övning {scenario}: fel infört ({fault.victim})", "drill",
                      drill=scenario, victim=fault.victim)

        def failed_write() -> bool:
            return fault.heal is not None and any(t > fault_at for t, _ in load.ledger.failures)

        detect_s = _wait(lambda: failed_write() or fault.detected(view(topo)), fault_at, timeout)
        note(f"fault detected after {detect_s:.2f} s: {view(topo).sentence()}" if detect_s is not None
             else f"fault NOT detected within {timeout:.0f} s")

        def resumed() -> bool:
            last_fail = max((t for t, _ in load.ledger.failures), default=fault_at)
            return sum(1 for t in load.ledger.ack_times() if t > max(fault_at, last_fail)) >= 5

        if fault.heal is not None:
            held = _wait(resumed, time.time(), fault.hold_s)
            note(f"writes came back by themselves after {held:.1f} s more" if held is not None
                 else f"writes still failing {fault.hold_s:.0f} s after detection")
            note(fault.heal())
        resumed_s = _wait(resumed, fault_at, timeout)
        note(f"writes flowing again {resumed_s:.2f} s after the fault" if resumed_s is not None
             else f"writes NOT resumed within {timeout:.0f} s")
        if resumed_s is not None:
            announce.emit(topo, "drill.recovered", f"Övning {scenario}: skrivningar åter efter {resumed_s:.1f} s",
                          "drill", drill=scenario, rto_s=round(resumed_s, 2))
        if fault.restart_victim:
            patroni.start(topo, topo.member(fault.victim))
            note(f"restarted {fault.victim}'s Patroni (the node comes back)")
        rejoin_s = _wait(lambda: healthy(topo)(view(topo)), fault_at, timeout)
        note(f"every member streaming with a sync standby {rejoin_s:.2f} s after the fault" if rejoin_s
             else f"cluster NOT fully healthy within {timeout:.0f} s: {view(topo).sentence()}")
        time.sleep(1.0)  # a little load after recovery, so post-recovery order numbers exist
    finally:
        load.stop()
    after = view(topo)
    note(f"load stopped; {after.sentence()}")
    rewinds = _read_copy_rewinds(rc_log, rc_log_at)
    if rewinds:
        note(f"the read copy had received WAL the new primary never got and was rewound (pg_rewind) "
             f"{rewinds} time(s): it answered no reads while it restarted")
    return _report(topo, scenario, started, fault, fault_at, load, leader_before, tl_before, after,
                   detect_s, rejoin_s, sentences, rewinds)


def _read_copy_rewinds(log: Path, offset: int) -> int:
    """How often Patroni ran pg_rewind on the read copy since ``offset`` of its log."""
    try:
        with open(log, "rb") as fh:
            fh.seek(offset)
            return sum(1 for line in fh if b"running pg_rewind from" in line and b"in progress" not in line
                       and b"dbname=" not in line)
    except OSError:
        return 0


def _report(topo: Topology, scenario: str, started: str, fault: Fault, fault_at: float, load: Load,
            leader_before: str, tl_before: int | None, after: ClusterView, detect_s: float | None,
            rejoin_s: float | None, sentences: list[str], read_copy_rewinds: int = 0) -> Report:
    acks = load.ledger.snapshot()
    gap = write_gap(sorted(a.acked for a in acks), fault_at)
    rto_s = None if gap is None else max(0.0, gap[1] - fault_at)
    with psycopg.connect(topo.write_url(), autocommit=True) as conn:
        present = {r[0] for r in conn.execute("SELECT entry_id::text FROM referral WHERE entry_id = ANY(%s::uuid[])",
                                              ([a.entry_id for a in acks],))}
        db_dupes = one(conn.execute("""SELECT count(*) FROM (SELECT order_number FROM referral WHERE version = 1
                                       GROUP BY order_number HAVING count(*) > 1) d""").fetchone())[0]
    lost = [a for a in acks if a.entry_id not in present]
    numbers = [a.order_number for a in acks]
    before = {a.order_number for a in acks if a.sent < fault_at}
    repeated = sum(1 for a in acks if a.sent >= fault_at and a.order_number in before)
    runs = writer_runs(acks)
    seen = [ports for _, ports in load.probes.primaries_seen if ports]
    changes = sum(1 for a, b in zip(seen, seen[1:], strict=False) if a != b)
    evidence = [f"{time.strftime('%H:%M:%S', time.localtime(t))}: ports {ports} both out of recovery"
                for t, ports in load.probes.two_primaries[:5]]
    if len(runs) - 1 > max(1, changes):
        evidence.append(f"acknowledged writes switched member {len(runs) - 1} times: "
                        + ", ".join(str(r[0]) for r in runs[:10]))
    lat = [x * 1000 for x in load.ledger.latencies]
    return Report(
        scenario=scenario, started_at=started, fault=fault.sentence, victim=fault.victim,
        leader_before=leader_before, leader_after=after.leader or "none", timeline_before=tl_before,
        timeline_after=_timeline(after), detect_s=detect_s, rto_s=rto_s, rejoin_s=rejoin_s,
        writes_acked=len(acks), writes_lost=len(lost), writes_unknown=load.ledger.unknown,
        write_errors=len(load.ledger.failures),
        read_probes=load.probes.reads_ok + load.probes.reads_failed, read_probes_answered=load.probes.reads_ok,
        read_url_probes=load.probes.service_reads_ok + load.probes.service_reads_failed,
        read_url_probes_answered=load.probes.service_reads_ok, read_copy_rewinds=read_copy_rewinds,
        read_copy_lag_p50_s=percentile(load.probes.lag_samples, 50),
        read_copy_lag_p99_s=percentile(load.probes.lag_samples, 99),
        write_latency_p50_ms=percentile(lat, 50), write_latency_p99_ms=percentile(lat, 99),
        two_writers=bool(evidence), two_writers_evidence=evidence,
        order_numbers_unique=len(numbers) == len(set(numbers)) and db_dupes == 0,
        order_numbers_repeated_after_fault=repeated, sentences=sentences, fault_at=fault_at)


def _timeline(v: ClusterView) -> int | None:
    s = v.state_of(v.leader) if v.leader else None
    return s.timeline if s else None


def _wait(condition: Callable[[], bool], since: float, timeout: float) -> float | None:
    """Seconds from ``since`` until ``condition`` holds (polled every 0.2 s), or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.time() - since
        time.sleep(0.2)
    return None
