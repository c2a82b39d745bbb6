"""`obruten drill run <scenario>`: a fault under a steady write load, reported as JSON and Markdown."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def drill() -> None:
    """Continuity drills against the running cluster (R24)."""


@drill.command("list")
def list_scenarios() -> None:
    """The scenarios `drill run` knows."""
    from obruten.drill.scenarios import SCENARIOS

    for name in SCENARIOS:
        click.echo(name)
    click.echo("slow-storage")  # obruten.ops.drill_cli: the embedded primary, judged by the ops rules


@drill.command("run")
@click.argument("scenario")
@click.option("--cluster-root", type=click.Path(path_type=Path), envvar="OBRUTEN_CLUSTER_ROOT",
              help="Cluster state directory (default: <var dir>/cluster).")
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
    """Run SCENARIO (primary-crash, postgres-crash, switchover, sync-standby-loss, slow-storage) and write a report."""
    if scenario == "slow-storage":
        from obruten.cli import config_from
        from obruten.ops import drill_cli

        report = drill_cli.run(config_from(ctx), mode, report_dir, timeout, watch_ops_service)
        if not report.passed:
            raise click.ClickException("the drill FAILED its goal (see the report): read the ops rules' durations "
                                       "and the write-path probe's timeout before the next drill")
        return
    from obruten.cli import config_from
    from obruten.cluster.cli import guard, load_topology
    from obruten.drill.scenarios import DrillError
    from obruten.drill.scenarios import run as run_drill

    topo = load_topology(ctx, cluster_root)
    try:
        report = guard(lambda: run_drill(topo, scenario, lambda s: click.echo(s, err=True), rate, writers,
                                         timeout=timeout))
    except DrillError as exc:
        raise click.ClickException(str(exc)) from exc
    json_path, md_path = report.write(report_dir or config_from(ctx).var_dir / "drills")
    click.echo(report.to_markdown())
    click.echo(f"Report: {md_path} and {json_path}", err=True)
    if not report.passed:
        raise click.ClickException("the drill FAILED its goals (see the report); keep the cluster as it is "
                                   "and read the member logs before changing anything")
