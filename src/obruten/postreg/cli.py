"""``obruten postreg``: the review queue's state, for operators (agent tokens: ``obruten wardkit agent-token``)."""

from __future__ import annotations

import asyncio

import click
import psycopg

from obruten.platform import clikit
from obruten.platform.database import url_for


@click.group(cls=clikit.Group)
def postreg() -> None:
    """Post-registration (efterregistrering) of downtime documentation."""


@postreg.command("pending")
@click.pass_context
def pending(ctx: click.Context) -> None:
    """How many entries wait for review, per unit."""
    # the queue's models (pydantic) cost ~100 ms at import (python -X importtime): paid by this command only
    from obruten.postreg import queue

    url = url_for(clikit.config_from(ctx))

    async def count() -> dict[str, int]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await queue.pending_counts(conn)

    try:
        counts = asyncio.run(count())
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"cannot reach the journal's database ({exc}); start it with `obruten db start`") from exc
    if not counts:
        click.echo("Nothing waits for post-registration.")
    for unit, n in sorted(counts.items()):
        click.echo(f"{unit:<20} {n:>6} pending  (review at /postreg/{unit})")
