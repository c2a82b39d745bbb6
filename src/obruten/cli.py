"""The ``obruten`` command line. Each domain adds its own command group at the bottom."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from obruten.platform import config as config_mod
from obruten.platform.config import Config, ConfigError


def _load(ctx: click.Context, **overrides: object) -> Config:
    base: dict[str, object] = ctx.obj or {}
    try:
        # an option a subcommand was not given (None) never hides the same option given to `obruten`
        given = {key: value for key, value in overrides.items() if value is not None}
        return config_mod.load(**{**base, **given})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


pass_config = click.make_pass_decorator(dict, ensure=True)


@click.group()
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--var-dir", type=click.Path(path_type=Path), help="Where the embedded database and state live.")
@click.option("--database-url", help="Use this PostgreSQL (≥ 15) instead of the embedded one.")
@click.pass_context
def main(ctx: click.Context, config_file: Path | None, var_dir: Path | None, database_url: str | None) -> None:
    """Obruten: a patient record that keeps care going through IT outages."""
    ctx.obj = {"file": config_file, "var_dir": var_dir, "database_url": database_url}


def config_from(ctx: click.Context, **overrides: object) -> Config:
    return _load(ctx, **overrides)


from obruten.status.cli import status  # noqa: E402, I001  (obruten status …)

main.add_command(status)


# ---- db ----------------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """The journal database: the embedded PostgreSQL under var/, or --database-url."""


@db.command("start")
@click.pass_context
def db_start(ctx: click.Context) -> None:
    """Create (first time), start and migrate the database; print its URL."""
    from obruten.record.schema import prepare_admin

    cfg = config_from(ctx)
    url = _guard(lambda: prepare_admin(cfg, say=lambda m: click.echo(m, err=True)))
    click.echo(url)


@db.command("stop")
@click.pass_context
def db_stop(ctx: click.Context) -> None:
    """Stop the embedded PostgreSQL."""
    from obruten.platform.database import embedded_instance

    cfg = config_from(ctx)
    if not cfg.embedded:
        raise click.ClickException("the database is external (--database-url); stop it where it runs")
    embedded_instance(cfg).stop()
    click.echo("stopped")


@db.command("url")
@click.pass_context
def db_url(ctx: click.Context) -> None:
    """Print the database URL (contains a password: keep it out of logs)."""
    from obruten.platform.database import url_for

    click.echo(url_for(config_from(ctx)))


def _guard(fn):  # type: ignore[no-untyped-def]
    """Turn our own errors into one clear line with what to do next, not a traceback."""
    from obruten.platform.pgserver import PostgresError
    from obruten.record.schema import MigrationError

    try:
        return fn()
    except (PostgresError, MigrationError, PermissionError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from exc


def run() -> None:  # pragma: no cover
    sys.exit(main())


# ---- serve, demo, seed -------------------------------------------------------------------------
def _serve(cfg: Config, url: str, host: str, port: int, workers: int) -> None:
    import os

    import uvicorn

    os.environ["OBRUTEN_SERVE_DATABASE_URL"] = url
    os.environ["OBRUTEN_VAR_DIR"] = str(cfg.var_dir.resolve())
    from obruten.platform.metrics import share_across_workers  # prometheus_client: ~55 ms, for `serve` only

    share_across_workers(cfg.var_dir, workers)  # several workers: /metrics sums over them all
    if cfg.read_copy:  # worker processes read their settings from the environment
        from obruten.readcopy.cli import read_copy_environment

        os.environ.update(read_copy_environment(cfg))
    if not cfg.secret_key:
        from obruten.platform.auth import load_or_create_secret

        os.environ["OBRUTEN_SECRET_KEY"] = load_or_create_secret(cfg.var_dir / "secret_key")
    uvicorn.run("obruten.record.app:create_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, timeout_graceful_shutdown=5)


@main.command()
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
    from obruten.record.schema import prepare

    cfg = config_from(ctx, http_host=host, http_port=port, workers=workers, read_copy=read_copy,
                      database_url=database_url, primary_url=primary_url)
    if cfg.read_copy:
        from obruten.readcopy.cli import check_standby

        url = check_standby(cfg, say=lambda m: click.echo(m, err=True))
    else:
        url = _guard(lambda: prepare(cfg, say=lambda m: click.echo(m, err=True)))
    click.echo(f"Obruten journal on http://{cfg.http_host}:{cfg.http_port}/", err=True)
    _serve(cfg, url, cfg.http_host, cfg.http_port, cfg.workers)


def _progress_bar():  # type: ignore[no-untyped-def]
    """A progress callback for long jobs: one bar per stage, on stderr."""
    bars: dict[str, object] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.render_finish()  # type: ignore[attr-defined]
            bar = click.progressbar(length=max(total, 1), label=f"{stage:<24}", file=sys.stderr, show_pos=True)
            bar.__enter__()
            bars[stage] = bar
        bar.update(done - bar.pos)  # type: ignore[attr-defined]
        if done >= total:
            bar.render_finish()  # type: ignore[attr-defined]

    return progress


@main.command()
@click.option("--patients", type=click.IntRange(1, 5_000_000), default=2000, show_default=True)
@click.option("--seed", "seed_value", type=int, default=1, show_default=True, help="Random seed (same seed, same region).")
@click.pass_context
def seed(ctx: click.Context, patients: int, seed_value: int) -> None:
    """Generate a synthetic region (fake personal numbers, demo logins) into an empty database."""
    from obruten.devtools import seed as seed_mod
    from obruten.record.schema import prepare_admin

    cfg = config_from(ctx)
    url = _guard(lambda: prepare_admin(cfg, say=lambda m: click.echo(m, err=True)))
    try:
        counts = seed_mod.generate(url, patients, seed=seed_value, progress=_progress_bar())
    except seed_mod.SeedError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(", ".join(f"{k}: {v:,}" for k, v in counts.items()))


DEMO_LOGINS = (("lakare", "läkare / physician"), ("sjukskoterska", "sjuksköterska / nurse"),
               ("admin", "administratör / admin"), ("it", "IT-drift / IT operations"))


@main.command()
@click.option("--patients", type=click.IntRange(1, 5_000_000), default=2000, show_default=True)
@click.option("--port", type=int, default=None)
@click.option("--ops-port", type=int, default=8010, show_default=True)
@click.option("--ward-pc-port", type=int, default=8020, show_default=True, help="The demo ward PC's agent.")
@click.pass_context
def demo(ctx: click.Context, patients: int, port: int | None, ops_port: int, ward_pc_port: int) -> None:
    """Start the embedded database, seed a synthetic region (first run only) and serve the UI."""
    import asyncio

    from obruten.devtools import seed as seed_mod
    from obruten.platform.database import embedded_instance
    from obruten.record.schema import app_url, prepare_admin

    cfg = config_from(ctx, http_port=port)
    admin = _guard(lambda: prepare_admin(cfg, say=lambda m: click.echo(m, err=True)))
    if not asyncio.run(_has_region(admin)):
        click.echo(f"Generating a synthetic region with {patients:,} patients …", err=True)
        seed_mod.generate(admin, patients, progress=_progress_bar())
    else:
        click.echo("Reusing the region already in the database (make clean starts over).", err=True)
    url = app_url(admin, cfg.var_dir / "app-password")  # the journal, ops probe and kit builder: least privilege
    base = f"http://{cfg.http_host}:{cfg.http_port}/"
    from obruten.ops.cli import spawn as spawn_ops
    from obruten.status.cli import wire_demo

    wire_demo(cfg.var_dir, f"http://{cfg.http_host}:{ops_port}")  # the banner follows the ops status service
    ops_proc = spawn_ops(cfg.var_dir, port=ops_port, journal_url=url)
    from obruten.devtools import demo as demo_mod

    side = [demo_mod.spawn_kit_builder(cfg.var_dir, url)]
    ward = demo_mod.demo_ward(url)
    if ward:
        side.append(demo_mod.spawn_ward_agent(cfg.var_dir, ward, base.rstrip("/"),
                                              f"http://{cfg.http_host}:{ops_port}", port=ward_pc_port))
    click.echo("\n" + "=" * 64)
    click.echo(f"  Obruten journal: {base}")
    click.echo(f"  API:             {base}api/v1/openapi.json")
    click.echo("  Demo logins (password 'demo'):")
    for user, role in DEMO_LOGINS:
        click.echo(f"    {user:<15} {role}")
    click.echo(f"  Ops console:     http://{cfg.http_host}:{ops_port}/  (logins it / tib, password 'demo')")
    if ward:
        click.echo(f"  Ward PC ({ward}): http://{cfg.http_host}:{ward_pc_port}/  (downtime kit and documentation;"
                   " kits are rebuilt every 5 minutes)")
    click.echo("  Ctrl-C stops everything.")
    click.echo("=" * 64 + "\n")
    import signal

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # uvicorn re-raises SIGTERM after its shutdown; we still stop PostgreSQL

    signal.signal(signal.SIGTERM, _terminate)
    try:
        _serve(cfg, url, cfg.http_host, cfg.http_port, cfg.workers)
    except KeyboardInterrupt:
        pass
    finally:
        demo_mod.stop([*side, ops_proc])  # type: ignore[list-item]
        if cfg.embedded:
            click.echo("Stopping PostgreSQL …", err=True)
            embedded_instance(cfg).stop()


async def _has_region(url: str) -> bool:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM patient)")
        row = await cur.fetchone()
        return bool(row and row[0])


# ---- audit and users ------------------------------------------------------------------------------------
@main.group()
def audit() -> None:
    """The hash-chained access log."""


@audit.command("verify")
@click.pass_context
def audit_verify(ctx: click.Context) -> None:
    """Recompute the audit chain; exit 1 and name the first bad event if it was tampered with."""
    from obruten.platform.database import url_for
    from obruten.record import audit as audit_mod

    result = audit_mod.verify(url_for(config_from(ctx)))
    if result.ok:
        click.echo(f"audit chain intact: {result.events:,} events verified")
        return
    click.echo(f"AUDIT CHAIN BROKEN at event id {result.first_bad_id}: {result.problem}. "
               f"Preserve the database as evidence and report it to the information-security officer.", err=True)
    sys.exit(1)


@main.group()
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
    import asyncio

    import psycopg

    from obruten.platform.database import url_for
    from obruten.platform.errors import DomainError
    from obruten.record import staff

    async def run() -> int:
        async with await psycopg.AsyncConnection.connect(url_for(config_from(ctx)), autocommit=True) as conn:
            return await staff.create(conn, username, full_name, role, password, list(units))

    try:
        click.echo(f"created user {username} (id {asyncio.run(run())})")
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc

from obruten.ops.cli import ops  # noqa: E402, I001
main.add_command(ops)
from obruten.readcopy.cli import ship_command, verify_spool_command  # noqa: E402, I001
audit.add_command(ship_command)
audit.add_command(verify_spool_command)
from obruten.cluster.cli import cluster  # noqa: E402, I001
main.add_command(cluster)
from obruten.backup.cli import backup  # noqa: E402, I001
main.add_command(backup)
from obruten.drill.cli import drill  # noqa: E402, I001
main.add_command(drill)
from obruten.wardkit.cli import wardkit  # noqa: E402, I001
main.add_command(wardkit)
from obruten.ward_agent.cli import ward_agent  # noqa: E402, I001
main.add_command(ward_agent)
from obruten.postreg.cli import postreg  # noqa: E402, I001
main.add_command(postreg)
