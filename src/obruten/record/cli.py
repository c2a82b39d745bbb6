"""The journal's commands: ``obruten db …``, ``obruten serve``, ``obruten audit verify``, ``obruten user add``."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import click
import psycopg

from obruten.platform import clikit
from obruten.platform import config as config_mod
from obruten.platform.auth import load_or_create_secret
from obruten.platform.config import Config
from obruten.platform.database import embedded_instance, url_for
from obruten.platform.flags import REGION, Switch
from obruten.readcopy.cli import check_standby
from obruten.record import audit_anchor, staff
from obruten.record import flags as flag_mod
from obruten.record.schema import prepare, prepare_admin


# ---- db ------------------------------------------------------------------------------------------
@click.group(cls=clikit.Group)
def db() -> None:
    """The journal database: the embedded PostgreSQL under var/, or --database-url."""


@db.command("start")
@click.pass_context
def db_start(ctx: click.Context) -> None:
    """Create (first time), start and migrate the database; print its URL."""
    click.echo(prepare_admin(clikit.config_from(ctx), say=clikit.say))


@db.command("stop")
@click.pass_context
def db_stop(ctx: click.Context) -> None:
    """Stop the embedded PostgreSQL."""
    cfg = clikit.config_from(ctx)
    if not cfg.embedded:
        raise click.ClickException("the database is external (--database-url); stop it where it runs")
    embedded_instance(cfg).stop()
    click.echo("stopped")


@db.command("destroy")
@click.confirmation_option(prompt="Delete the embedded database and every record in it?")
@click.pass_context
def db_destroy(ctx: click.Context) -> None:
    """Stop the embedded PostgreSQL and delete its data and log (also when they live outside var/)."""
    cfg = clikit.config_from(ctx)
    if not cfg.embedded:
        raise click.ClickException("the database is external (--database-url); it is not ours to delete")
    pg = embedded_instance(cfg)
    pg.stop()
    shutil.rmtree(pg.data_dir, ignore_errors=True)
    pg.log_file.unlink(missing_ok=True)
    pg.password_file.unlink(missing_ok=True)
    if pg.moved:  # its own directory under /var/lib/obruten
        shutil.rmtree(pg.data_dir.parent, ignore_errors=True)
    click.echo(f"deleted {pg.data_dir}")


@db.command("url")
@click.pass_context
def db_url(ctx: click.Context) -> None:
    """Print the database URL (contains a password: keep it out of logs)."""
    click.echo(url_for(clikit.config_from(ctx)))


# ---- serve ---------------------------------------------------------------------------------------
def serve_journal(cfg: Config, url: str, grace_s: int = 5) -> None:
    """Serve the journal on ``cfg.http_host:cfg.http_port`` until interrupted (uvicorn, ``cfg.workers``
    processes that read their settings from the environment); requests still running when it is
    interrupted get ``grace_s`` seconds to finish."""
    # uvicorn costs ~80 ms at import (python -X importtime), paid only by the commands that serve
    import uvicorn

    # worker processes load the same settings from the environment: hand them all of them
    os.environ.update(config_mod.to_environ(cfg))
    os.environ["OBRUTEN_SERVE_DATABASE_URL"] = url
    os.environ["OBRUTEN_VAR_DIR"] = str(cfg.var_dir.resolve())
    from obruten.platform.metrics import share_across_workers  # prometheus_client: ~55 ms, for `serve` only

    share_across_workers(cfg.var_dir, cfg.workers)  # several workers: /metrics sums over them all
    if not cfg.secret_key:
        os.environ["OBRUTEN_SECRET_KEY"] = load_or_create_secret(cfg.var_dir / "secret_key")
    uvicorn.run("obruten.record.app:create_from_env", factory=True, host=cfg.http_host, port=cfg.http_port,
                workers=cfg.workers, log_level="warning", access_log=False, timeout_graceful_shutdown=grace_s)


@click.command(cls=clikit.Command)
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (default 1).")
@click.option("--read-copy", is_flag=True, default=None, help="Serve a hot standby read-only (läskopia).")
@click.option("--database-url", help="The database to serve (for --read-copy: the standby).")
@click.option("--primary-url", help="Read copy: the primary its spooled audit events are shipped to.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None, read_copy: bool | None,
          database_url: str | None, primary_url: str | None) -> None:
    """Serve the web UI and API (embedded database, or --database-url; --read-copy for a standby)."""
    cfg = clikit.config_from(ctx, http_host=host, http_port=port, workers=workers, read_copy=read_copy,
                             database_url=database_url, primary_url=primary_url)
    url = check_standby(cfg, say=clikit.say) if cfg.read_copy else prepare(cfg, say=clikit.say)
    click.echo(f"Obruten journal on http://{cfg.http_host}:{cfg.http_port}/", err=True)
    serve_journal(cfg, url)


# ---- audit and users -----------------------------------------------------------------------------
@click.group(cls=clikit.Group)
def audit() -> None:
    """The hash-chained access log."""


@audit.command("verify")
@click.option("--anchors", help="Signed anchors of the chain: the ops service's URL or a JSONL file "
                                "(default: var/ops/audit_anchors.jsonl when present).")
@click.option("--trusted-keys", type=click.Path(path_type=Path), help="Keys anchors must be signed with "
                                                                      "(default: var/ops/audit_anchor_key.pub).")
@click.option("--ops-user", help="Log in to the ops service (--anchors URL) as this user; the password is asked.")
@click.option("--ops-token", envvar="OBRUTEN_OPS_TOKEN", help="A bearer token for the ops API instead.")
@click.pass_context
def audit_verify(ctx: click.Context, anchors: str | None, trusted_keys: Path | None, ops_user: str | None,
                 ops_token: str | None) -> None:
    """Recompute the audit chain and check it against its signed anchors; exit 1 if it was tampered with."""
    cfg = clikit.config_from(ctx)
    if ops_user:
        ops_token = audit_anchor.login(anchors or "", ops_user, click.prompt(f"Password for {ops_user}", hide_input=True))
    source, keys = audit_anchor.sources(cfg.var_dir, anchors, trusted_keys, cfg.status_urls.split(","), ops_token)
    found = audit_anchor.load(source, ops_token) if source else []
    verdict = audit_anchor.verify(url_for(cfg), found, audit_anchor.trusted_keys(keys) if found else None)
    for line in verdict.lines():
        click.echo(line, err=not verdict.ok)
    if not verdict.ok:
        sys.exit(1)


@click.group(cls=clikit.Group)
def user() -> None:
    """Staff accounts."""


@user.command("add")
@click.argument("username")
@click.option("--name", "full_name", required=True)
@click.option("--role", type=click.Choice(["physician", "nurse", "admin", "it"]), required=True)
@click.option("--unit", "units", multiple=True, help="Care unit id (repeatable).")
@click.password_option()
@click.pass_context
def user_add(ctx: click.Context, username: str, full_name: str, role: str, units: tuple[str, ...], password: str) -> None:
    """Create a staff account."""
    url = url_for(clikit.config_from(ctx))

    async def create() -> int:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await staff.create(conn, username, full_name, role, password, list(units))

    click.echo(f"created user {username} (id {asyncio.run(create())})")


# ---- feature flags -------------------------------------------------------------------------------
@click.group(cls=clikit.Group)
def flags() -> None:
    """Feature flags: this release's switchable behaviour, per region or unit (off on upgrade)."""


@flags.command("list")
@click.option("--unit", "units", multiple=True, help="Also show the state for this care unit (repeatable).")
@click.pass_context
def flags_list(ctx: click.Context, units: tuple[str, ...]) -> None:
    """Every flag of this release: what it does, and whether it is on region-wide (and for --unit)."""
    url = prepare_admin(clikit.config_from(ctx), say=clikit.say)

    async def read() -> list[Switch]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await flag_mod.switches(conn)

    recorded = asyncio.run(read())
    states = flag_mod.effective(recorded, units)
    for flag in flag_mod.CATALOGUE:
        where = ", ".join(f"{u}: {'PÅ' if states[flag.name][u] else 'av'}" for u in units)
        click.echo(f"{flag.name:<20} {'PÅ' if states[flag.name][REGION] else 'av':<3} {flag.release:<8} {flag.sv}"
                   + (f"  [{where}]" if where else ""))


def _switch(ctx: click.Context, name: str, on: bool, unit: str | None, reason: str, by: str) -> None:
    cfg = clikit.config_from(ctx)
    url = prepare_admin(cfg, say=clikit.say)

    async def write() -> Switch:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await flag_mod.switch(conn, name, on, unit=unit, by=by, reason=reason, var_dir=cfg.var_dir)

    try:
        done = asyncio.run(write())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    click.echo(f"{done.flag} {'PÅ' if done.on else 'AV'} för {unit or 'hela regionen'} (gäller inom 5 s)")


_by = click.option("--by", default=lambda: os.environ.get("SUDO_USER") or os.environ.get("USER") or "root",
                   show_default="the OS user", help="Who switches it (recorded).")


@flags.command("on")
@click.argument("name")
@click.option("--unit", help="Only this care unit (default: the whole region).")
@click.option("--reason", required=True, help="Why (recorded, shown on the incident timeline).")
@_by
@click.pass_context
def flags_on(ctx: click.Context, name: str, unit: str | None, reason: str, by: str) -> None:
    """Switch a flag on for the region or one unit."""
    _switch(ctx, name, True, unit, reason, by)


@flags.command("off")
@click.argument("name")
@click.option("--unit", help="Only this care unit (default: the whole region).")
@click.option("--reason", required=True, help="Why (recorded, shown on the incident timeline).")
@_by
@click.pass_context
def flags_off(ctx: click.Context, name: str, unit: str | None, reason: str, by: str) -> None:
    """Switch a flag off for the region or one unit."""
    _switch(ctx, name, False, unit, reason, by)
