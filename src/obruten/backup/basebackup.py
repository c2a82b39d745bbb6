"""Base backups with pg_basebackup: full, or incremental against the previous one (PostgreSQL 17+).

Backups are plain-format directories with their own WAL (``-X stream``), so each restores on its
own; an incremental one is combined with its chain by ``pg_combinebackup`` at restore time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from obruten.backup import catalog
from obruten.backup.errors import BackupError
from obruten.cluster import announce
from obruten.cluster.members import view
from obruten.cluster.patroni import user_of
from obruten.cluster.topology import REPLICATION_USER, Member, Topology
from obruten.platform.pgserver import SUPERUSER, pg_bin
from obruten.platform.progress import Say
from obruten.platform.rows import one


def primary(topo: Topology) -> Member:
    leader = view(topo).leader
    if leader is None:
        raise BackupError("no primary: backups are taken from the primary; check `obruten cluster status`")
    return topo.member(leader)


def run_as_service(topo: Topology, args: list[str], what: str, timeout: float = 3600,
                   role: str = SUPERUSER) -> str:
    """Run a PostgreSQL client tool as the service user (files it writes belong to that user)."""
    user = user_of(topo)
    env = user.env({**os.environ, "PGPASSWORD": topo.passwords[role]})
    result = subprocess.run(args, env=env, text=True, capture_output=True, timeout=timeout,
                            stdin=subprocess.DEVNULL, **user.popen_kwargs())
    if result.returncode != 0:
        raise BackupError(f"{what} failed ({Path(args[0]).name} exit {result.returncode}):\n"
                          f"{result.stderr.strip()[-2000:]}")
    return result.stdout + result.stderr


def _server_time(topo: Topology, m: Member) -> datetime:
    with psycopg.connect(topo.member_url(m, "postgres"), autocommit=True) as conn:
        return one(conn.execute("SELECT now()").fetchone())[0].astimezone(UTC)


def _label_info(backup_dir: Path) -> tuple[str, int]:
    lsn, tl = "", 0
    for line in (backup_dir / "backup_label").read_text().splitlines():
        if line.startswith("START WAL LOCATION:"):
            lsn = line.split(":", 1)[1].split()[0]
        elif line.startswith("START TIMELINE:"):
            tl = int(line.split(":", 1)[1])
    return lsn, tl


def take(topo: Topology, say: Say, full: bool = False) -> catalog.Backup:
    """Take a base backup from the primary: incremental on the latest backup unless ``full``.
    Records ``backup.base_completed`` (read by the ops backup probe) or ``backup.base_failed``."""
    try:
        return _take(topo, say, full)
    except (BackupError, psycopg.Error) as exc:
        announce.emit(topo, "backup.base_failed", "Basbackup misslyckades: " + str(exc).splitlines()[0][:200],
                      "backup", full=full)
        raise


def _take(topo: Topology, say: Say, full: bool) -> catalog.Backup:
    source = primary(topo)
    previous = catalog.backups(topo.backup_root)
    parent = None if full or not previous else previous[-1]
    base = catalog.base_dir(topo.backup_root)
    started = _server_time(topo, source)
    label = started.strftime("%Y%m%dT%H%M%SZ") + ("-incr" if parent else "-full")
    dest = base / label
    if dest.exists():
        raise BackupError(f"{dest} already exists; wait a second and try again")
    conninfo = f"host=127.0.0.1 port={source.pg_port} user={REPLICATION_USER}"
    args = [pg_bin("pg_basebackup"), "-d", conninfo, "-D", str(dest), "-Fp", "-X", "stream", "-c", "fast",
            "--no-password", "-l", f"obruten {label}"]
    if parent:
        args.append(f"--incremental={base / parent.label / 'backup_manifest'}")
    say(f"Taking a {'incremental (on ' + parent.label + ')' if parent else 'full'} base backup of "
        f"{source.name} into {dest} …")
    t0 = time.monotonic()
    try:
        run_as_service(topo, args, "pg_basebackup", role=REPLICATION_USER)
    except BackupError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        if parent is None:
            raise
        # e.g. WAL summaries do not reach back to the parent (after a failover): start a new chain
        say(f"Incremental backup refused ({str(exc).splitlines()[-1]}); taking a full backup instead")
        return _take(topo, say, full=True)
    lsn, tl = _label_info(dest)
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    b = catalog.Backup(label=label, kind="incremental" if parent else "full",
                       parent=parent.label if parent else None, started_at=started.isoformat(),
                       finished_at=_server_time(topo, source).isoformat(), start_lsn=lsn, timeline=tl,
                       source=source.name, size_bytes=size)
    catalog.record(topo.backup_root, b)
    seconds = round(time.monotonic() - t0, 1)
    say(f"Backup {label} done: {size / 1e6:.1f} MB in {seconds:.1f} s")
    announce.base_backup_completed(topo, b, seconds)
    return b


def switch_and_wait_archived(topo: Topology, timeout: float = 60) -> str:
    """Close the current WAL segment on the primary and wait until it is in the archive.

    After this, every commit made before the call can be recovered from the archive.
    """
    source = primary(topo)
    with psycopg.connect(topo.member_url(source, "postgres"), autocommit=True) as conn:
        conn.execute("SELECT txid_current()")  # make sure the segment is not empty, so it switches
        segment = one(conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone())[0]
    deadline = time.monotonic() + timeout
    while not (topo.wal_archive / segment).exists():
        if time.monotonic() > deadline:
            raise BackupError(f"WAL segment {segment} did not reach the archive {topo.wal_archive} in "
                              f"{timeout:.0f} s; check archive_command errors in the primary's log "
                              f"({topo.log_dir()}) and free space under {topo.backup_root}")
        time.sleep(0.2)
    return segment
