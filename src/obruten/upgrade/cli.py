"""``obruten upgrade plan | apply | rollback``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from obruten.ops import settings as ops_settings
from obruten.platform import clikit
from obruten.platform import config as config_mod
from obruten.platform.database import start
from obruten.upgrade import run, stores
from obruten.upgrade.stores import StoreRef


def _refs(ctx: click.Context, ops_store: str | None, ward_stores: tuple[Path, ...]) -> tuple[list[StoreRef], Path]:
    cfg = clikit.config_from(ctx)
    url = start(cfg, clikit.say)  # the privileged URL; starting the embedded server migrates nothing
    if ops_store is None:
        settings = ops_settings.load(environ=config_mod.environment(), var_dir=cfg.var_dir)
        location: str | Path = settings.store_location
    else:
        location = ops_store if ops_store.startswith(("postgresql://", "postgres://")) else Path(ops_store)
    return [stores.journal(url), stores.ops(location), *(stores.ward_agent(p) for p in ward_stores)], cfg.var_dir


_ops = click.option("--ops-store", help="The ops store (SQLite file or postgresql:// URL); default: the ops settings'.")
_ward = click.option("--ward-store", "ward_stores", multiple=True, type=click.Path(path_type=Path),
                     help="A ward agent's downtime store on this machine (repeatable; each agent also migrates "
                          "its own store when it starts).")
_by = click.option("--by", default=lambda: os.environ.get("SUDO_USER") or os.environ.get("USER") or "root",
                   show_default="the OS user", help="Who runs the upgrade (recorded).")


@click.group(cls=clikit.Group)
def upgrade() -> None:
    """Upgrades that say what they change: plan, apply (with a snapshot), roll back."""


@upgrade.command("plan")
@_ops
@_ward
@click.option("--json", "as_json", is_flag=True, help="Machine-readable.")
@click.pass_context
def plan_cmd(ctx: click.Context, ops_store: str | None, ward_stores: tuple[Path, ...], as_json: bool) -> None:
    """Every migration that would run per store (and whether it can be undone) and every flag that is new or changes."""
    refs, _ = _refs(ctx, ops_store, ward_stores)
    plan = run.make_plan(refs)
    click.echo(run.as_json(plan) if as_json else run.render(plan))


@upgrade.command("apply")
@_ops
@_ward
@_by
@click.option("--cluster-root", type=click.Path(path_type=Path), help="A Patroni cluster: snapshot with its backups.")
@click.option("--no-snapshot", is_flag=True, help="Skip the pre-upgrade snapshot (test systems only; recorded).")
@click.pass_context
def apply_cmd(ctx: click.Context, ops_store: str | None, ward_stores: tuple[Path, ...], by: str,
              cluster_root: Path | None, no_snapshot: bool) -> None:
    """Take a pre-upgrade snapshot, migrate every store, record what was done."""
    refs, var_dir = _refs(ctx, ops_store, ward_stores)
    click.echo(run.render(run.make_plan(refs)))
    row = clikit.guard(lambda: run.apply(refs, var_dir, by, clikit.say, cluster_root, snapshot=not no_snapshot))
    if row:
        click.echo(f"Upgraded to {row['to_release']}; snapshot: {row['snapshot'] or 'none'}; "
                   "new flags are off until switched (`obruten flags list`)")


@upgrade.command("rollback")
@_ops
@_ward
@_by
@click.option("--dry-run", is_flag=True, help="Only say what would be undone (or why it cannot be).")
@click.pass_context
def rollback_cmd(ctx: click.Context, ops_store: str | None, ward_stores: tuple[Path, ...], by: str,
                 dry_run: bool) -> None:
    """Return schemas and flags to the release before the last apply (or say why not, changing nothing)."""
    refs, var_dir = _refs(ctx, ops_store, ward_stores)
    row = clikit.guard(lambda: run.rollback(refs, var_dir, by, clikit.say, dry_run=dry_run))
    if dry_run:
        click.echo(f"Would undo: {row['undo']}; flags off: {row['flags_off']}")
    else:
        click.echo(f"Rolled back to {row['to_release']}")
