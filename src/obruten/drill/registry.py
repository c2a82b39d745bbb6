"""Every drill Obruten knows, by name: what it does, how to run it, what to do when it fails.

``obruten drill list`` prints this registry and ``obruten drill run NAME`` runs from it: the
cluster scenarios (``scenarios``) against the Patroni cluster, and ``slow-storage``
(``slow_storage_judge``) against the embedded primary on this machine. A new drill is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from obruten.cluster.topology import Topology
from obruten.drill import bad_upgrade, partition, scenarios, slow_storage_judge
from obruten.drill.faults import DrillError
from obruten.drill.slow_storage import NAME as SLOW_STORAGE
from obruten.platform.config import Config
from obruten.platform.progress import Say


class DrillReport(Protocol):
    """What every drill returns: a verdict, Markdown for people, and files for the record."""

    @property
    def passed(self) -> bool: ...

    def to_markdown(self) -> str: ...

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write the JSON and Markdown reports into ``directory``; return (json, markdown)."""
        ...


@dataclass(frozen=True)
class DrillRequest:
    """What ``obruten drill run`` was given; each drill takes what it needs."""

    config: Config
    topology: Callable[[], Topology]  # loaded only by the drills that run against the cluster
    report_dir: Path
    say: Say
    rate: float = 200
    writers: int = 2
    timeout: float = 120
    mode: str = "freeze"
    watch_ops_service: bool = False


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    run: Callable[[DrillRequest], DrillReport]
    when_failed: str  # what to do when the drill fails its goals


_CLUSTER_FAILED = ("the drill FAILED its goals (see the report); keep the cluster as it is and read the member "
                   "logs before changing anything")


def _cluster(name: str, description: str) -> Scenario:
    def run(req: DrillRequest) -> DrillReport:
        return scenarios.run(req.topology(), name, req.say, req.rate, req.writers, timeout=req.timeout)

    return Scenario(name, description, run, _CLUSTER_FAILED)


def _slow_storage(req: DrillRequest) -> DrillReport:
    return slow_storage_judge.run(req.config, req.mode, req.report_dir, req.timeout, req.watch_ops_service, req.say)


def _bad_upgrade(req: DrillRequest) -> DrillReport:
    return bad_upgrade.run(req.report_dir, req.say, req.timeout)


def _partition(req: DrillRequest) -> DrillReport:
    return partition.run_partition(req.say, req.rate, req.writers, req.timeout, req.report_dir)


def _leader_freeze(req: DrillRequest) -> DrillReport:
    return partition.run_on(req.topology(), req.say, net=None, rate=req.rate, writers=req.writers,
                            timeout=req.timeout)


_FENCING_FAILED = ("the drill FAILED: the old primary acknowledged a write after the promotion, or an acknowledged "
                   "write is missing (split brain or loss); keep every member's data directory and logs, and read "
                   "docs/operations.md 'Fencing' before the cluster takes writes again")

DRILLS: dict[str, Scenario] = {s.name: s for s in (
    _cluster("primary-crash", "lose the primary's host (SIGKILL of every process of it); a sync standby takes over"),
    _cluster("host-loss", "the same as primary-crash: every process of the primary's host SIGKILLed at once"),
    _cluster("postgres-crash", "SIGKILL the primary's postmaster only; Patroni restarts or fails over"),
    _cluster("switchover", "a planned switchover to the synchronous standby"),
    _cluster("sync-standby-loss", "lose the synchronous standby's host (every process); another member becomes sync"),
    _cluster("disk-full", "fill the primary's WAL filesystem (needs root: mounts a small filesystem)"),
    Scenario("partition", "its own cluster, one network namespace per member: cut the primary off from the DCS "
             "majority, its standbys and remote clients (needs root)", _partition, _FENCING_FAILED),
    Scenario("leader-freeze", "SIGSTOP the leader's Patroni (PostgreSQL keeps running): what a watchdog is for",
             _leader_freeze, _FENCING_FAILED),
    Scenario(bad_upgrade.NAME, "a throw-away region upgraded to a release whose new flag hangs the database on "
             "every patient read: detect, tell staff, flag off, roll back; no acknowledged write lost",
             _bad_upgrade, "the drill FAILED its goals (see the report): read docs/operations.md 'Upgrades' and "
                           "'Feature flags' (flag off, cancel, rollback) before the next release"),
    Scenario(SLOW_STORAGE, "freeze or throttle the embedded primary; the ops rules must raise the alarm",
             _slow_storage, "the drill FAILED its goal (see the report): read the ops rules' durations and the "
                            "write-path probe's timeout before the next drill"),
)}


def get(name: str) -> Scenario:
    """The drill called ``name``, or a DrillError naming the ones there are."""
    try:
        return DRILLS[name]
    except KeyError:
        raise DrillError(f"unknown scenario {name!r}; choose one of {', '.join(DRILLS)}") from None
