"""A plain streaming hot standby of an embedded primary: ``pg_basebackup -R`` and start.

For tests, benchmarks and small sites without Patroni (a Patroni cluster has its own ``read-copy``
member, see ``obruten.cluster``). The standby streams from the primary over loopback with the
superuser's password in ``primary_conninfo`` (written by ``-R``), and runs as the same service user.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import psycopg

from obruten.platform.pgserver import SUPERUSER, PostgresError, PostgresInstance, pg_bin
from obruten.platform.rows import one


def create_standby(primary: PostgresInstance, var_dir: Path, port: int, name: str = "standby",
                   timeout: float = 600) -> PostgresInstance:
    """Base-back-up ``primary`` into ``var_dir/name``, configure it as a hot standby and start it."""
    standby = PostgresInstance.at(var_dir, port, primary.user.name, name=name)
    if standby.initialized:
        raise PostgresError(f"{standby.data_dir} already holds a database; remove it to make a new standby")
    standby.password_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(primary.password_file, standby.password_file)
    standby.password_file.chmod(0o600)
    standby.data_dir.mkdir(mode=0o700, parents=True)
    primary.user.own(standby.data_dir)  # pg_basebackup, run as the service user, fills it
    env = primary.user.env()
    env["PGPASSWORD"] = primary.password
    result = subprocess.run(
        [pg_bin("pg_basebackup"), "-d", f"host=127.0.0.1 port={primary.port} user={SUPERUSER} application_name={name}",
         "-D", str(standby.data_dir), "-R", "-X", "stream", "-c", "fast", "--no-password"],
        env=env, text=True, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
        **primary.user.popen_kwargs())
    if result.returncode != 0:
        shutil.rmtree(standby.data_dir, ignore_errors=True)
        raise PostgresError(f"pg_basebackup from port {primary.port} failed:\n{result.stderr.strip()[-1500:]}\n"
                            "Check that the primary runs and allows replication connections from 127.0.0.1.")
    with (standby.data_dir / "postgresql.auto.conf").open("a") as fh:
        fh.write(f"\n# --- obruten read copy ---\nport = {port}\nhot_standby = on\n"
                 f"cluster_name = 'obruten-{name}'\n")
    primary.user.own(standby.data_dir)
    standby.start()
    return standby


def wait_replayed(primary_url: str, standby_url: str, timeout: float = 60) -> None:
    """Block until the standby has replayed everything the primary had written at the call."""
    with psycopg.connect(primary_url, autocommit=True) as conn:
        target = one(conn.execute("SELECT pg_current_wal_lsn()").fetchone())[0]
    deadline = time.monotonic() + timeout
    with psycopg.connect(standby_url, autocommit=True) as conn:
        while not one(conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone())[0]:
            if time.monotonic() > deadline:
                raise PostgresError(f"the standby did not replay up to {target} in {timeout:.0f} s; "
                                    "check its log for replication errors")
            time.sleep(0.05)
