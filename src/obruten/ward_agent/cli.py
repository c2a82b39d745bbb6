"""``obruten ward-agent``: run a ward's agent (fetch loop + local web page)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from obruten.platform import clikit, config
from obruten.ward_agent.settings import load


@click.command("ward-agent", cls=clikit.Command)
@click.option("--agent-config", type=click.Path(path_type=Path),
              help="The agent's TOML settings file (or OBRUTEN_AGENT_CONFIG); flags and OBRUTEN_AGENT_* win over it.")
@click.option("--unit", help="The care unit this PC serves.")
@click.option("--journal-url", "journal_urls", multiple=True,
              help="Where kits are fetched (repeatable, tried in order: the journal, then the read copy).")
@click.option("--token", help="The unit's agent token (`obruten wardkit agent-token --unit U`); or OBRUTEN_AGENT_TOKEN.")
@click.option("--trusted-keys", type=click.Path(path_type=Path),
              help="Trusted kit signing keys (default VAR_DIR/agent/trusted_keys).")
@click.option("--ops-url", help="The ops service, to report this agent and its kit age.")
@click.option("--ops-token", help="The ops service's agent token (or OBRUTEN_OPS_AGENT_TOKEN; default: --token).")
@click.option("--status-url", "status_urls", multiple=True,
              help="A status service to follow for the region's status message (e.g. the ops service's URL).")
@click.option("--status-trusted-keys", type=click.Path(path_type=Path),
              help="Keys status messages may be signed with (default: VAR_DIR/status/trusted_keys).")
@click.option("--host", help="Listen address (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 8020).")
@click.option("--every", "every_s", type=click.FloatRange(5, 3600), help="Seconds between fetches (default 60).")
@click.option("--stale-after", type=click.FloatRange(1, 1440),
              help="Minutes after which the page shows the stale-kit alarm (default 15).")
@click.option("--language", type=click.Choice(["sv", "en"]), help="Language of the page (default sv).")
@click.pass_context
def ward_agent(ctx: click.Context, agent_config: Path | None, unit: str | None, journal_urls: tuple[str, ...],
               token: str | None, trusted_keys: Path | None, ops_url: str | None, ops_token: str | None,
               status_urls: tuple[str, ...], status_trusted_keys: Path | None, host: str | None, port: int | None,
               every_s: float | None, stale_after: float | None, language: str | None) -> None:
    """Fetch, verify and keep this ward's downtime kits; serve them on http://HOST:PORT/."""
    # the agent's web (FastAPI) costs ~300 ms at import (python -X importtime), uvicorn ~80 ms: paid
    # only when an agent runs, not by every `obruten` command
    import uvicorn

    from obruten.ward_agent.app import create_app

    settings = load(agent_config, environ=config.environment(), var_dir=clikit.root_settings(ctx).get("var_dir"),
                    unit=unit, journal_urls=journal_urls or None, token=token, trusted_keys=trusted_keys,
                    ops_url=ops_url, ops_token=ops_token, status_urls=status_urls or None,
                    status_trusted_keys=status_trusted_keys, host=host, port=port, fetch_every_s=every_s,
                    stale_after_min=stale_after, language=language)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    keys = settings.trusted_keys_file
    if not keys.exists() or not keys.read_text().strip():
        raise click.ClickException(f"no trusted kit signing keys in {keys}: every kit would be refused. Put the "
                                   "line printed by `obruten wardkit key` (on the kit builder) there")
    app = create_app(settings)
    click.echo(f"ward agent for {settings.unit} on http://{settings.host}:{settings.port}/ (kits in "
               f"{settings.kits_dir})", err=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
