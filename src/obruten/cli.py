"""The ``obruten`` command line. Each domain adds its own command group at the bottom."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from obruten import config as config_mod
from obruten.config import Config, ConfigError


def _load(ctx: click.Context, **overrides: object) -> Config:
    base: dict[str, object] = ctx.obj or {}
    try:
        return config_mod.load(**{**base, **overrides})
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


# ---- db ----------------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """The journal database: the embedded PostgreSQL under var/, or --database-url."""


@db.command("start")
@click.pass_context
def db_start(ctx: click.Context) -> None:
    """Create (first time), start and migrate the database; print its URL."""
    from obruten.database import prepare

    cfg = config_from(ctx)
    url = _guard(lambda: prepare(cfg, say=lambda m: click.echo(m, err=True)))
    click.echo(url)


@db.command("stop")
@click.pass_context
def db_stop(ctx: click.Context) -> None:
    """Stop the embedded PostgreSQL."""
    from obruten.database import embedded_instance

    cfg = config_from(ctx)
    if not cfg.embedded:
        raise click.ClickException("the database is external (--database-url); stop it where it runs")
    embedded_instance(cfg).stop()
    click.echo("stopped")


@db.command("url")
@click.pass_context
def db_url(ctx: click.Context) -> None:
    """Print the database URL (contains a password: keep it out of logs)."""
    from obruten.database import url_for

    click.echo(url_for(config_from(ctx)))


def _guard(fn):  # type: ignore[no-untyped-def]
    """Turn our own errors into one clear line with what to do next, not a traceback."""
    from obruten.pgserver import PostgresError
    from obruten.schema import MigrationError

    try:
        return fn()
    except (PostgresError, MigrationError, PermissionError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from exc


def run() -> None:  # pragma: no cover
    sys.exit(main())
