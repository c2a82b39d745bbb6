"""`cluster up --read-copies N`: further hot standbys for read copies behind the balancer."""

from __future__ import annotations

from pathlib import Path

import pytest

from obruten.cluster import patroni
from obruten.cluster.topology import Topology, TopologyError


def test_further_read_copies_are_standbys_that_never_vote_sync_or_take_over(tmp_path: Path) -> None:
    topo = Topology.create(tmp_path / "c", tmp_path / "b", 55400, read_copies=3)
    assert [m.name for m in topo.read_copies] == ["read-copy", "read-copy-2", "read-copy-3"]
    assert topo.read_copy.name == "read-copy"  # the cluster's own read copy stays the last sync candidate
    conf = {m.name: patroni.render(topo, m) for m in topo.members}
    assert conf["read-copy"]["tags"] == {"nofailover": True, "sync_priority": 1}
    assert conf["read-copy-2"]["tags"] == conf["read-copy-3"]["tags"] == {"nofailover": True, "nosync": True}
    assert [m.name for m in topo.members if m.voter] == ["site-a", "site-b", "read-copy"]  # three voters
    ports = [p for m in topo.members for p in (m.pg_port, m.rest_port, m.raft_port)]
    assert len(ports) == len(set(ports))
    Topology.save(topo)
    assert [m.name for m in Topology.load(topo.root).read_copies] == ["read-copy", "read-copy-2", "read-copy-3"]
    with pytest.raises(TopologyError, match="read-copies"):
        Topology.create(tmp_path / "d", tmp_path / "e", read_copies=8)
