"""Fencing drills: the primary cut off (``partition``) or its Patroni frozen (``leader-freeze``).

Both ask the split-brain question with counts, not with a belief:

* how long the old primary kept *acknowledging* writes after the fault (a writer at its own site
  keeps writing to it) and how long it stayed read-write;
* how many writes it acknowledged after the new leader was promoted, and how many of those exist
  anywhere in the merged history afterwards (both must be 0: with synchronous replication the old
  primary cannot acknowledge a commit no standby confirmed);
* how many acknowledged writes (from both sides) are missing from the merged history (must be 0).

``partition`` runs on a cluster of its own whose members each live in a network namespace
(``obruten.drill.netns``); the cut is the primary's bridge port going down, so it loses the Raft
majority, its standbys and every client outside its namespace at once. Its same-site writer runs
inside its namespace (``obruten.drill.partition_side``). ``leader-freeze`` runs on the cluster from
``cluster up``: SIGSTOP of the leader's Patroni (its PostgreSQL keeps running), the case a watchdog
exists for; the same-site writer writes to the old primary's own address.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from obruten.cluster import lifecycle, members, patroni
from obruten.cluster.members import view
from obruten.cluster.topology import Member, Topology
from obruten.drill.faults import DrillError, healthy
from obruten.drill.ledger import Ack, write_gap
from obruten.drill.load import Fixture, Load, ensure_fixture
from obruten.drill.netns import Net, free_port_block, unavailable
from obruten.drill.report import write_pair
from obruten.platform.progress import Say


@dataclass
class FencingReport:
    scenario: str
    started_at: str
    layout: str  # how the fault was made, in one sentence
    victim: str
    leader_after: str
    fault_at: float
    promoted_s: float | None  # fault → another member answers read-write
    db_rto_s: float | None  # fault → the majority side acknowledges writes again
    old_acked_s: float | None  # fault → the old primary's last acknowledgement (None: none after the fault)
    old_writable_s: float | None  # fault → the old primary last seen read-write
    acked_after_fault_by_old: int
    acked_after_promotion_by_old: int  # must be 0
    acked_after_promotion_present: int  # of those, in the merged history: must be 0
    writes_acked: int
    writes_lost: int  # must be 0
    writes_unknown: int
    rejoin_s: float | None
    sentences: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (self.promoted_s is not None and self.acked_after_promotion_by_old == 0
                and self.acked_after_promotion_present == 0 and self.writes_lost == 0)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "passed": self.passed}, indent=2)

    def to_markdown(self) -> str:
        def s(v: float | None) -> str:
            return "–" if v is None else f"{v:.2f} s"

        rows = [("Fault", self.layout),
                ("Primary before → after", f"{self.victim} → {self.leader_after}"),
                ("New primary read-write after", s(self.promoted_s)),
                ("Writes acknowledged again (majority side) after", s(self.db_rto_s)),
                ("Old primary last acknowledged a write after the fault", s(self.old_acked_s)),
                ("Old primary last seen read-write after the fault", s(self.old_writable_s)),
                ("Writes the old primary acknowledged after the fault", str(self.acked_after_fault_by_old)),
                ("… after the promotion (must be 0)", str(self.acked_after_promotion_by_old)),
                ("… of those in the merged history (must be 0)", str(self.acked_after_promotion_present)),
                ("Acknowledged writes (both sides)", str(self.writes_acked)),
                ("Acknowledged writes lost (must be 0)", str(self.writes_lost)),
                ("Writes with unknown outcome (not acknowledged)", str(self.writes_unknown)),
                ("Every member streaming again after", s(self.rejoin_s))]
        lines = [f"# Drill `{self.scenario}` — {'PASSED' if self.passed else 'FAILED'}", "",
                 f"Started {self.started_at}.", "", "| measure | value |", "|---|---|",
                 *[f"| {k} | {v} |" for k, v in rows], "", "## Steps", "", *[f"1. {x}" for x in self.sentences], ""]
        return "\n".join(lines)

    def write(self, directory: Path) -> tuple[Path, Path]:
        return write_pair(directory, self.started_at, self.scenario, self.to_json(), self.to_markdown())


@dataclass
class SideLedger:
    """What the old primary's own site saw: its acknowledgements and when it was read-write."""
    acks: list[Ack]
    unknown: int
    primaries_seen: list[tuple[float, tuple[int, ...]]]


class _Side:
    """The same-site writer: a subprocess inside the victim's namespace, or a Load in this process."""

    def __init__(self, topo: Topology, m: Member, fixture: Fixture, rate: float, net: Net | None,
                 work: Path) -> None:
        self.m, self.net, self.work = m, net, work
        url = topo.member_url(m, timeout=1)
        self.proc: subprocess.Popen[bytes] | None = None
        self.load: Load | None = None
        if net is None:
            self.load = Load(url, url, {m.pg_port: url}, fixture, rate=rate, writers=1)
            return
        local = url.replace(f"@{m.host}:", "@127.0.0.1:")
        self.argv = net.exec_argv(m, [sys.executable, "-m", "obruten.drill.partition_side", "--port", str(m.pg_port),
                                      "--fixture", json.dumps(asdict(fixture)), "--rate", str(rate),
                                      "--stop-file", str(work / "stop"), "--state", str(work / "state.json"),
                                      "--out", str(work / "side.json")])
        self.env = {**os.environ, "OBRUTEN_PARTITION_URL": local}

    def start(self) -> None:
        if self.load is not None:
            self.load.start()
            return
        with (self.work / "side.log").open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=log)

    def primary_now(self) -> bool | None:
        """Whether the old primary answers read-write to its own site now (None: not known yet)."""
        return self.role()[0]

    def role(self) -> tuple[bool | None, float | None]:
        """(read-write now, since when) as the same-site probe sees it; (None, None) while unknown."""
        if self.load is not None:
            seen = self.load.probes.primaries_seen
            return (self.m.pg_port in seen[-1][1], seen[-1][0]) if seen else (None, None)
        try:
            state = json.loads((self.work / "state.json").read_text())
        except (OSError, ValueError):
            return None, None
        if time.time() - float(state["at"]) >= 2:
            return None, None
        return bool(state["primary"]), state.get("since")

    def stop(self) -> SideLedger:
        if self.load is not None:
            self.load.stop()
            return SideLedger(self.load.ledger.snapshot(), self.load.ledger.unknown, self.load.probes.primaries_seen)
        (self.work / "stop").touch()
        assert self.proc is not None
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise DrillError(f"the same-site writer did not stop; read {self.work / 'side.log'}") from None
        data = json.loads((self.work / "side.json").read_text())
        return SideLedger([Ack(**a) for a in data["acks"]], int(data["unknown"]),
                          [(float(t), tuple(p)) for t, p in data["primaries_seen"]])


def _wait(condition: Callable[[], bool], since: float, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.time() - since
        time.sleep(0.2)
    return None


def run_on(topo: Topology, say: Say, *, net: Net | None, rate: float = 100, writers: int = 2,
           warmup: float = 3.0, timeout: float = 120, work: Path | None = None) -> FencingReport:
    """One fencing drill on ``topo``: a partition when ``net`` is given (the cluster must run in
    its namespaces), else a SIGSTOP of the leader's Patroni."""
    scenario = "partition" if net is not None else "leader-freeze"
    sentences: list[str] = []

    def note(s: str) -> None:
        sentences.append(s)
        say(s)

    started = datetime.now(UTC).isoformat(timespec="seconds")
    snap = members.wait_for(topo, healthy(topo), "a healthy cluster before the fault", timeout, say)
    victim = topo.member(snap.leader or "")
    fixture = ensure_fixture(topo.write_url())
    member_urls = {m.pg_port: topo.member_url(m, timeout=1) for m in topo.members if m.can_be_primary}
    load = Load(topo.write_url(), topo.member_url(topo.read_copy, timeout=1), member_urls, fixture, rate, writers)
    own_work = work is None
    work = work or Path(tempfile.mkdtemp(prefix="obruten-fencing-"))
    side = _Side(topo, victim, fixture, rate / 2, net, work)
    frozen: int | None = None
    load.start()
    side.start()
    note(f"load started: {writers} writers at {rate:.0f} writes/s through the write URL, and a same-site writer "
         f"at {rate / 2:.0f} writes/s straight to the primary {victim.name}")
    try:
        if _wait(lambda: side.primary_now() is True, time.time(), 30) is None:
            raise DrillError(f"the same-site writer never saw {victim.name} read-write; read {work / 'side.log'}")
        time.sleep(warmup)  # a steady load before the fault; not a measurement
        fault_at = time.time()
        if net is not None:
            net.cut(victim)
            layout = (f"network partition: {victim.name}'s link to the bridge ({net.host_end(victim)}) set down; it "
                      f"runs in namespace {net.namespace(victim)} and now reaches no other member and no client "
                      "outside its namespace")
        else:
            frozen = patroni.patroni_pid(topo, victim)
            if frozen is None:
                raise DrillError(f"{victim.name}'s Patroni is not running")
            os.kill(frozen, signal.SIGSTOP)
            layout = (f"SIGSTOP of {victim.name}'s Patroni (pid {frozen}); its PostgreSQL keeps running "
                      "(no watchdog on this machine to reset the host)")
        note(f"fault: {layout}")

        def promoted() -> bool:
            seen = load.probes.primaries_seen
            return any(t > fault_at and any(p != victim.pg_port for p in ports) for t, ports in seen)

        promoted_s = _wait(promoted, fault_at, timeout)
        note(f"another member answered read-write {promoted_s:.2f} s after the fault" if promoted_s is not None
             else f"NO other member became read-write within {timeout:.0f} s")
        promoted_at = fault_at + (promoted_s if promoted_s is not None else timeout)
        if net is not None:
            demoted = _wait(lambda: side.primary_now() is False, fault_at, timeout)
            since = side.role()[1]
            note(f"{victim.name} stopped answering read-write to its own site {float(since) - fault_at:.2f} s after "
                 "the cut (its Patroni lost the DCS majority and demoted it)" if demoted is not None and since
                 else f"{victim.name} still read-write to its own site {timeout:.0f} s after the cut")
            net.heal(victim)
            note(f"partition healed: {net.host_end(victim)} up")
        else:
            # what a watchdog would cut short: hold the freeze one ttl past the promotion, then thaw
            time.sleep(max(0.0, promoted_at + patroni.TTL - time.time()))
            assert frozen is not None
            os.kill(frozen, signal.SIGCONT)
            note(f"{victim.name}'s Patroni thawed (SIGCONT) {time.time() - fault_at:.1f} s after the fault")
        # asked of the majority side first: the old primary's Patroni still answers from its stale copy
        # of the DCS (itself as leader) until it has rejoined
        majority = replace(topo, members=tuple(sorted(topo.members, key=lambda m: m.name == victim.name)))
        rejoin_s = _wait(lambda: (v := view(majority)).leader not in (None, victim.name) and healthy(topo)(v),
                         fault_at, timeout)
        note(f"every member streaming with a sync standby {rejoin_s:.2f} s after the fault" if rejoin_s
             else f"cluster NOT fully healthy within {timeout:.0f} s: {view(majority).sentence()}")
        time.sleep(1.0)  # a little load after recovery
    finally:
        if frozen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(frozen, signal.SIGCONT)
        load.stop()
        side_ledger = side.stop()
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    after = view(majority)
    note(f"load stopped; {after.sentence()}")
    host_acks = load.ledger.snapshot()
    old_acks = [a for a in side_ledger.acks + host_acks if a.port == victim.pg_port and a.acked > fault_at]
    after_promotion = [a for a in old_acks if a.acked > promoted_at]
    every = side_ledger.acks + host_acks
    with psycopg.connect(topo.write_url(), autocommit=True) as conn:
        present = {r[0] for r in conn.execute("SELECT entry_id::text FROM referral WHERE entry_id = ANY(%s::uuid[])",
                                              ([a.entry_id for a in every],))}
    # the role probe records changes only: the old primary stayed read-write until the first record
    # after the fault without it (None: it was still read-write when the drill ended)
    ended = [t for t, ports in side_ledger.primaries_seen if t > fault_at and victim.pg_port not in ports]
    old_writable_s = (ended[0] - fault_at) if ended else None
    gap = write_gap(sorted(a.acked for a in host_acks), fault_at)
    report = FencingReport(
        scenario=scenario, started_at=started, layout=layout, victim=victim.name, leader_after=after.leader or "none",
        fault_at=fault_at, promoted_s=promoted_s, db_rto_s=None if gap is None else max(0.0, gap[1] - fault_at),
        old_acked_s=max((a.acked for a in old_acks), default=fault_at) - fault_at if old_acks else None,
        old_writable_s=old_writable_s, acked_after_fault_by_old=len(old_acks),
        acked_after_promotion_by_old=len(after_promotion),
        acked_after_promotion_present=sum(1 for a in after_promotion if a.entry_id in present),
        writes_acked=len(every), writes_lost=sum(1 for a in every if a.entry_id not in present),
        writes_unknown=load.ledger.unknown + side_ledger.unknown, rejoin_s=rejoin_s, sentences=sentences)
    note(f"merged history: {report.writes_acked - report.writes_lost} of {report.writes_acked} acknowledged writes "
         f"present; the old primary acknowledged {report.acked_after_fault_by_old} after the fault, "
         f"{report.acked_after_promotion_by_old} after the promotion ({report.acked_after_promotion_present} of "
         "those present)")
    return report


# ---- the partition drill's own cluster -------------------------------------------------------
@dataclass
class NetnsCluster:
    topo: Topology
    net: Net
    base: Path

    def stop(self, say: Say) -> None:
        try:
            lifecycle.down(self.topo, say)
        finally:
            lifecycle.kill_everything(self.topo)
            self.net.destroy(self.topo.members)
            shutil.rmtree(self.base, ignore_errors=True)


def start_cluster(say: Say, lag_delay: str = "10s", timeout: float = 240) -> NetnsCluster:
    """A four-member cluster, each member in its own namespace, in a new temporary directory."""
    if (why := unavailable()) is not None:
        raise DrillError(why)
    base = Path(tempfile.mkdtemp(prefix="obruten-partition-", dir="/tmp"))
    base.chmod(0o755)  # the service user must reach the cluster root
    net = Net.new()
    topo = net.place(Topology.create(base / "cluster", base / "backup", free_port_block(), lag_delay=lag_delay))
    net.create(topo.members)
    cluster = NetnsCluster(topo, net, base)
    say(f"partition drill cluster: bridge {net.bridge} {net.gateway}/24, members "
        + ", ".join(f"{m.name} {m.host} (netns {m.netns})" for m in topo.members))
    try:
        say(lifecycle.up(topo, say, timeout=timeout))
    except BaseException:
        cluster.stop(say)
        raise
    return cluster


def run_partition(say: Say, rate: float = 100, writers: int = 2, timeout: float = 120,
                  report_dir: Path | None = None) -> FencingReport:
    """``obruten drill run partition``: its own namespaced cluster, the drill, and everything removed."""
    cluster = start_cluster(say)
    try:
        return run_on(cluster.topo, say, net=cluster.net, rate=rate, writers=writers, timeout=timeout,
                      work=cluster.base)
    finally:
        if report_dir is not None:  # the member logs outlive the cluster, next to the report
            with contextlib.suppress(OSError):
                shutil.copytree(cluster.topo.log_dir(), report_dir / f"partition-logs-{cluster.net.token}",
                                dirs_exist_ok=True)
        cluster.stop(say)
