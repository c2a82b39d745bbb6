"""``obruten ops …``: run the ops service, seed demo staff, acknowledge, export a timeline."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import click
import psycopg

from obruten.ops import alarms, timeline, users
from obruten.ops import settings as settings_mod
from obruten.ops.clock import SystemClock
from obruten.ops.store import Store
from obruten.platform import clikit
from obruten.platform import config as config_mod
from obruten.platform.database import url_for


def _settings(ctx: click.Context, **overrides: object) -> settings_mod.Settings:
    base = clikit.root_settings(ctx)
    var_dir = overrides.pop("var_dir", None) or base.get("var_dir")
    overrides.setdefault("ops_database_url", ctx.meta.get("ops_database_url"))
    s = settings_mod.load(file=overrides.pop("ops_config", None), environ=config_mod.environment(),  # type: ignore[arg-type]
                          var_dir=var_dir, **overrides)
    if s.ops_database_url and not s.journal_url:  # every command, not only serve, keeps them apart
        settings_mod.check_apart(s.ops_database_url, _journal_url(ctx))
    return s


def _store(s: settings_mod.Settings) -> Store:
    """Open the ops store, or say clearly why it cannot be opened and what to do."""
    try:
        return Store(s.store_location)
    except psycopg.Error as exc:
        raise click.ClickException(f"cannot open the ops store's database ({exc}); check ops_database_url "
                                   "and that its PostgreSQL server runs") from exc


def _journal_url(ctx: click.Context) -> str | None:
    """The journal's URL from the main configuration, when the ops config names none (the
    embedded database's URL is known without connecting)."""
    base = clikit.root_settings(ctx)
    try:
        cfg = config_mod.load(environ=config_mod.environment(), file=base.get("file"), var_dir=base.get("var_dir"),
                              database_url=base.get("database_url"))
        return url_for(cfg)
    except (OSError, ValueError):
        return None


@click.group(cls=clikit.Group)
@click.option("--ops-database-url",
              help="Keep the ops store in this PostgreSQL database (not the journal's) instead of "
                   "var/ops/ops.sqlite3 (or OBRUTEN_OPS_DATABASE_URL).")
@click.pass_context
def ops(ctx: click.Context, ops_database_url: str | None) -> None:
    """The ops service: probes, alarms with escalation, incidents, preparedness."""
    ctx.meta["ops_database_url"] = ops_database_url


@ops.command("serve")
@click.option("--port", type=int, help="HTTP port (default 8010).")
@click.option("--host", help="Listen address (loopback by default).")
@click.option("--ops-config", type=click.Path(path_type=Path), help="Ops TOML file (default var/ops/ops.toml).")
@click.option("--journal-url", help="PostgreSQL URL of the journal primary to probe.")
@click.option("--tick", "tick_s", type=float, help="Seconds between probe rounds (default 5).")
@click.pass_context
def serve(ctx: click.Context, port: int | None, host: str | None, ops_config: Path | None,
          journal_url: str | None, tick_s: float | None) -> None:
    """Run the ops loop and its web console / API until interrupted."""
    # the service and its web (FastAPI) cost ~300 ms at import (python -X importtime), uvicorn ~80 ms:
    # paid only by `ops serve`, not by every `obruten` command
    import uvicorn

    from obruten.ops.app import create_app
    from obruten.ops.service import OpsService

    s = _settings(ctx, port=port, host=host, ops_config=ops_config, journal_url=journal_url, tick_s=tick_s)
    if s.journal_url is None:
        found = _journal_url(ctx)
        if found:
            s = _settings(ctx, ops_config=ops_config, var_dir=s.var_dir, port=s.port, host=s.host,
                          journal_url=found, tick_s=tick_s)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s ops %(message)s")
    warning = s.store_warning()
    if warning:
        click.echo(f"WARNING: {warning}", err=True)
    service = OpsService(s, store=_store(s))
    stop = threading.Event()
    loop = threading.Thread(target=service.run, args=(stop,), name="ops-loop", daemon=True)
    loop.start()
    click.echo(f"Obruten ops on {s.base_url}/console (store {s.ops_database_url and 'PostgreSQL' or s.store_file}; probing "
               f"{'the journal' if s.journal_url else 'no journal: set journal_url'})", err=True)
    server = uvicorn.Server(uvicorn.Config(create_app(service), host=s.host, port=s.port, log_level="warning"))
    try:
        server.run()
    finally:
        stop.set()
        loop.join(timeout=20)
        service.store.close()


@ops.command("seed-demo")
@click.pass_context
def seed_demo(ctx: click.Context) -> None:
    """Create the demo on-call staff (it/demo, tib/demo, …) in the ops store."""
    s = _settings(ctx)
    store = _store(s)
    made = users.seed_demo(store, SystemClock().now())
    click.echo("created: " + ", ".join(made) if made else "demo staff already exist")


@ops.command("alarms")
@click.option("--all", "show_all", is_flag=True, help="Include resolved alarms.")
@click.pass_context
def list_alarms(ctx: click.Context, show_all: bool) -> None:
    """List active alarms."""
    store = _store(_settings(ctx))
    for a in alarms.recent(store) if show_all else alarms.active(store):
        click.echo(f"{a.id:>5}  {a.severity:<8} {a.state:<12} {a.opened_at:%Y-%m-%d %H:%M:%S}Z  {a.summary}")


@ops.command("ack")
@click.argument("alarm_id", type=int)
@click.option("--user", "who", required=True, help="Who acknowledges (recorded).")
@click.pass_context
def ack(ctx: click.Context, alarm_id: int, who: str) -> None:
    """Acknowledge an alarm from the command line (stops its escalation)."""
    s = _settings(ctx)
    store = _store(s)
    done = alarms.acknowledge(store, s.var_dir, alarm_id, who, SystemClock().now(), via="cli")
    click.echo("acknowledged" if done else "was not firing; nothing to do")


@ops.command("timeline")
@click.argument("incident_id", type=int)
@click.pass_context
def export_timeline(ctx: click.Context, incident_id: int) -> None:
    """Print an incident's timeline as JSON."""
    store = _store(_settings(ctx))
    try:
        click.echo(json.dumps(timeline.export(store, incident_id), ensure_ascii=False, indent=2))
    except KeyError as exc:
        raise click.ClickException(f"no incident {incident_id}") from exc


def spawn(var_dir: Path, port: int = 8010, journal_url: str | None = None, seed_demo: bool = True,
          log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``obruten ops serve`` in a subprocess of its own session (for ``make demo``); returns the
    Popen. The caller stops it with ``proc.send_signal(signal.SIGINT)`` then ``proc.wait()``."""
    base = [sys.executable, "-c", "from obruten.cli import main; main()", "--var-dir", str(var_dir), "ops"]
    if seed_demo:
        subprocess.run([*base, "seed-demo"], check=True, capture_output=True)
    args = [*base, "serve", "--port", str(port)]
    if journal_url:
        args += ["--journal-url", journal_url]
    log_file = log_file or var_dir / "log" / "ops.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)

