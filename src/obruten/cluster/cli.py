"""`obruten cluster …`: start, inspect, switch over, fail over and stop the Patroni cluster."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from obruten.cluster import lagged, lifecycle, members
from obruten.cluster import overview as status_mod
from obruten.cluster.topology import Topology, TopologyError
from obruten.platform import clikit
from obruten.platform.clikit import cluster_root_option as root_option
from obruten.platform.clikit import say


def root_for(ctx: click.Context, explicit: Path | None) -> Path:
    return explicit if explicit is not None else clikit.config_from(ctx).var_dir / "cluster"


def load_topology(ctx: click.Context, root: Path | None) -> Topology:
    """The cluster's topology; its system events go to this configuration's var dir unless the
    topology names one (it does when `cluster up` created it)."""
    topo = Topology.load(root_for(ctx, root))
    if topo.events_dir is None:
        topo = dataclasses.replace(topo, events_dir=str(clikit.config_from(ctx).var_dir.resolve()))
    return topo


@click.group(cls=clikit.Group)
def cluster() -> None:
    """The two-site Patroni cluster with a read copy and a lagged copy (runs on this machine)."""


@cluster.command("up")
@root_option
@click.option("--backup-root", type=click.Path(path_type=Path), envvar="OBRUTEN_BACKUP_ROOT",
              help="WAL archive and base backups; separate storage (default: <var dir>/backup).")
@click.option("--base-port", type=int, default=25400, show_default=True, envvar="OBRUTEN_CLUSTER_BASE_PORT",
              help="PostgreSQL on base+0..3, Patroni REST on base+10..13, Raft on base+20..23.")
@click.option("--lag-delay", default="6h", show_default=True, envvar="OBRUTEN_LAG_DELAY",
              help="recovery_min_apply_delay of the lagged copy (PostgreSQL units: 10s, 30min, 6h).")
@click.option("--strict-sync/--no-strict-sync", default=False, show_default=True,
              help="synchronous_mode_strict: refuse commits when no sync standby is left (ADR 0011).")
@click.pass_context
def up(ctx: click.Context, cluster_root: Path | None, backup_root: Path | None, base_port: int,
       lag_delay: str, strict_sync: bool) -> None:
    """Start (or complete) the cluster and print the journal's connection string."""
    root = root_for(ctx, cluster_root)
    try:
        topo = Topology.load(root)
        say(f"Using the existing cluster in {topo.root}")
        if topo.events_dir is None:  # a cluster made before system events: record them from now on
            topo = dataclasses.replace(topo, events_dir=str(clikit.config_from(ctx).var_dir.resolve()))
    except TopologyError:
        var_dir = clikit.config_from(ctx).var_dir
        topo = Topology.create(root, backup_root or var_dir / "backup", base_port, lag_delay,
                               strict_sync, events_dir=var_dir)
    say(lifecycle.up(topo, say))
    click.echo(topo.write_url())


@cluster.command("status")
@root_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, cluster_root: Path | None, as_json: bool) -> None:
    """Role, timeline, sync state and lag of each member; last backup and verified restore; alarms."""
    topo = load_topology(ctx, cluster_root)
    st = status_mod.collect(topo)
    click.echo(json.dumps(dataclasses.asdict(st), indent=2) if as_json else status_mod.render(st))


@cluster.command("url")
@root_option
@click.option("--read", is_flag=True, help="The read copy's URL instead of the primary's.")
@click.pass_context
def url(ctx: click.Context, cluster_root: Path | None, read: bool) -> None:
    """Print the journal's connection string (contains a password: keep it out of logs)."""
    topo = load_topology(ctx, cluster_root)
    click.echo(topo.read_url() if read else topo.write_url())


@cluster.command("switchover")
@root_option
@click.option("--to", "candidate", help="Member to promote (default: the synchronous standby).")
@click.pass_context
def switchover(ctx: click.Context, cluster_root: Path | None, candidate: str | None) -> None:
    """Planned switchover: the primary hands over to a synchronous standby, nothing is lost."""
    topo = load_topology(ctx, cluster_root)
    say(members.switchover(topo, candidate))
    snap = members.wait_for(topo, lambda v: v.leader is not None and v.leader != "", "a leader",
                            60, say)
    click.echo(snap.sentence())


@cluster.command("failover")
@root_option
@click.option("--to", "candidate", required=True, help="Member to promote (a synchronous standby).")
@click.pass_context
def failover(ctx: click.Context, cluster_root: Path | None, candidate: str) -> None:
    """Manual failover to a named member, also when the primary is unhealthy."""
    topo = load_topology(ctx, cluster_root)
    say(members.failover(topo, candidate))
    snap = members.wait_for(topo, lambda v: v.leader == candidate, f"{candidate} to lead",
                            60, say)
    click.echo(snap.sentence())


@cluster.command("down")
@root_option
@click.pass_context
def down(ctx: click.Context, cluster_root: Path | None) -> None:
    """Stop every member (standbys first, then the primary). Data stays; `up` starts it again."""
    topo = load_topology(ctx, cluster_root)
    click.echo(lifecycle.down(topo, say))


@cluster.command("recover-from-lagged")
@root_option
@click.option("--to", "target", required=True, help="Time to recover to, e.g. '2026-11-22 10:15:00+01'.")
@click.pass_context
def recover_from_lagged(ctx: click.Context, cluster_root: Path | None, target: str) -> None:
    """Detach the lagged copy and recover it to a time before a replicated error."""
    topo = load_topology(ctx, cluster_root)
    result = lagged.recover(topo, target, say)
    click.echo(result)


# issue 13 (h-failover): a refused recover-from-lagged leaves replay paused; this resumes it
@cluster.command("resume-lagged")
@root_option
@click.pass_context
def resume_lagged(ctx: click.Context, cluster_root: Path | None) -> None:
    """Resume WAL replay on the lagged copy (left paused by a refused recover-from-lagged)."""
    click.echo(lagged.resume(load_topology(ctx, cluster_root)))


# issue 13 (h-failover): the journal's OBRUTEN_PATRONI_URLS, in the order of the write URL's hosts (ADR 0050)
@cluster.command("patroni-urls")
@root_option
@click.pass_context
def patroni_urls(ctx: click.Context, cluster_root: Path | None) -> None:
    """Print the Patroni REST URLs for the journal's patroni_urls setting (ADR 0050)."""
    topo = load_topology(ctx, cluster_root)
    click.echo(",".join(f"http://{m.host}:{m.rest_port}" for m in topo.members if m.can_be_primary))
