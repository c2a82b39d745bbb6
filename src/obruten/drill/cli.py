"""`obruten drill run <scenario>`: a fault under a steady write load, reported as JSON and Markdown."""

from __future__ import annotations

from pathlib import Path

import click

from obruten.cluster.cli import guard, load_topology, root_option, say


@click.group()
def drill() -> None:
    """Continuity drills against the running cluster (R24)."""


@drill.command("list")
def list_scenarios() -> None:
    """The scenarios `drill run` knows."""
    from obruten.drill.scenarios import NAMES

    for name in NAMES:
        click.echo(name)
    click.echo("slow-storage")  # obruten.drill.slow_storage_cli: the embedded primary, judged by the ops rules


@drill.command("run")
@click.argument("scenario")
@root_option
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
    """Run SCENARIO (primary-crash, postgres-crash, switchover, sync-standby-loss, disk-full, slow-storage) and
    write a report. disk-full needs root (it mounts a small filesystem for the primary's WAL)."""
    if scenario == "slow-storage":
        from obruten.cli import config_from
        from obruten.drill import slow_storage_cli as drill_cli

        storage_report = drill_cli.run(config_from(ctx), mode, report_dir, timeout, watch_ops_service)
        if not storage_report.passed:
            raise click.ClickException("the drill FAILED its goal (see the report): read the ops rules' durations "
                                       "and the write-path probe's timeout before the next drill")
        return
    from obruten.cli import config_from
    from obruten.drill.scenarios import run as run_drill

    topo = load_topology(ctx, cluster_root)
    report = guard(lambda: run_drill(topo, scenario, say, rate, writers, timeout=timeout))
    json_path, md_path = report.write(report_dir or config_from(ctx).var_dir / "drills")
    click.echo(report.to_markdown())
    click.echo(f"Report: {md_path} and {json_path}", err=True)
    if not report.passed:
        raise click.ClickException("the drill FAILED its goals (see the report); keep the cluster as it is "
                                   "and read the member logs before changing anything")
