"""Point-in-time restore: a backup chain plus archived WAL into a new, separate instance.

The restored instance never archives into the production archive (``archive_mode = off``), never
connects to the cluster (no ``primary_conninfo``), and stops replay exactly at the requested time:
``recovery_target_time`` with ``recovery_target_inclusive`` keeps every commit up to and including
that instant and nothing after it.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from obruten.backup import archive, catalog
from obruten.backup.basebackup import run_as_service
from obruten.backup.errors import BackupError
from obruten.cluster import announce as announce_mod
from obruten.cluster.patroni import user_of
from obruten.cluster.topology import Topology
from obruten.platform.pgserver import PostgresError, PostgresInstance, pg_bin
from obruten.platform.progress import Say


def parse_time(text: str) -> datetime:
    """An ISO-like time; without a zone it is UTC. Seconds precision is kept as given."""
    try:
        t = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError as exc:
        raise BackupError(f"cannot read the time {text!r}; write it like 2026-11-22T10:15:00+01:00") from exc
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


def configure(topo: Topology, data_dir: Path, port: int, target: datetime | None) -> None:
    """Settings that make the copy a standalone instance recovering from the archive."""
    settings = {
        "port": str(port), "listen_addresses": "'127.0.0.1'", "unix_socket_directories": "''",
        "archive_mode": "off", "primary_conninfo": "''", "primary_slot_name": "''",
        "synchronous_standby_names": "''", "recovery_min_apply_delay": "0",
        "restore_command": f"'{archive.restore_command(topo.wal_archive)}'",
        "recovery_target_timeline": "'latest'", "recovery_target_action": "'promote'",
        "hba_file": f"'{data_dir / 'pg_hba.conf'}'", "ident_file": f"'{data_dir / 'pg_ident.conf'}'",
        "logging_collector": "off", "shared_buffers": "64MB",
        "cluster_name": "'obruten-restore'",
    }
    if target is not None:
        settings["recovery_target_time"] = f"'{target.astimezone(UTC).isoformat()}'"
        settings["recovery_target_inclusive"] = "on"
    user = user_of(topo)
    conf = data_dir / "postgresql.auto.conf"
    with conf.open("a") as fh:
        fh.write("\n# --- obruten restore ---\n")
        fh.writelines(f"{k} = {v}\n" for k, v in settings.items())
    for stale in ("postmaster.pid", "standby.signal", "patroni.dynamic.json"):
        (data_dir / stale).unlink(missing_ok=True)
    (data_dir / "recovery.signal").touch()
    user.own(data_dir)


def instance(topo: Topology, data_dir: Path, port: int) -> PostgresInstance:
    pw = data_dir.parent / f"{data_dir.name}.password"
    if not pw.exists():
        pw.write_text(topo.superuser_password)
        pw.chmod(0o600)
    return PostgresInstance(data_dir=data_dir, port=port, user=user_of(topo),
                            log_file=data_dir.parent / f"{data_dir.name}.log", password_file=pw)


def restore(topo: Topology, target: datetime | None, dest: Path, port: int, say: Say,
            verify: bool = False, timeout: float = 600,
            announce: bool = True) -> tuple[PostgresInstance, catalog.Backup]:
    """Restore to ``target`` (None: end of the archive) into ``dest``; start it and wait until it is
    promoted. Returns the running instance and the backup it started from. ``announce`` records a
    ``backup.restore`` system event (a verification's scratch restore records its own)."""
    when = target or datetime.now(UTC)
    b = catalog.latest_before(topo.backup_root, when)
    if b is None:
        raise BackupError(f"no base backup finished before {when.isoformat()}; restore to a later time or "
                          "take one with `obruten backup now`")
    materialize(topo, b, dest, say)
    if verify:
        say(f"pg_verifybackup: {verify_backup(topo, dest)}")
    configure(topo, dest, port, target)
    pg = instance(topo, dest, port)
    say(f"Starting the restored instance on 127.0.0.1:{port}, replaying WAL to "
        f"{target.isoformat() if target else 'the end of the archive'} …")
    try:
        pg.start(timeout=int(timeout))
        pg.wait_until_promoted(timeout, "the restored instance")
    except PostgresError as exc:
        raise BackupError(f"the restored instance did not come up: {exc}\nIf it says the recovery target "
                          "was not reached, the archive does not reach that time yet") from exc
    say(f"Restored instance ready: {pg.url().replace(pg.password, '***')}")
    if announce:
        when_text = target.isoformat() if target else "arkivets slut"
        announce_mod.emit(topo, "backup.restore", f"Återställning till {when_text} klar på port {port} "
                          f"(från {b.label})", "backup", target_time=target.isoformat() if target else None,
                          backup=b.label, port=port, data_dir=str(dest))
    return pg, b


def discard(pg: PostgresInstance) -> None:
    pg.stop(mode="immediate")
    shutil.rmtree(pg.data_dir, ignore_errors=True)
    pg.password_file.unlink(missing_ok=True)
    pg.log_file.unlink(missing_ok=True)
