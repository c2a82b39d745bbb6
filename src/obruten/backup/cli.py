"""`obruten backup now|list|verify|restore`: base backups, proven restores, point-in-time recovery."""

from __future__ import annotations

from pathlib import Path

import click
import psycopg

from obruten.backup import catalog, schedule
from obruten.backup import restore as restore_mod
from obruten.backup import verify as verify_mod
from obruten.backup.basebackup import switch_and_wait_archived, take
from obruten.backup.errors import BackupError
from obruten.cluster.cli import load_topology
from obruten.platform import clikit
from obruten.platform.clikit import cluster_root_option as root_option
from obruten.platform.clikit import say


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
@click.option("--to", "target", required=True, help="Time to land on, e.g. 2026-11-22T10:15:00+01:00 (UTC if no zone).")
@click.option("--dest", type=click.Path(path_type=Path), help="New data directory (default: under the backup root).")
@click.option("--port", type=int, help="Port of the restored instance (default: base port + 31).")
@click.pass_context
def restore_cmd(ctx: click.Context, cluster_root: Path | None, target: str, dest: Path | None,
                port: int | None) -> None:
    """Restore into a NEW instance at exactly the given time; the cluster is not touched."""
    topo = load_topology(ctx, cluster_root)
    when = restore_mod.parse_time(target)
    try:
        switch_and_wait_archived(topo, timeout=30)
    except (BackupError, psycopg.Error) as exc:  # the cluster may be down; the archive may suffice
        say(f"Could not close the current WAL segment on the primary ({exc}); restoring from what the "
             "archive already has")
    dest = dest or topo.backup_root / "restores" / f"to-{when.strftime('%Y%m%dT%H%M%S')}"
    pg, b = restore_mod.restore(topo, when, dest.resolve(), port or topo.base_port + 31, say)
    click.echo(pg.url())
    say(f"Restored from {b.label}. Stop it with: obruten backup discard --dest {dest}")


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
