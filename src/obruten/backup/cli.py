"""`obruten backup now|list|verify|restore`: base backups, proven restores, point-in-time recovery."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import psycopg

from obruten.backup import catalog, schedule
from obruten.backup import rebuild as rebuild_mod
from obruten.backup import restore as restore_mod
from obruten.backup import verify as verify_mod
from obruten.backup.basebackup import switch_and_wait_archived, take
from obruten.backup.errors import BackupError
from obruten.cluster.cli import load_topology
from obruten.cluster.topology import Topology
from obruten.platform import clikit
from obruten.platform.clikit import cluster_root_option as root_option
from obruten.platform.clikit import say

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@click.group(cls=clikit.Group)
def backup() -> None:
    """WAL archive and base backups under the backup root; verified restores (R11)."""


@backup.command("now")
@root_option
@click.option("--full", is_flag=True, help="A full backup (default: incremental on the latest, if any).")
@click.pass_context
def now(ctx: click.Context, cluster_root: Path | None, full: bool) -> None:
    """Take a base backup from the primary."""
    topo = load_topology(ctx, cluster_root)
    b = take(topo, say, full=full)
    click.echo(b.label)


@backup.command("list")
@root_option
@click.pass_context
def list_backups(ctx: click.Context, cluster_root: Path | None) -> None:
    """Base backups, oldest first, and the latest verifications."""
    topo = load_topology(ctx, cluster_root)
    click.echo(f"{'label':<24} {'kind':<12} {'parent':<24} {'finished':<26} {'TL':>3} {'MB':>8}")
    for b in catalog.backups(topo.backup_root):
        click.echo(f"{b.label:<24} {b.kind:<12} {b.parent or '-':<24} {b.finished_at[:25]:<26} {b.timeline:>3} "
                   f"{b.size_bytes / 1e6:>8.1f}")
    for v in catalog.verifications(topo.backup_root)[-5:]:
        click.echo(f"verified {v.at}: {v.backup} to {v.target_time}: {'OK' if v.ok else 'FAILED ' + v.problem}")


@backup.command("verify")
@root_option
@click.option("--port", type=int, help="Port of the scratch instance (default: base port + 30).")
@click.pass_context
def verify(ctx: click.Context, cluster_root: Path | None, port: int | None) -> None:
    """Restore the latest backup + WAL into a scratch instance and check it; record the result."""
    topo = load_topology(ctx, cluster_root)
    v = verify_mod.run(topo, say, port)
    click.echo(f"{'OK' if v.ok else 'FAILED'}: backup {v.backup} restored to {v.target_time} in {v.seconds} s")
    if not v.ok:
        raise click.ClickException(f"restore verification failed: {v.problem}. The backups cannot be trusted "
                                   "until this is fixed: take a full backup (`obruten backup now --full`) and "
                                   "verify again; keep the scratch instance for the investigation")


@backup.command("restore")
@root_option
@click.option("--to", "target", required=True,
              help="Time to land on, e.g. 2026-11-22T10:15:00+01:00 (UTC if no zone), or `latest`: the end "
                   "of the WAL in the backup store.")
@click.option("--dest", type=click.Path(path_type=Path), help="New data directory (default: under the backup root).")
@click.option("--port", type=int, help="Port of the restored instance (default: base port + 31).")
@click.pass_context
def restore_cmd(ctx: click.Context, cluster_root: Path | None, target: str, dest: Path | None,
                port: int | None) -> None:
    """Restore into a NEW instance at exactly the given time (or the latest); the cluster is not touched."""
    topo = load_topology(ctx, cluster_root)
    when = restore_mod.parse_target(target)
    try:
        switch_and_wait_archived(topo, timeout=30)
    except (BackupError, psycopg.Error) as exc:  # the cluster may be down; the backup store may suffice
        say(f"Could not close the current WAL segment on the primary ({exc}); restoring from what the "
             "backup store already holds (archive and WAL stream)")
    name = f"to-{when.strftime('%Y%m%dT%H%M%S')}" if when else f"latest-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    dest = dest or topo.backup_root / "restores" / name
    pg, b = restore_mod.restore(topo, when, dest.resolve(), port or topo.base_port + 31, say,
                                progress=clikit.progress_bar())
    click.echo(pg.url())
    say(f"Restored from {b.label}. Stop it with: obruten backup discard --dest {dest}")


@backup.command("rebuild")
@root_option
@click.option("--backup-root", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Rebuild from this backup store alone (it holds a copy of the cluster's topology); "
                   "for when the cluster root is lost too.")
@click.option("--dest", type=click.Path(path_type=Path), help="Data directory of the new primary "
              "(default: <backup root>/rebuilt/<time>).")
@click.option("--port", type=int, help="Port of the new primary (default: base port + 32).")
@click.pass_context
def rebuild_cmd(ctx: click.Context, cluster_root: Path | None, backup_root: Path | None, dest: Path | None,
                port: int | None) -> None:
    """Both sites lost: a new primary from the backup store, to the end of the WAL it holds."""
    topo = Topology.load(backup_root) if backup_root else load_topology(ctx, cluster_root)
    if backup_root:
        topo = dataclasses.replace(topo, backup_root=backup_root.resolve(),
                                   events_dir=str(clikit.config_from(ctx).var_dir.resolve()))
    target = (dest or rebuild_mod.default_dest(topo)).resolve()
    done = rebuild_mod.rebuild(topo, target, port or topo.base_port + 32, say, clikit.progress_bar())
    say(done.sentence())
    last = done.end.last_commit
    say(f"Recovery time: {done.seconds:.1f} s. Last commit held: "
        f"{last.astimezone(STOCKHOLM).strftime('%Y-%m-%d %H:%M:%S.%f %Z') if last else 'none'} "
        f"(LSN {done.end.lsn or '?'}).")
    say(f"Point the journal at it (`--database-url`); stop it with: obruten backup discard --dest {target}")
    click.echo(done.instance.url())


@backup.command("tick")
@root_option
@click.pass_context
def tick_cmd(ctx: click.Context, cluster_root: Path | None) -> None:
    """One tick of the backup timer: take a backup or verify one if due (run every 15 min)."""
    topo = load_topology(ctx, cluster_root)
    snap = schedule.snapshot(catalog.backups(topo.backup_root), catalog.last_good_verification(topo.backup_root))
    click.echo(schedule.tick(lambda full: take(topo, say, full=full),
                             lambda: verify_mod.run(topo, say), snap, schedule.Policy()))


@backup.command("discard")
@root_option
@click.option("--dest", type=click.Path(path_type=Path), required=True, help="Data directory of a restore.")
@click.pass_context
def discard_cmd(ctx: click.Context, cluster_root: Path | None, dest: Path) -> None:
    """Stop a restored instance and delete its directory."""
    topo = load_topology(ctx, cluster_root)
    pg = restore_mod.instance(topo, dest.resolve(), 0)
    restore_mod.discard(pg)
    click.echo(f"discarded {dest}")
