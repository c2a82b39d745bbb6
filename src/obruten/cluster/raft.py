"""The Raft DCS's own view (pysyncobj's admin command), to know when it has healed.

A restarted voter takes a moment to rejoin the Raft group; a fault injected before that can leave
the remaining voters without a working majority. Drills wait for ``healthy`` before each fault.
"""

from __future__ import annotations

from pysyncobj.utility import TcpUtility, UtilityException

from obruten.cluster.topology import Member, Topology


def status(m: Member, timeout: float = 1.0) -> dict[str, object] | None:
    try:
        result = TcpUtility(timeout=timeout).executeCommand(f"{m.host}:{m.raft_port}", ["status"])
    except (UtilityException, OSError):
        return None
    return result if isinstance(result, dict) else None


def healthy(topo: Topology) -> bool:
    """Every voter answers, agrees there is a Raft leader and sees every other voter connected."""
    voters = [m for m in topo.members if m.voter]
    for m in voters:
        s = status(m)
        if not s or not s.get("has_quorum") or s.get("leader") is None:
            return False
        if any(v for k, v in s.items() if k.startswith("partner_node_status_server_") and v != 2):
            return False
    return True
