"""``obruten postreg``: ward-agent tokens and the review queue's state, for operators."""

from __future__ import annotations

import asyncio

import click

from obruten.auth import TokenSigner, load_or_create_secret
from obruten.cli import config_from
from obruten.postreg import agents


@click.group()
def postreg() -> None:
    """Post-registration (efterregistrering) of downtime documentation."""


@postreg.command("agent-token")
@click.option("--unit", required=True, help="The care unit the ward agent serves.")
@click.option("--device", required=True, help="The agent's device id (e.g. its host name).")
@click.pass_context
def agent_token(ctx: click.Context, unit: str, device: str) -> None:
    """Print a token that lets one ward agent submit its unit's downtime documentation."""
    cfg = config_from(ctx)
    signer = TokenSigner(cfg.secret_key or load_or_create_secret(cfg.var_dir / "secret_key"), cfg.session_hours)
    try:
        click.echo(agents.issue(signer, unit, device))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@postreg.command("pending")
@click.pass_context
def pending(ctx: click.Context) -> None:
    """How many entries wait for review, per unit."""
    import psycopg

    from obruten.database import url_for

    async def run() -> dict[str, int]:
        from obruten.postreg import queue

        async with await psycopg.AsyncConnection.connect(url_for(config_from(ctx))) as conn:
            return await queue.pending_counts(conn)

    counts = asyncio.run(run())
    if not counts:
        click.echo("Nothing waits for post-registration.")
    for unit, n in sorted(counts.items()):
        click.echo(f"{unit:<20} {n:>6} pending  (review at /postreg/{unit})")
