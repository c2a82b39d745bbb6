"""`obruten drill list|run`: a fault under a steady write load, reported as JSON and Markdown."""

from __future__ import annotations

from pathlib import Path

import click

from obruten.cluster.cli import load_topology
from obruten.platform import clikit
from obruten.platform.clikit import cluster_root_option, say


@click.group(cls=clikit.Group)
def drill() -> None:
    """Continuity drills against the running cluster (R24)."""


@drill.command("list")
def list_scenarios() -> None:
    """The scenarios `drill run` knows."""
    # the registry brings every drill's machinery (load generator, Raft client, an ops loop): ~130 ms at
    # import (python -X importtime), paid by `drill` commands only, not by every `obruten` command
    from obruten.drill import registry

    for scenario in registry.DRILLS.values():
        click.echo(f"{scenario.name:<18} {scenario.description}")


@drill.command("run")
@click.argument("scenario")
@cluster_root_option
@click.option("--rate", type=float, default=200, show_default=True, help="Writes per second, all writers together.")
@click.option("--writers", type=int, default=2, show_default=True)
@click.option("--timeout", type=float, default=120, show_default=True, help="Seconds to wait for each recovery step.")
@click.option("--report-dir", type=click.Path(path_type=Path), help="Default: <var dir>/drills.")
@click.option("--mode", type=click.Choice(["freeze", "throttle"]), default="freeze", show_default=True,
              help="slow-storage only: stop the primary, or slow it with a stop/continue duty cycle.")
@click.option("--watch-ops-service", is_flag=True,
              help="slow-storage only: wait for the running ops service's alarm instead of judging in-process.")
@click.pass_context
def run(ctx: click.Context, scenario: str, cluster_root: Path | None, rate: float, writers: int, timeout: float,
        report_dir: Path | None, mode: str, watch_ops_service: bool) -> None:
    """Run SCENARIO (host-loss = primary-crash, postgres-crash, switchover, sync-standby-loss, disk-full, partition,
    leader-freeze, slow-storage) and write a report. disk-full needs root (it mounts a small filesystem for the
    primary's WAL); partition needs root (it runs a cluster of its own in network namespaces)."""
    from obruten.drill import registry  # ~130 ms at import, see list_scenarios
    from obruten.drill.registry import DrillRequest

    chosen = registry.get(scenario)
    cfg = clikit.config_from(ctx)
    request = DrillRequest(config=cfg, topology=lambda: load_topology(ctx, cluster_root),
                           report_dir=report_dir or cfg.var_dir / "drills", say=say, rate=rate, writers=writers,
                           timeout=timeout, mode=mode, watch_ops_service=watch_ops_service)
    report = chosen.run(request)
    json_path, md_path = report.write(request.report_dir)
    click.echo(report.to_markdown())
    say(f"Report: {md_path} and {json_path}")
    if not report.passed:
        raise click.ClickException(chosen.when_failed)
