"""Recover from an error that was replicated: take the lagged copy out and replay it to a time
before the error.

Steps (each a sentence in the output): pause replay at once, so the error is not applied while we
work; check the copy has not already passed the target; stop its Patroni (it must never rejoin the
cluster by itself after this); restart its PostgreSQL standalone with ``recovery_target_time`` and
no apply delay, reading the WAL it already received and the archive; wait until it is promoted.
The result is a separate primary on the lagged copy's port, outside the cluster, from which the
lost data can be read or exported. ``cluster down`` stops it; ``cluster up`` does not take it back
(re-create the lagged copy by moving its data directory away and running ``cluster up``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from obruten.backup.restore import instance, parse_time
from obruten.cluster import announce, patroni
from obruten.cluster.members import ClusterError
from obruten.cluster.topology import Topology
from obruten.platform.pgserver import PostgresError
from obruten.platform.progress import Say
from obruten.platform.rows import one

XID_WINDOW = 20000  # how many of the newest completed transactions are searched for the newest commit
PAUSE_WAIT_S = 2


@dataclass(frozen=True)
class Replayed:
    """How far a standby has replayed, from what it replayed, not from values that reset at restart."""

    lsn: str | None  # pg_last_wal_replay_lsn()
    last_commit: datetime | None  # the newest commit timestamp among the transactions completed up to it
    paused: bool

    def sentence(self) -> str:
        commit = self.last_commit.isoformat() if self.last_commit else "none found"
        return f"replayed to WAL {self.lsn or '?'}, newest replayed commit {commit}"


def replayed(conn: psycopg.Connection[tuple[object, ...]]) -> Replayed:
    """The replay position and the newest commit it includes. ``pg_last_xact_replay_timestamp()``
    is NULL after a restart until the next commit is replayed (for a whole apply delay), so it is
    not used: the transactions the standby has completed (``pg_current_snapshot()``'s xmax is
    ``latestCompletedXid + 1``, which a restart restores from the checkpoint and replay advances)
    are looked up in the commit-timestamp log (``track_commit_timestamp``, on in every member:
    pg_commit_ts is on disk and survives restarts). Raises ``ClusterError`` when the standby
    cannot say (commit timestamps not kept)."""
    lsn, xmax, state = one(conn.execute(
        "SELECT pg_last_wal_replay_lsn()::text, pg_snapshot_xmax(pg_current_snapshot())::text::bigint,"
        " pg_get_wal_replay_pause_state()").fetchone())
    try:
        newest = one(conn.execute(
            "SELECT max(pg_xact_commit_timestamp(((x %% 4294967296)::text)::xid))"
            " FROM generate_series(greatest(3, %s::bigint - %s), %s::bigint - 1) AS x",
            (xmax, XID_WINDOW, xmax)).fetchone())[0]
    except psycopg.errors.ObjectNotInPrerequisiteState as exc:
        raise ClusterError(f"the lagged copy keeps no commit timestamps ({exc}); cannot tell whether it "
                           "already replayed past the target. Set track_commit_timestamp = on, or recover "
                           "with `obruten backup restore --to` instead") from exc
    assert newest is None or isinstance(newest, datetime)
    return Replayed(str(lsn) if lsn else None, newest, state == "paused")


def resume_command() -> str:
    return "obruten cluster resume-lagged"


def resume(topo: Topology) -> str:
    """Resume replay on the lagged copy (left paused by a refused `recover-from-lagged`)."""
    m = topo.lagged_copy
    try:
        with psycopg.connect(topo.member_url(m, "postgres"), autocommit=True) as conn:
            if not one(conn.execute("SELECT pg_is_in_recovery()").fetchone())[0]:
                raise ClusterError(f"{m.name} is not a standby (it was recovered): nothing to resume")
            conn.execute("SELECT pg_wal_replay_resume()")
            done = replayed(conn)
    except psycopg.OperationalError as exc:
        raise ClusterError(f"cannot reach the lagged copy on port {m.pg_port} ({exc})") from exc
    return f"replay resumed on {m.name} ({done.sentence()}); it applies WAL {topo.lag_delay} behind again"


def _pause(conn: psycopg.Connection[tuple[object, ...]], say: Say) -> Replayed:
    """Pause replay, then wait briefly until it is in effect. A standby sleeping in its apply delay
    stays "pause requested" until the delay ends, then pauses before applying that record
    (PostgreSQL re-checks after the delay): nothing more is applied either way, so the check
    that follows does not race a commit."""
    conn.execute("SELECT pg_wal_replay_pause()")
    deadline = time.monotonic() + PAUSE_WAIT_S
    while not (now := replayed(conn)).paused and time.monotonic() < deadline:
        time.sleep(0.1)
    if not now.paused:
        say("replay pause requested; it takes effect before the next WAL record is applied (a standby "
            "waiting for WAL or sleeping in its apply delay shows 'pause requested' until then)")
    return now


def recover(topo: Topology, target_text: str, say: Say, timeout: float = 300) -> str:
    m = topo.lagged_copy
    target = parse_time(target_text)
    data_dir = topo.data_dir(m)
    url = topo.member_url(m, "postgres")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            if not one(conn.execute("SELECT pg_is_in_recovery()").fetchone())[0]:
                raise ClusterError(f"{m.name} is not a standby any more (already recovered?); "
                                   "use `obruten backup restore --to` instead")
            try:
                done = _pause(conn, say)
            except ClusterError as exc:
                raise ClusterError(f"{exc}. Replay on {m.name} is left PAUSED; resume it with "
                                   f"`{resume_command()}`") from exc
    except psycopg.OperationalError as exc:
        raise ClusterError(f"cannot reach the lagged copy on port {m.pg_port} ({exc}); use "
                           "`obruten backup restore --to` instead") from exc
    say(f"paused replay on {m.name}; {done.sentence()}")
    if done.last_commit is not None and done.last_commit.astimezone(UTC) > target:
        raise ClusterError(f"the lagged copy already replayed past {target.isoformat()} ({done.sentence()}): "
                           "it holds the error too; recover with `obruten backup restore --to` instead. "
                           f"Replay on {m.name} is left PAUSED since {datetime.now(UTC).isoformat(timespec='seconds')}"
                           f" (so nothing more is applied while you decide); resume it with `{resume_command()}`")
    if done.last_commit is None:
        raise ClusterError(f"the lagged copy shows no committed transaction among its newest {XID_WINDOW} "
                           f"({done.sentence()}), so it cannot be shown to be before {target.isoformat()}; "
                           "recover with `obruten backup restore --to` instead. Replay on "
                           f"{m.name} is left PAUSED; resume it with `{resume_command()}`")
    say(patroni.stop(topo, m))
    settings = {
        "recovery_min_apply_delay": "0", "primary_conninfo": "''", "primary_slot_name": "''",
        "recovery_target_time": f"'{target.astimezone(UTC).isoformat()}'", "recovery_target_inclusive": "on",
        "recovery_target_action": "'promote'", "recovery_target_timeline": "'current'",
        "archive_mode": "off", "synchronous_standby_names": "''", "cluster_name": "'obruten-lagged-recovered'",
    }
    with (data_dir / "postgresql.auto.conf").open("a") as fh:
        fh.write("\n# --- obruten recover-from-lagged ---\n")
        fh.writelines(f"{k} = {v}\n" for k, v in settings.items())
    (data_dir / "standby.signal").unlink(missing_ok=True)
    (data_dir / "recovery.signal").touch()
    patroni.user_of(topo).own(data_dir)
    pg = instance(topo, data_dir, m.pg_port)
    pg.password_file = topo.root / "state" / "lagged-recovered.password"
    if not pg.password_file.exists():
        pg.password_file.write_text(topo.superuser_password)
        pg.password_file.chmod(0o600)
    pg.log_file = topo.log_dir() / f"{m.name}-recovered.log"
    say(f"replaying {m.name} to {target.isoformat()} as a standalone instance (log: {pg.log_file}) …")
    pg.start(timeout=int(timeout))
    try:
        pg.wait_until_promoted(timeout, "the lagged copy")
    except PostgresError as exc:
        raise ClusterError(f"recovery to {target.isoformat()}: {exc}") from exc
    (topo.root / "state" / "lagged-detached").write_text(datetime.now(UTC).isoformat())
    announce.emit(topo, "cluster.lagged_recovered", f"Den fördröjda kopian återställd till {target.isoformat()} "
                  "och befordrad utanför klustret", "cluster", target_time=target.isoformat(), port=m.pg_port)
    return (f"{m.name} recovered to {target.isoformat()} and promoted outside the cluster: "
            f"{topo.member_url(m).replace(topo.superuser_password, '***')}")
