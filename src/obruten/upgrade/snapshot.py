"""The pre-upgrade snapshot: a base backup of the journal's server and a named restore point.

On a Patroni cluster (``--cluster-root``) the backup package takes it (``obruten backup now``: into
the cluster's catalogue, restorable with ``obruten backup restore``); with the embedded single
database (or any server we may replicate from) it is a plain ``pg_basebackup`` (``-X stream``, so
it restores on its own) under ``var/upgrade/snapshots/<id>``. Either way a restore point named
after the snapshot marks the moment just before the first migration, for point-in-time recovery
from the WAL archive where there is one.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from obruten.platform.errors import ObrutenError
from obruten.platform.pgserver import pg_bin
from obruten.platform.progress import Say


class SnapshotError(ObrutenError, RuntimeError):
    """The snapshot could not be taken; the upgrade did not start."""


@dataclass(frozen=True)
class Snapshot:
    id: str  # also the restore point's name
    where: str  # a directory, or the backup catalogue's label
    seconds: float
    restore_point_lsn: str

    def describe(self) -> str:
        return f"{self.id} ({self.where}, restore point at {self.restore_point_lsn})"


def new_id(now: datetime | None = None) -> str:
    return "obruten-upgrade-" + (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def restore_point(url: str, name: str) -> str:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute("SELECT pg_create_restore_point(%s)::text", (name,)).fetchone()
    return str(row[0]) if row else ""


def take(url: str, var_dir: Path, say: Say, cluster_root: Path | None = None) -> Snapshot:
    """A base backup and a restore point named after it; raises SnapshotError (nothing migrated)."""
    sid = new_id()
    t0 = time.monotonic()
    if cluster_root is not None:
        from obruten.backup import basebackup  # only for clusters: pulls in the cluster topology
        from obruten.cluster.topology import Topology

        backup = basebackup.take(Topology.load(cluster_root), say, full=True)
        where = f"backup {backup.label} in {cluster_root}"
    else:
        dest = var_dir / "upgrade" / "snapshots" / sid
        if dest.exists():
            raise SnapshotError(f"{dest} already exists; wait a second and try again")
        dest.parent.mkdir(parents=True, exist_ok=True)
        say(f"Pre-upgrade snapshot: pg_basebackup into {dest} …")
        done = subprocess.run([pg_bin("pg_basebackup"), "-d", url, "-D", str(dest), "-Fp", "-X", "stream",
                               "-c", "fast", "--no-password", "-l", sid], capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            shutil.rmtree(dest, ignore_errors=True)
            raise SnapshotError(f"the pre-upgrade base backup failed, nothing was migrated: {done.stderr.strip()}")
        dest.chmod(0o700)
        where = str(dest)
    lsn = restore_point(url, sid)
    return Snapshot(sid, where, time.monotonic() - t0, lsn)
