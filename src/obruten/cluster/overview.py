"""`obruten cluster status`: one row per member, plus the age of the last backup and verification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from obruten.backup import catalog
from obruten.backup.wal_receiver import APP_NAME as BACKUP_STREAM
from obruten.cluster.lifecycle import quorum_advice
from obruten.cluster.members import NO_MAJORITY, view
from obruten.cluster.topology import Topology


@dataclass(frozen=True)
class Row:
    name: str
    role: str
    state: str
    timeline: int | None
    sync_state: str
    lag_bytes: int | None
    lag_seconds: float | None


@dataclass(frozen=True)
class Status:
    rows: tuple[Row, ...]
    leader: str | None
    last_backup: str
    last_verified: str
    alarms: tuple[str, ...]
    dcs: str = ""  # whose view this is: "site-b (Raft majority)", or that there is no majority


def replication(topo: Topology, leader: str) -> dict[str, tuple[str, int | None, float | None]]:
    """From the primary: per standby, its sync state, replay lag in bytes and seconds."""
    try:
        with psycopg.connect(topo.member_url(topo.member(leader), "postgres", timeout=2), autocommit=True) as c:
            rows = c.execute("""SELECT application_name, sync_state,
                                       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
                                       extract(epoch FROM coalesce(replay_lag, '0'))::float8
                                FROM pg_stat_replication""").fetchall()
    except psycopg.Error:
        return {}
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def collect(topo: Topology, now: datetime | None = None) -> Status:
    now = now or datetime.now(UTC)
    snap = view(topo)
    repl = replication(topo, snap.leader) if snap.leader else {}
    rows = []
    recovered = recovered_lagged(topo)
    for s in snap.members:
        if s.name == topo.lagged_copy.name and recovered is not None:
            rows.append(recovered)
            continue
        sync, lag_b, lag_s = repl.get(s.name, ("primary" if s.name == snap.leader else "-", s.lag_bytes, None))
        if s.name == snap.leader:
            lag_b, lag_s = 0, 0.0
        if s.state in (NO_MAJORITY, "unreachable"):  # nothing it says about replication can be trusted
            sync, lag_b, lag_s = "-", None, None
        rows.append(Row(s.name, s.role, s.state, s.timeline, sync, lag_b, lag_s))
    if snap.leader:
        stream = repl.get(BACKUP_STREAM)
        rows.append(Row("backup-store", "WAL receiver", "streaming" if stream else "not connected", None,
                        stream[0] if stream else "-", stream[1] if stream else None, stream[2] if stream else None))
    backups = catalog.backups(topo.backup_root)
    last_backup = (f"{backups[-1].label} ({backups[-1].kind}, {catalog.age(backups[-1].finished, now)})"
                   if backups else "none")
    good = catalog.last_good_verification(topo.backup_root)
    last_verified = f"{good.backup} to {good.target_time} ({catalog.age(good.when, now)})" if good else "never"
    found = alarms(topo, rows, snap.leader, now)
    if snap.quorum is False:
        found.insert(0, "NO-DCS-MAJORITY: " + quorum_advice(topo, snap))
    dcs = (f"{snap.source} (Raft majority)" if snap.quorum and snap.source else
           "NO Raft majority: every member shown as it sees itself")
    return Status(tuple(rows), snap.leader, last_backup, last_verified, tuple(found), dcs)


def recovered_lagged(topo: Topology) -> Row | None:
    """The lagged copy recovered by `cluster recover-from-lagged`: a primary of its own on the lagged
    copy's port, outside the cluster (None when it was not recovered, or is not running)."""
    marker = topo.root / "state" / "lagged-detached"
    if not marker.exists():
        return None
    m = topo.lagged_copy
    try:
        with psycopg.connect(topo.member_url(m, "postgres", timeout=2), autocommit=True) as c:
            row = c.execute("SELECT pg_is_in_recovery(), timeline_id FROM pg_control_checkpoint()").fetchone()
    except psycopg.Error:
        return Row(m.name, "recovered", "stopped", None, "-", None, None)
    if row is None or row[0]:
        return None  # still (again) a standby
    return Row(m.name, "recovered", "running outside the cluster", row[1], "-", None, None)


def alarms(topo: Topology, rows: list[Row], leader: str | None, now: datetime) -> list[str]:
    """What an operator must act on (docs/operations.md explains each one)."""
    out = []
    if leader is None:
        out.append("NO-PRIMARY: no member accepts writes")
    if leader and not any(r.sync_state in ("sync", "quorum") for r in rows):
        out.append("NO-SYNC-STANDBY: commits are durable at one site only (RPO > 0 until a standby returns)")
    for r in rows:
        if r.state in ("unreachable", "stopped", "start failed", "crashed"):
            out.append(f"MEMBER-DOWN: {r.name} is {r.state}")
        elif r.state == NO_MAJORITY:
            out.append(f"MEMBER-CUT-OFF: {r.name} answers but reaches no DCS majority (what it says may be stale)")
    stream = next((r for r in rows if r.name == "backup-store"), None)
    if stream is not None and stream.sync_state not in ("sync", "quorum"):
        out.append("BACKUP-STREAM: the backup store's WAL receiver is not counted in the commit quorum; losing both "
                   "sites now loses the writes since the last archived segment. Read <cluster root>/log/"
                   "wal-receiver.log; docs/operations.md, 'Both sites lost'")
    rc = next((r for r in rows if r.name == topo.read_copy.name), None)
    if rc and rc.lag_seconds is not None and rc.lag_seconds > 5:
        out.append(f"READ-COPY-LAG: read copy {rc.lag_seconds:.1f} s behind")
    backups = catalog.backups(topo.backup_root)
    if not backups or (now - backups[-1].finished).total_seconds() > 26 * 3600:
        out.append("BACKUP-OLD: no base backup in the last 26 h")
    good = catalog.last_good_verification(topo.backup_root)
    if good is None or (now - good.when).total_seconds() > 26 * 3600:
        out.append("VERIFY-OLD: no successful restore verification in the last 26 h")
    return out


def render(status: Status) -> str:
    head = f"{'member':<12} {'role':<13} {'state':<12} {'TL':>3} {'sync':<8} {'lag bytes':>10} {'lag s':>8}"
    lines = [head, "-" * len(head)]
    for r in status.rows:
        lag_b = "-" if r.lag_bytes is None else str(r.lag_bytes)
        lag_s = "-" if r.lag_seconds is None else f"{r.lag_seconds:.2f}"
        lines.append(f"{r.name:<12} {r.role:<13} {r.state:<12} {r.timeline or '-':>3} {r.sync_state:<8} "
                     f"{lag_b:>10} {lag_s:>8}")
    if status.dcs:
        lines.append(f"view of:              {status.dcs}")
    lines.append(f"last backup:          {status.last_backup}")
    lines.append(f"last verified restore: {status.last_verified}")
    lines.extend(f"ALARM {a}" for a in status.alarms)
    return "\n".join(lines)
