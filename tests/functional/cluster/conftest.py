"""One real cluster for the cluster tests: started once per module, always torn down.

Teardown stops the members cleanly and then SIGKILLs anything left (a failed test may leave a
member half-way), and stops every instance a restore started, so nothing outlives the tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from obruten.cluster import lifecycle
from obruten.cluster.topology import Topology


def free_port_block(size: int = 40) -> int:
    """A base port with ``size`` consecutive free ports above it (checked now; good enough for tests)."""
    for base in range(20000, 32000, 50):
        ok = True
        for port in range(base, base + size):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no block of free ports for the test cluster")


def reachable_tempdir(prefix: str) -> Path:
    """A temp dir the service user can enter (as tests/conftest.py does for the single server)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(path, 0o755)
    return path


def _say(message: str) -> None:
    print(message)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Topology]:
    base = reachable_tempdir("obruten-cluster-")
    topo = Topology.create(base / "cluster", base / "backup", free_port_block(), lag_delay="10s")
    try:
        lifecycle.up(topo, _say, timeout=180)
        yield topo
    finally:
        try:
            lifecycle.down(topo, _say)
        finally:
            lifecycle.kill_everything(topo)
            for d in (topo.backup_root / "scratch", topo.backup_root / "restores"):
                for data in d.glob("*") if d.exists() else []:
                    if (data / "postmaster.pid").exists():
                        from obruten.backup.restore import discard, instance

                        discard(instance(topo, data, 0))
            shutil.rmtree(base, ignore_errors=True)
