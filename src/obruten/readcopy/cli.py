"""``obruten audit ship`` and ``obruten audit verify-spool``: the read copy's audit spool by hand."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
import psycopg

from obruten.platform import clikit
from obruten.platform.config import Config
from obruten.platform.progress import Say
from obruten.platform.rows import one
from obruten.readcopy import balancer, node_name, spool
from obruten.readcopy.shipper import ship
from obruten.record.schema import pending


def check_standby(cfg: Config, say: Say) -> str:
    """The standby's URL, after checking it answers and carries this version's schema (nothing is written)."""
    if not cfg.database_url:
        raise click.ClickException("--read-copy needs --database-url (or OBRUTEN_DATABASE_URL): the hot standby "
                                   "to serve; the read copy never starts or migrates a database itself")
    try:
        with psycopg.connect(cfg.database_url, connect_timeout=10) as conn:
            in_recovery = one(conn.execute("SELECT pg_is_in_recovery()").fetchone())[0]
        missing = pending(cfg.database_url)
    except psycopg.Error as exc:
        raise click.ClickException(f"cannot read the standby at --database-url ({str(exc).strip()}); is it "
                                   "running and does pg_hba.conf let this host in?") from exc
    if missing:
        raise click.ClickException(f"the standby lacks schema migrations {', '.join(missing)}: upgrade the primary "
                                   "(`obruten db start` there) and let the standby replay it, then start again")
    say(f"Read copy (node {node_name(cfg)}) of a {'hot standby' if in_recovery else 'database NOT in recovery'}; "
        f"audit spool {spool.spool_dir(cfg.var_dir, node_name(cfg))}; "
        + ("shipping to the primary every 5 s" if cfg.primary_url else "no --primary-url: `obruten audit ship` later"))
    return cfg.database_url


def _spool_dirs(var_dir: Path, given: Path | None) -> list[Path]:
    if given is not None:
        return [given]
    root = var_dir / "spool"
    return sorted(p for p in root.iterdir() if (p / spool.SPOOL_FILE).exists()) if root.exists() else []


@click.command("ship", cls=clikit.Command)
@click.option("--spool-dir", type=click.Path(path_type=Path, file_okay=False),
              help="One node's spool (default: every spool under var_dir/spool).")
@click.option("--primary-url", help="The writable primary (default: primary_url from the config / OBRUTEN_PRIMARY_URL).")
@click.option("--batch", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Events per transaction on the primary.")
@click.pass_context
def ship_command(ctx: click.Context, spool_dir: Path | None, primary_url: str | None, batch: int) -> None:
    """Ship spooled read-copy audit events into the primary, exactly once (safe to re-run)."""
    cfg = clikit.config_from(ctx, primary_url=primary_url)
    if not cfg.primary_url:
        raise click.ClickException("no primary to ship to: pass --primary-url or set OBRUTEN_PRIMARY_URL")
    dirs = _spool_dirs(cfg.var_dir, spool_dir)
    if not dirs:
        click.echo(f"no audit spools under {cfg.var_dir / 'spool'}; nothing to ship")
        return
    for directory in dirs:
        click.echo(f"shipping {directory} …", err=True)
        result = asyncio.run(ship(directory, cfg.primary_url, batch, say=lambda m: click.echo(f"  {m}", err=True)))
        click.echo(result.sentence)


@click.command("verify-spool", cls=clikit.Command)
@click.option("--spool-dir", type=click.Path(path_type=Path, file_okay=False),
              help="One node's spool (default: every spool under var_dir/spool).")
@click.pass_context
def verify_spool_command(ctx: click.Context, spool_dir: Path | None) -> None:
    """Recompute a read copy's spool chain; exit 1 and name the first bad event if it was tampered with."""
    cfg = clikit.config_from(ctx)
    broken = False
    dirs = _spool_dirs(cfg.var_dir, spool_dir)
    if not dirs:
        raise click.ClickException(f"no audit spools under {cfg.var_dir / 'spool'}; give --spool-dir")
    for directory in dirs:
        result = spool.verify(directory / spool.SPOOL_FILE, node=directory.name)
        if result.ok:
            click.echo(f"audit spool {directory.name} intact: {result.events:,} events verified")
        else:
            broken = True
            click.echo(f"AUDIT SPOOL {directory.name} BROKEN at event {result.first_bad_id}: {result.problem}. "
                       "Do not ship it; keep the file as evidence and report it to the information-security "
                       "officer.", err=True)
    if broken:
        sys.exit(1)


def _address(text: str, what: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{what} must be HOST:PORT, not {text!r}")
    return host, int(port)


@click.group("read-copy", cls=clikit.Group)
def read_copy_group() -> None:
    """Read copies (läskopior): several behind a load balancer."""


@read_copy_group.command("balancer")
@click.option("--member", "members", multiple=True, required=True, metavar="NAME=HOST:PORT",
              help="A read copy (`obruten serve --read-copy`) to balance over; repeat for each.")
@click.option("--bind", default="127.0.0.1:8080", show_default=True, help="Where HAProxy listens (HOST:PORT).")
@click.option("--max-lag", type=click.FloatRange(0, 3600), default=10.0, show_default=True,
              help="Seconds behind the primary after which a member gets no traffic.")
@click.option("--patroni-port", type=click.IntRange(1, 65535),
              help="Also require Patroni's /replica?lag=… on this REST port of every member's host.")
@click.option("--stats-port", type=click.IntRange(1, 65535), help="Serve HAProxy's stats page on this port.")
@click.option("--print-config", is_flag=True, help="Print the HAProxy configuration (for /etc/haproxy) and exit.")
@click.pass_context
def balancer_command(ctx: click.Context, members: tuple[str, ...], bind: str, max_lag: float,
                     patroni_port: int | None, stats_port: int | None, print_config: bool) -> None:
    """HAProxy over several read copies: only ready members get requests; a lost member costs a retry."""
    parsed = []
    for text in members:
        name, eq, address = text.partition("=")
        if not eq or not name:
            raise click.BadParameter(f"--member must be NAME=HOST:PORT, not {text!r}")
        parsed.append(balancer.Member(name, *_address(address, "--member")))
    host, port = _address(bind, "--bind")
    settings = balancer.Settings(bind_host=host, bind_port=port, max_lag_seconds=max_lag, patroni_port=patroni_port,
                                 stats_port=stats_port)
    try:
        text = balancer.config(parsed, settings)
        if print_config:
            click.echo(text, nl=False)
            return
        lb = balancer.Balancer(clikit.config_from(ctx).var_dir / "balancer", parsed, settings)
        lb.start()
    except balancer.BalancerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"HAProxy on {lb.url} over {', '.join(m.name for m in parsed)}; Ctrl-C stops it", err=True)
    try:
        assert lb.proc is not None
        lb.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        lb.stop()
