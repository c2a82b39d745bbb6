"""`obruten cluster up --read-copies 2`: a further read-copy standby joins, streams and is never a
candidate; it serves a read copy like the first one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import psycopg
import pytest

from obruten.cluster import lifecycle
from obruten.cluster.members import view
from obruten.cluster.topology import Topology
from obruten.platform.rows import one

from .conftest import _say, free_port_block, reachable_tempdir

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def two_read_copies() -> Iterator[Topology]:
    base = reachable_tempdir("obruten-cluster-rc-")
    topo = Topology.create(base / "cluster", base / "backup", free_port_block(), lag_delay="10s", read_copies=2)
    try:
        lifecycle.up(topo, _say, timeout=240)
        yield topo
    finally:
        try:
            lifecycle.down(topo, _say)
        finally:
            lifecycle.kill_everything(topo)
            shutil.rmtree(base, ignore_errors=True)


def test_a_second_read_copy_streams_and_is_never_promoted_or_synchronous(two_read_copies: Topology) -> None:
    topo = two_read_copies
    snap = view(topo)
    second = next(m for m in snap.members if m.name == "read-copy-2")
    assert second.role != "leader" and "read-copy-2" not in snap.sync_standbys
    with psycopg.connect(topo.member_url(topo.member("read-copy-2"))) as conn:
        assert one(conn.execute("SELECT pg_is_in_recovery()").fetchone())[0] is True
        assert one(conn.execute("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'").fetchone())[0] == 1
