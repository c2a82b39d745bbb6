"""Developer commands: ``obruten seed`` (a synthetic region) and ``obruten demo`` (everything on one machine)."""

from __future__ import annotations

import asyncio
import subprocess

import click
import psycopg

from obruten.devtools import demo as demo_mod
from obruten.devtools import seed as seed_mod
from obruten.ops.cli import spawn as spawn_ops
from obruten.platform import clikit
from obruten.platform.database import embedded_instance
from obruten.record.cli import serve_journal
from obruten.record.schema import app_url, prepare_admin
from obruten.status.cli import wire_demo


@click.command(cls=clikit.Command)
@click.option("--patients", type=click.IntRange(1, 5_000_000), default=2000, show_default=True)
@click.option("--seed", "seed_value", type=int, default=1, show_default=True, help="Random seed (same seed, same region).")
@click.pass_context
def seed(ctx: click.Context, patients: int, seed_value: int) -> None:
    """Generate a synthetic region (fake personal numbers, demo logins) into an empty database."""
    url = prepare_admin(clikit.config_from(ctx), say=clikit.say)
    counts = seed_mod.generate(url, patients, seed=seed_value, progress=clikit.progress_bar())
    click.echo(", ".join(f"{k}: {v:,}" for k, v in counts.items()))


DEMO_LOGINS = (("lakare", "läkare / physician"), ("sjukskoterska", "sjuksköterska / nurse"),
               ("admin", "administratör / admin"), ("it", "IT-drift / IT operations"))

# Ctrl-C stops the whole demo within ~5 s: the journal's running requests get JOURNAL_GRACE_S, then the
# side processes and PostgreSQL get SIDE_STOP_S together before they are killed
JOURNAL_GRACE_S = 1  # uvicorn takes whole seconds
SIDE_STOP_S = 2.5


@click.command(cls=clikit.Command)
@click.option("--patients", type=click.IntRange(1, 5_000_000), default=2000, show_default=True)
@click.option("--port", type=int, default=None)
@click.option("--ops-port", type=int, default=8010, show_default=True)
@click.option("--ward-pc-port", type=int, default=8020, show_default=True, help="The demo ward PC's agent.")
@click.pass_context
def demo(ctx: click.Context, patients: int, port: int | None, ops_port: int, ward_pc_port: int) -> None:
    """Start the embedded database, seed a synthetic region (first run only) and serve the UI."""
    cfg = clikit.config_from(ctx, http_port=port)
    stopping = demo_mod.Stopping()  # Ctrl-C from here on stops whatever was started, and only that
    side: list[subprocess.Popen] = []
    try:
        admin = prepare_admin(cfg, say=clikit.say)
        if not asyncio.run(_has_region(admin)):
            click.echo(f"Generating a synthetic region with {patients:,} patients …", err=True)
            seed_mod.generate(admin, patients, progress=clikit.progress_bar())
        else:
            click.echo("Reusing the region already in the database (make clean starts over).", err=True)
        url = app_url(admin, cfg.var_dir / "app-password")  # the journal, ops probe and kit builder: least privilege
        base = f"http://{cfg.http_host}:{cfg.http_port}/"
        wire_demo(cfg.var_dir, f"http://{cfg.http_host}:{ops_port}")  # the banner follows the ops status service
        side.append(spawn_ops(cfg.var_dir, port=ops_port, journal_url=url))
        side.append(demo_mod.spawn_kit_builder(cfg.var_dir, url))
        ward = demo_mod.demo_ward(url)
        if ward:
            side.append(demo_mod.spawn_ward_agent(cfg.var_dir, ward, base.rstrip("/"),
                                                  f"http://{cfg.http_host}:{ops_port}", port=ward_pc_port))
        _welcome(base, cfg.http_host, ops_port, ward, ward_pc_port)
        serve_journal(cfg, url, grace_s=JOURNAL_GRACE_S)
    except KeyboardInterrupt:
        pass
    finally:
        stopping.begin()
        click.echo("Stopping the demo …", err=True)
        sentence = demo_mod.stop(side, embedded_instance(cfg) if cfg.embedded else None, SIDE_STOP_S,
                                 stopping.hurry, clikit.say)
        click.echo(f"Demo {sentence}.", err=True)


def _welcome(base: str, host: str, ops_port: int, ward: str | None, ward_pc_port: int) -> None:
    click.echo("\n" + "=" * 64)
    click.echo(f"  Obruten journal: {base}")
    click.echo(f"  API:             {base}api/v1/openapi.json")
    click.echo("  Demo logins (password 'demo'):")
    for login, role in DEMO_LOGINS:
        click.echo(f"    {login:<15} {role}")
    click.echo(f"  Ops console:     http://{host}:{ops_port}/  (logins it / tib, password 'demo')")
    if ward:
        click.echo(f"  Ward PC ({ward}): http://{host}:{ward_pc_port}/  (downtime kit and documentation;"
                   " kits are rebuilt every 5 minutes)")
    click.echo("  Ctrl-C stops everything.")
    click.echo("=" * 64 + "\n")


async def _has_region(url: str) -> bool:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM patient)")
        row = await cur.fetchone()
        return bool(row and row[0])
