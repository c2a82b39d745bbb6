"""Bringing the whole cluster up and down, in an order that never leaves two writers."""

from __future__ import annotations

import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from obruten.backup import wal_receiver
from obruten.cluster import announce, patroni
from obruten.cluster.members import (
    ClusterError,
    ClusterView,
    all_streaming,
    ensure_sync_config,
    view,
    wait_for,
)
from obruten.cluster.topology import Topology
from obruten.platform.pgserver import DATABASE
from obruten.platform.progress import Say
from obruten.platform.rows import one
from obruten.record.schema import migrate


def up(topo: Topology, say: Say, timeout: float = 240) -> str:
    """Start every member, create and migrate the journal database; return a sentence."""
    topo.save()
    patroni.prepare(topo)
    started = []
    # the two sites first (they form a Raft majority with each other); site-a normally wins the
    # race to bootstrap, site-b clones it
    for m in topo.members:
        if patroni.patroni_pid(topo, m) is None and patroni.postmaster_pid(topo, m) is None:
            busy = [p for p in (m.pg_port, m.rest_port, m.raft_port) if _port_taken(p)]
            if busy:
                raise ClusterError(f"port(s) {busy} for {m.name} are taken by another program; choose other "
                                   "ports with `obruten cluster up --base-port N` (on a new --cluster-root)")
    for m in topo.sites:
        if patroni.patroni_pid(topo, m) is None:
            say(f"Starting {m.name}: PostgreSQL on 127.0.0.1:{m.pg_port}, Patroni API on :{m.rest_port}")
            patroni.start(topo, m)
            started.append(m.name)
            time.sleep(1.0)  # let site-a take the initialize key first; not a correctness condition
    snap = wait_for_leader(topo, timeout, say)
    if (changed := ensure_sync_config(topo, snap.leader or "", patroni.sync_settings(topo))) is not None:
        say(changed)
    say(f"Leader: {snap.leader}. Creating database {DATABASE!r} and applying migrations …")
    _ensure_database(topo, snap.leader or "")
    applied = migrate(topo.write_url())
    if applied:
        say(f"Applied migrations: {', '.join(applied)}")
    for m in (*topo.read_copies, topo.lagged_copy):
        if patroni.patroni_pid(topo, m) is None:
            say(f"Starting {m.name}: PostgreSQL on 127.0.0.1:{m.pg_port}, Patroni API on :{m.rest_port}")
            patroni.start(topo, m)
            started.append(m.name)
    names = [m.name for m in topo.members]
    wait_for(topo, all_streaming(names, (topo.lagged_copy.name,)), "every member streaming", timeout, say)
    snap = wait_for(topo, lambda v: bool(v.sync_standbys), "a synchronous standby", 60, say)
    if wal_receiver.pid(topo) is None:  # ADR 0045: the backup store in the commit quorum
        say(f"Starting the backup store's WAL receiver into {wal_receiver.stream_dir(topo.backup_root)}")
        wal_receiver.start(topo)
    wal_receiver.wait_counted(topo.member_url(topo.member(snap.leader or ""), "postgres"), 60)
    if started:
        announce.emit(topo, "cluster.started", f"Klustret startat ({', '.join(started)}); primär {snap.leader}",
                      "cluster", started=started, primary=snap.leader)
    return (f"cluster up ({'started ' + ', '.join(started) if started else 'already running'}): "
            f"{snap.sentence()}")


QUORUM_GRACE_S = 20  # from the first Raft voter answering: how long without a majority before advice
SILENT_GRACE_S = 60  # no Raft voter answering at all for this long: advice too


def quorum_advice(topo: Topology, snap: ClusterView) -> str:
    """What to do when the Raft DCS has no majority (docs/operations.md, "Both sites lost")."""
    voters = [m for m in topo.members if m.voter]
    lost = [m.name for m in voters if m.name in snap.gone or patroni.patroni_pid(topo, m) is None]
    lost = lost or [m.name for m in voters if (s := snap.state_of(m.name)) is None or s.state == "unreachable"]
    return (f"{len(lost)} of {len(voters)} voting members are gone ({', '.join(lost) or 'none answers'}): the Raft "
            f"DCS has no majority ({len(voters) // 2 + 1} of {len(voters)} needed), so no member can become "
            "primary and waiting does not help. Bring back a site (its host, then `obruten cluster up`), or, if "
            "both sites and their disks are lost, rebuild from the backup store: docs/operations.md, section "
            "\"Both sites lost\" (`obruten backup rebuild`).")


def wait_for_leader(topo: Topology, timeout: float, say: Say) -> ClusterView:
    """``wait_for`` a leader, but say what to do, instead of waiting, when the Raft voters have no
    majority (a leader cannot come then): ``QUORUM_GRACE_S`` after the first voter answers (voters
    starting up need a few seconds to find each other), or ``SILENT_GRACE_S`` when none answers."""
    started = time.monotonic()
    first_voter_at: list[float] = []
    voters = {m.name for m in topo.members if m.voter}

    def ready(v: ClusterView) -> bool:
        if v.leader is not None:
            return True
        now = time.monotonic()
        if not first_voter_at and set(v.gone) != voters:
            first_voter_at.append(now)
        if v.quorum is False:
            if (first_voter_at and now - first_voter_at[0] > QUORUM_GRACE_S) or now - started > SILENT_GRACE_S:
                raise ClusterError(quorum_advice(topo, v))
        elif first_voter_at:
            first_voter_at[0] = now  # a majority exists: the clock starts again if it is lost
        return False

    snap = wait_for(topo, ready, "a leader", timeout, say)
    say(f"  a leader after {time.monotonic() - started:.1f} s")
    return snap


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no conflict
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _ensure_database(topo: Topology, leader: str) -> None:
    url = topo.member_url(topo.member(leader), dbname="postgres")
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                if one(conn.execute("SELECT pg_is_in_recovery()").fetchone())[0]:
                    raise psycopg.OperationalError("leader still in recovery")
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise ClusterError(f"could not create the database on {leader}: {exc}; read "
                                   f"{topo.log_dir()}/{leader}-patroni.log") from exc
            time.sleep(0.5)


def down(topo: Topology, say: Say) -> str:
    """Stop every member: standbys together first, the leader last (so no standby promotes itself)."""
    snap = view(topo)
    say(wal_receiver.stop(topo))
    standbys = [m for m in topo.members if m.name != snap.leader]
    with ThreadPoolExecutor(max_workers=len(standbys) or 1) as pool:
        results = list(pool.map(lambda m: patroni.stop(topo, m), standbys))
    if snap.leader:
        results.append(patroni.stop(topo, topo.member(snap.leader)))
    for line in results:
        say(line)
    announce.emit(topo, "cluster.stopped", "Klustret stoppat (cluster down)", "cluster", results=results)
    return "cluster down: " + "; ".join(results)


def kill_everything(topo: Topology) -> list[int]:
    """Last resort (tests, a wedged cluster): SIGKILL every Patroni and postmaster of this cluster."""
    killed = [p] if (p := wal_receiver.pid(topo)) is not None else []
    wal_receiver.stop(topo, signal.SIGKILL, timeout=5)
    for m in topo.members:
        killed += patroni.kill(topo, m)
    return killed
