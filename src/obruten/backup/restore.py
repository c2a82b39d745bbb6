"""Point-in-time restore: a backup chain plus the backup store's WAL (the archive, then the
receiver's stream with its ``.partial`` segment, ADR 0045) into a new, separate instance; to a
second, or to the end of that WAL (``latest``).

The restored instance never archives into the production archive (``archive_mode = off``), never
connects to the cluster (no ``primary_conninfo``), and stops replay exactly at the requested time:
``recovery_target_time`` with ``recovery_target_inclusive`` keeps every commit up to and including
that instant and nothing after it.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from obruten.backup import archive, catalog, wal_receiver
from obruten.backup.basebackup import run_as_service
from obruten.backup.errors import BackupError
from obruten.cluster import announce as announce_mod
from obruten.cluster.patroni import user_of
from obruten.cluster.topology import Topology
from obruten.platform.pgserver import PostgresError, PostgresInstance, pg_bin
from obruten.platform.progress import Progress, Say
from obruten.platform.rows import one


def parse_target(text: str) -> datetime | None:
    """``parse_time``, or None for ``latest``: the end of the WAL the backup store holds."""
    return None if text.strip().lower() in ("latest", "senaste") else parse_time(text)


def parse_time(text: str) -> datetime:
    """An ISO-like time; without a zone it is UTC. Seconds precision is kept as given."""
    try:
        t = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError as exc:
        raise BackupError(f"cannot read the time {text!r}; write it like 2026-11-22T10:15:00+01:00 "
                          "(or `latest` where a restore accepts it)") from exc
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def materialize(topo: Topology, b: catalog.Backup, dest: Path, say: Say) -> None:
    """Lay the backup (combined with its chain when incremental) out as a data directory."""
    if dest.exists():
        raise BackupError(f"{dest} already exists; choose another --dest or remove it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    user_of(topo).own(dest.parent)
    chain = catalog.chain(topo.backup_root, b.label)
    dirs = [str(catalog.base_dir(topo.backup_root) / c.label) for c in chain]
    if len(chain) == 1:
        say(f"Copying full backup {b.label} to {dest} …")
        run_as_service(topo, ["cp", "-a", dirs[0], str(dest)], "copying the backup")
    else:
        say(f"Combining {len(chain)} backups ({', '.join(c.label for c in chain)}) into {dest} …")
        run_as_service(topo, [pg_bin("pg_combinebackup"), "-o", str(dest), *dirs], "pg_combinebackup")


def verify_backup(topo: Topology, data_dir: Path) -> str:
    """pg_verifybackup against the manifest (before the instance is ever started)."""
    out = run_as_service(topo, [pg_bin("pg_verifybackup"), str(data_dir)], "pg_verifybackup")
    return out.strip().splitlines()[-1] if out.strip() else "ok"


_BLOCK = "\n# --- obruten restore ---\n"


def configure(topo: Topology, data_dir: Path, port: int, target: datetime | None) -> None:
    """Settings that make the copy a standalone instance recovering from the backup store
    (archive, then the receiver's stream with its ``.partial`` segment: ADR 0045)."""
    settings = {
        "port": str(port), "listen_addresses": "'127.0.0.1'", "unix_socket_directories": "''",
        "archive_mode": "off", "primary_conninfo": "''", "primary_slot_name": "''",
        "synchronous_standby_names": "''", "recovery_min_apply_delay": "0",
        "restore_command": f"'{wal_receiver.restore_command(topo.backup_root)}'",
        "recovery_target_timeline": "'latest'", "recovery_target_action": "'promote'",
        "hba_file": f"'{data_dir / 'pg_hba.conf'}'", "ident_file": f"'{data_dir / 'pg_ident.conf'}'",
        "logging_collector": "off", "log_min_messages": "'log'", "shared_buffers": "64MB",
        "cluster_name": "'obruten-restore'",
    }
    if target is not None:
        settings["recovery_target_time"] = f"'{target.astimezone(UTC).isoformat()}'"
        settings["recovery_target_inclusive"] = "on"
    user = user_of(topo)
    conf = data_dir / "postgresql.auto.conf"
    with conf.open("a") as fh:
        fh.write(_BLOCK)
        fh.writelines(f"{k} = {v}\n" for k, v in settings.items())
    for stale in ("postmaster.pid", "standby.signal", "patroni.dynamic.json"):
        (data_dir / stale).unlink(missing_ok=True)
    (data_dir / "recovery.signal").touch()
    user.own(data_dir)


def instance(topo: Topology, data_dir: Path, port: int, name: str | None = None) -> PostgresInstance:
    """The restored instance in ``data_dir``; its log and password file are named ``name``
    (default: the directory's name) beside it."""
    name = name or data_dir.name
    pw = data_dir.parent / f"{name}.password"
    if not pw.exists():
        pw.write_text(topo.superuser_password)
        pw.chmod(0o600)
    return PostgresInstance(data_dir=data_dir, port=port, user=user_of(topo),
                            log_file=data_dir.parent / f"{name}.log", password_file=pw)


@dataclass(frozen=True)
class EndOfRecovery:
    """Where replay stopped, as PostgreSQL logged it ("redo done at", "last completed transaction")."""
    lsn: str | None
    last_commit: datetime | None


_REDO = re.compile(r"redo done at ([0-9A-F]+/[0-9A-F]+)")
_LAST = re.compile(r"last completed transaction was at log time (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d)")


def end_of_recovery(log_text: str) -> EndOfRecovery:
    """The last "redo done" and "last completed transaction" of a server log."""
    lsns, times = _REDO.findall(log_text), _LAST.findall(log_text)
    last = datetime.fromisoformat(times[-1] + ":00") if times else None
    return EndOfRecovery(lsns[-1] if lsns else None, last)


def _end_lsn(backup_root: Path) -> int:
    """Rough end of the WAL the backup store holds: the end of its newest segment (for progress)."""
    names = [p.name[:24] for d in (archive.segments_dir(backup_root), wal_receiver.stream_dir(backup_root))
             if d.exists() for p in d.iterdir() if len(p.name) >= 24 and p.name[:24].isalnum()
             and "." not in p.name[:24]]
    if not names:
        return 0
    seg = max(names, key=lambda n: (int(n[8:16], 16), int(n[16:24], 16)))
    return (int(seg[8:16], 16) * 0x100000000) + (int(seg[16:24], 16) + 1) * 16 * 1024 * 1024


def _lsn(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


def _replay(pg: PostgresInstance, timeout: float, progress: Progress | None, start: int, end: int) -> None:
    """Wait until recovery ends and the instance is promoted, reporting replay progress."""
    if progress is None:
        pg.wait_until_promoted(timeout, "the restored instance")
        return
    deadline = time.monotonic() + timeout
    total = max(end - start, 1)
    while True:
        try:
            with psycopg.connect(pg.url("postgres"), autocommit=True, connect_timeout=3) as conn:
                row = one(conn.execute("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text").fetchone())
            if not row[0]:
                progress("replaying WAL", total, total)
                return
            if row[1]:
                progress("replaying WAL", min(max(_lsn(row[1]) - start, 0), total - 1), total)
        except psycopg.OperationalError:
            if not pg.is_running():
                raise PostgresError(f"the restored instance stopped during recovery:\n{pg.log_tail()}") from None
        if time.monotonic() > deadline:
            raise PostgresError(f"the restored instance did not finish recovery in {timeout:.0f} s; read {pg.log_file}")
        time.sleep(0.3)


class _EndsAtTarget(BackupError):
    """The WAL ends exactly at the target's commit: recovery never sees a later one to stop at."""


def restore(topo: Topology, target: datetime | None, dest: Path, port: int, say: Say,
            verify: bool = False, timeout: float = 600,
            announce: bool = True, progress: Progress | None = None) -> tuple[PostgresInstance, catalog.Backup]:
    """See ``_restore``; a target that is exactly the last commit the backup store holds is the end
    of its WAL (PostgreSQL cannot stop "at" it: it waits for a later commit that never comes)."""
    try:
        return _restore(topo, target, dest, port, say, verify, timeout, announce, progress)
    except _EndsAtTarget:
        say(f"The last commit in the backup store is exactly at {target.isoformat() if target else '?'}: "
            "restoring to the end of its WAL, which is that state")
        return _restore(topo, None, dest, port, say, verify, timeout, announce, progress)


def _restore(topo: Topology, target: datetime | None, dest: Path, port: int, say: Say,
             verify: bool, timeout: float, announce: bool,
             progress: Progress | None) -> tuple[PostgresInstance, catalog.Backup]:
    """Restore to ``target`` (None: the end of the WAL the backup store holds, the receiver's
    ``.partial`` segment included) into ``dest``; return it running and promoted, and the backup
    it started from. Recovery runs in ``.<dest>.incomplete`` beside ``dest``, which is renamed
    into place only once the instance is promoted: a failure leaves nothing behind, a retry works.
    ``announce`` records a ``backup.restore`` system event (a verification records its own)."""
    when = target or datetime.now(UTC)
    b = catalog.latest_before(topo.backup_root, when)
    if b is None:
        raise BackupError(f"no base backup finished before {when.isoformat()}; restore to a later time or "
                          "take one with `obruten backup now`")
    if dest.exists():
        raise BackupError(f"{dest} already exists; choose another --dest or remove it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".{dest.name}.incomplete"
    if work.exists():  # left by an earlier run that was killed: ours by its name
        stale = instance(topo, work, port, name=dest.name)
        stale.stop(mode="immediate")
        shutil.rmtree(work)
    pg = instance(topo, work, port, name=dest.name)
    try:
        if progress:
            progress("restoring base backup", 0, 1)
        materialize(topo, b, work, say)
        if progress:
            progress("restoring base backup", 1, 1)
        if verify:
            say(f"pg_verifybackup: {verify_backup(topo, work)}")
        configure(topo, work, port, target)
        say(f"Starting the restored instance on 127.0.0.1:{port}, replaying WAL to "
            f"{target.isoformat() if target else 'the end of the WAL in the backup store'} …")
        log_start = pg.log_file.stat().st_size if pg.log_file.exists() else 0
        try:
            pg.start(timeout=int(timeout))
            _replay(pg, timeout, progress, _lsn(b.start_lsn), _end_lsn(topo.backup_root))
        except PostgresError as exc:
            end = end_of_recovery(_log_since(pg, log_start))
            if target is not None and end.last_commit is not None and end.last_commit == target:
                raise _EndsAtTarget(_not_reached(target, end, exc)) from exc
            raise BackupError(_not_reached(target, end, exc)) from exc
        pg.stop(mode="fast")
        work.rename(dest)
        _moved(dest, work)
    except BaseException:
        pg.stop(mode="immediate")
        shutil.rmtree(work, ignore_errors=True)
        pg.password_file.unlink(missing_ok=True)
        raise
    pg = instance(topo, dest, port)
    pg.start(timeout=int(timeout))
    say(f"Restored instance ready: {pg.url().replace(pg.password, '***')}")
    if announce:
        when_text = target.isoformat() if target else "slutet av WAL i backuplagret"
        announce_mod.emit(topo, "backup.restore", f"Återställning till {when_text} klar på port {port} "
                          f"(från {b.label})", "backup", target_time=target.isoformat() if target else None,
                          backup=b.label, port=port, data_dir=str(dest))
    return pg, b


def _moved(data_dir: Path, old: Path) -> None:
    """Point the settings that name the data directory at its new place."""
    conf = data_dir / "postgresql.auto.conf"
    conf.write_text(conf.read_text().replace(f"'{old}/", f"'{data_dir}/"))


def _log_since(pg: PostgresInstance, offset: int) -> str:
    try:
        with pg.log_file.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def _not_reached(target: datetime | None, end: EndOfRecovery, exc: Exception) -> str:
    if target is None or end.last_commit is None:
        return f"the restored instance did not come up: {exc}"
    latest = end.last_commit.astimezone(UTC).isoformat()
    return (f"the backup store does not reach {target.astimezone(UTC).isoformat()}: its WAL ends at LSN "
            f"{end.lsn or '?'}, and the latest commit it holds is at {latest}. Waiting does not help when the "
            f"primary is gone. Restore to that point with `obruten backup restore --to latest`.")


def discard(pg: PostgresInstance) -> None:
    pg.stop(mode="immediate")
    shutil.rmtree(pg.data_dir, ignore_errors=True)
    pg.password_file.unlink(missing_ok=True)
    pg.log_file.unlink(missing_ok=True)
