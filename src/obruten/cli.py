"""The ``obruten`` command line: the composition root. Each domain's ``cli.py`` defines its own
commands on the contract in ``obruten.platform.clikit``; this module only adds them to ``obruten``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from obruten.backup.cli import backup
from obruten.clone.cli import clone_command
from obruten.cluster.cli import cluster
from obruten.devtools.cli import demo, seed
from obruten.drill.cli import drill
from obruten.ops.cli import ops
from obruten.platform import clikit
from obruten.postreg.cli import postreg
from obruten.readcopy.cli import read_copy_group, ship_command, verify_spool_command
from obruten.record.cli import audit, db, flags, serve, user
from obruten.status.cli import status
from obruten.upgrade.cli import upgrade
from obruten.ward_agent.cli import ward_agent
from obruten.wardkit.cli import wardkit


@click.group(cls=clikit.Group)
@clikit.root_options
@click.pass_context
def main(ctx: click.Context, config_file: Path | None, var_dir: Path | None, database_url: str | None) -> None:
    """Obruten: a patient record that keeps care going through IT outages."""
    clikit.set_root(ctx, config_file, var_dir, database_url)


audit.add_command(ship_command)
audit.add_command(verify_spool_command)
for command in (status, db, serve, seed, demo, audit, user, flags, upgrade, ops, cluster, backup, drill, wardkit,
                ward_agent, postreg):
    main.add_command(command)
main.add_command(clone_command, name="clone")
main.add_command(read_copy_group)


def run() -> None:  # pragma: no cover
    sys.exit(main())
