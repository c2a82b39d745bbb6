"""The contract every domain's command line builds on.

``obruten`` (``obruten/cli.py``) only composes the domains' command groups; each domain's
``cli.py`` imports this module, never ``obruten.cli``:

- the root context: ``obruten --config/--var-dir/--database-url`` land in ``ctx.obj``, and
  ``config_from(ctx, **overrides)`` turns them (plus a subcommand's own options) into a ``Config``;
- ``Group``/``Command``: click classes whose commands run under ``guard``, so any ``ObrutenError``
  (or a refused file permission) ends the command with its one-line message and exit status 1,
  never a traceback;
- ``say`` (progress and decisions to stderr; stdout keeps the command's result) and
  ``progress_bar()``;
- options more than one domain takes (``cluster_root_option``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import psycopg

from obruten.platform import config as config_mod
from obruten.platform.config import Config
from obruten.platform.errors import ObrutenError
from obruten.platform.progress import Progress

T = TypeVar("T")


# ---- errors --------------------------------------------------------------------------------------
def guard(fn: Callable[[], T]) -> T:
    """Run ``fn``; our own errors (and a refused permission) become one clear line, not a traceback."""
    try:
        return fn()
    except (ObrutenError, PermissionError) as exc:
        raise click.ClickException(str(exc)) from exc
    except psycopg.OperationalError as exc:  # the database is down or unreachable: say so, and what to do
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise click.ClickException(f"the database cannot be reached ({first}); start it with `obruten db start`, "
                                   "or check --database-url / OBRUTEN_DATABASE_URL") from exc


class Command(click.Command):
    """A command whose body runs under ``guard``."""

    def invoke(self, ctx: click.Context) -> Any:
        return guard(lambda: super(Command, self).invoke(ctx))


class Group(click.Group):
    """A group whose commands (and subgroups) are ``Command``s and ``Group``s, so all run under ``guard``."""

    command_class = Command
    group_class = type  # subgroups made with @group.group() are Groups too

    def invoke(self, ctx: click.Context) -> Any:
        return guard(lambda: super(Group, self).invoke(ctx))


# ---- the root context ----------------------------------------------------------------------------
def root_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--config``, ``--var-dir`` and ``--database-url``: the options of ``obruten`` itself."""
    fn = click.option("--database-url", help="Use this PostgreSQL (≥ 15) instead of the embedded one.")(fn)
    fn = click.option("--var-dir", type=click.Path(path_type=Path),
                      help="Where the embedded database and state live.")(fn)
    return click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML settings file.")(fn)


def set_root(ctx: click.Context, config_file: Path | None, var_dir: Path | None, database_url: str | None) -> None:
    """Keep the root options in ``ctx.obj`` for ``config_from`` (click hands ``obj`` to every subcommand)."""
    ctx.obj = {"file": config_file, "var_dir": var_dir, "database_url": database_url}


def root_settings(ctx: click.Context) -> dict[str, Any]:
    """What was given to ``obruten`` itself: ``file``, ``var_dir``, ``database_url`` (each maybe None)."""
    return dict(ctx.obj or {})


def config_from(ctx: click.Context, **overrides: object) -> Config:
    """The configuration: defaults → TOML file → environment → ``obruten``'s options → ``overrides``.

    An override that is None (a subcommand's option that was not given) never hides the same
    option given to ``obruten``."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return config_mod.load(environ=config_mod.environment(), **{**root_settings(ctx), **given})


# ---- output --------------------------------------------------------------------------------------
def say(message: str) -> None:
    """Progress and decisions go to stderr; stdout keeps the command's result."""
    click.echo(message, err=True)


def progress_bar() -> Progress:
    """A ``Progress`` for long jobs: one bar per stage, on stderr."""
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.render_finish()
            bar = click.progressbar(length=max(total, 1), label=f"{stage:<24}", file=sys.stderr, show_pos=True)
            bar.__enter__()
            bars[stage] = bar
        bar.update(done - bar.pos)
        if done >= total:
            bar.render_finish()

    return progress


# ---- options shared by several domains -----------------------------------------------------------
cluster_root_option = click.option(
    "--cluster-root", type=click.Path(path_type=Path), envvar="OBRUTEN_CLUSTER_ROOT",
    help="Cluster state directory (default: <var dir>/cluster).")
"""Every ``cluster``, ``backup`` and ``drill`` command takes this option."""
