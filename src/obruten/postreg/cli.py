"""``obruten postreg``: the review queue's state, for operators (agent tokens: ``obruten wardkit agent-token``)."""

from __future__ import annotations

import asyncio

import click

from obruten.cli import config_from


@click.group()
def postreg() -> None:
    """Post-registration (efterregistrering) of downtime documentation."""


@postreg.command("pending")
@click.pass_context
def pending(ctx: click.Context) -> None:
    """How many entries wait for review, per unit."""
    import psycopg

    from obruten.platform.database import url_for
    from obruten.postreg import queue

    async def run() -> dict[str, int]:
        async with await psycopg.AsyncConnection.connect(url_for(config_from(ctx))) as conn:
            return await queue.pending_counts(conn)

    try:
        counts = asyncio.run(run())
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"cannot reach the journal's database ({exc}); start it with `obruten db start`") from exc
    if not counts:
        click.echo("Nothing waits for post-registration.")
    for unit, n in sorted(counts.items()):
        click.echo(f"{unit:<20} {n:>6} pending  (review at /postreg/{unit})")
