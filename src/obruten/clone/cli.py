"""``obruten clone --pseudonymise``: a production-like test environment without production's people."""

from __future__ import annotations

from pathlib import Path

import click

from obruten.clone.check import CheckReport, check
from obruten.clone.transfer import CloneError, CloneReport, clone
from obruten.platform import clikit
from obruten.platform.database import start
from obruten.platform.pgserver import DATABASE, PostgresInstance


@click.command(cls=clikit.Command)
@click.option("--pseudonymise", is_flag=True, help="Required: say that you want the pseudonymised clone (there is no other).")
@click.option("--from", "source", metavar="URL", help="The source journal (default: this machine's database). A standby is fine.")
@click.option("--to", "target", metavar="URL", help="An empty database on a server where this URL is a superuser.")
@click.option("--test-env", "test_env", type=click.Path(path_type=Path),
              help="Instead of --to: create an embedded PostgreSQL in this directory and clone into it.")
@click.option("--port", type=int, default=54339, show_default=True, help="The test environment's PostgreSQL port.")
@click.option("--max-shift-days", type=click.IntRange(1, 365), default=30, show_default=True,
              help="Dates of each patient move back by 1..N whole days (the same for all of that patient's rows).")
@click.option("--check-only", is_flag=True, help="Only prove that nothing of the source's identities is in the target.")
@click.pass_context
def clone_command(ctx: click.Context, pseudonymise: bool, source: str | None, target: str | None,
                  test_env: Path | None, port: int, max_shift_days: int, check_only: bool) -> None:
    """Copy a journal into a new database with every identity replaced (synthetic personal numbers
    and names, free text scrubbed, dates shifted per patient), then prove nothing of the source's
    identities is left. Same shape, volume and distributions as the source."""
    if not pseudonymise and not check_only:
        raise click.UsageError("a clone of the journal is always pseudonymised: add --pseudonymise")
    if (target is None) == (test_env is None):
        raise click.UsageError("give exactly one of --to URL or --test-env DIR")
    source_url = source or start(clikit.config_from(ctx), say=clikit.say)
    if test_env is not None:
        target = _test_env(test_env, port)
    assert target is not None
    if source_url == target:
        raise click.UsageError("the target is the source: clone into another database")
    if not check_only:
        clikit.say("Cloning (source read in one read-only snapshot; nothing is written there) …")
        _print_clone(clone(source_url, target, max_shift_days=max_shift_days, progress=clikit.progress_bar(),
                           say=clikit.say))
    clikit.say("Checking that nothing of the source's identities is left …")
    result = check(source_url, target, progress=clikit.progress_bar())
    _print_check(result)
    if test_env is not None:
        click.echo("Test environment ready (the URL holds a password: keep it out of logs and tickets).\n"
                   f"  serve it:       obruten --var-dir {test_env} --database-url '{target}' serve\n"
                   "  passwords are not cloned, so nobody can log in yet; create test accounts:\n"
                   f"  obruten --database-url '{target}' user add NAME --name 'Test Testsson' --role nurse --unit UNIT --password …")
    if not result.passed:
        raise CloneError("the check found source identities in the target (listed above): do not use this "
                         "clone; report it and delete the target database")


def _test_env(directory: Path, port: int) -> str:
    pg = PostgresInstance.at(directory, port)
    if not pg.initialized:
        clikit.say(f"Creating the test environment's PostgreSQL in {pg.data_dir} …")
        pg.init()
    if not pg.is_running():
        clikit.say(f"Starting it on 127.0.0.1:{port} (log: {pg.log_file}) …")
        pg.start()
    pg.ensure_database(DATABASE)
    return pg.url()


def _print_clone(report: CloneReport) -> None:
    rows = sum(report.rows.values())
    click.echo(f"Cloned {rows:,} rows from {len(report.rows)} tables in {report.seconds:.1f} s "
               f"(schema {report.schema[-1] if report.schema else '?'}); {report.names_replaced:,} names and user names replaced in text.")
    for name, count in report.rows.items():
        click.echo(f"  {name:<28} {count:>12,}")
    for name in report.left_out:
        click.echo(f"  left out: {name}")


def _print_check(report: CheckReport) -> None:
    verdict = "PASSED" if report.passed else "FAILED"
    click.echo(f"Check {verdict} in {report.seconds:.1f} s: {report.patients:,} patients, {report.staff:,} staff, "
               f"{report.texts:,} text values compared against the source.")
    for finding in report.findings:
        click.echo(f"  found: {finding}")
