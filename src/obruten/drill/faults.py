"""What a drill scenario is made of: the fault it injects, the arrangement some scenarios need
first, the cluster health every drill starts from and returns to, and the drill's own error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from obruten.cluster import raft
from obruten.cluster.members import ClusterView, all_streaming
from obruten.cluster.topology import Topology
from obruten.platform.errors import ObrutenError


class DrillError(ObrutenError, RuntimeError):
    """The drill could not run (the cluster was not healthy to begin with, …); says what to do."""


@dataclass(frozen=True)
class Fault:
    victim: str
    sentence: str
    restart_victim: bool  # the drill brings the victim's node back after writes resume
    detected: Callable[[ClusterView], bool]
    # a fault that lasts until it is ended (disk-full: space is freed): ``heal`` ends it, at the
    # latest ``hold_s`` after detection, and a failed write counts as detection
    heal: Callable[[], str] | None = None
    hold_s: float = 0.0


@dataclass(frozen=True)
class Prepared:
    """A scenario that needs the cluster arranged first (and put back afterwards)."""
    inject: Callable[[Topology, ClusterView], Fault]
    cleanup: Callable[[], None]


def healthy(topo: Topology) -> Callable[[ClusterView], bool]:
    """Every member streams, a *site* is a synchronous standby (the read copy holds that role only
    while no site standby streams) and the Raft DCS has healed."""
    streaming = all_streaming([m.name for m in topo.members], (topo.lagged_copy.name,))
    sites = {m.name for m in topo.sites}
    return lambda v: streaming(v) and bool(sites & set(v.sync_standbys)) and raft.healthy(topo)
