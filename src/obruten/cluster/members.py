"""What the members say about themselves: Patroni's REST API, read into immutable snapshots.

A ``ClusterView`` is one snapshot; decisions (wait for a leader, choose a switchover candidate)
are taken against it, never against live calls half-way through.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from obruten.cluster import announce, patroni, raft
from obruten.cluster.topology import Member, Topology
from obruten.platform import http
from obruten.platform.errors import ObrutenError

SYNC_ROLES = ("sync_standby", "quorum_standby")


class ClusterError(ObrutenError, RuntimeError):
    """The cluster did not reach the state asked for; the message says what to do next."""


@dataclass(frozen=True)
class MemberState:
    name: str
    role: str  # leader, sync_standby, quorum_standby, replica, or "down"
    state: str  # running, streaming, starting, stopped, … or "unreachable"
    timeline: int | None
    lag_bytes: int | None


NO_MAJORITY = "no DCS majority"  # a member that answers but whose Raft node cannot reach a majority


@dataclass(frozen=True)
class ClusterView:
    at: float
    members: tuple[MemberState, ...]
    # whether a majority of the Raft voters agree (None: not asked); without one there is no leader
    quorum: bool | None = None
    source: str | None = None  # the member whose DCS view (of the majority) this is
    gone: tuple[str, ...] = ()  # voters whose Raft node does not answer

    @property
    def leader(self) -> str | None:
        if self.quorum is False:
            return None
        for m in self.members:
            if m.role == "leader" and m.state == "running":
                return m.name
        return None

    @property
    def sync_standbys(self) -> list[str]:
        """Standbys a commit may wait for (``quorum_standby`` in quorum commit mode)."""
        return [m.name for m in self.members if m.role in SYNC_ROLES]

    def state_of(self, name: str) -> MemberState | None:
        return next((m for m in self.members if m.name == name), None)

    def sentence(self) -> str:
        parts = [f"{m.name}={m.role}/{m.state}" for m in self.members]
        head = "leader " + (self.leader or "NONE")
        if self.quorum is False:
            head += " (Raft DCS without majority" + (f"; gone: {', '.join(self.gone)}" if self.gone else "") + ")"
        return head + ": " + ", ".join(parts)


def _request(url: str, method: str = "GET", body: dict[str, object] | None = None,
             timeout: float = 2.0) -> tuple[int, object]:
    """Patroni's answer (status, JSON or text), whatever the status; one of ``http.FAILURES``
    when it does not answer."""
    with http.client(timeout) as client:
        response = client.request(method, url, json=body)
    try:
        return response.status_code, json.loads(response.text)
    except json.JSONDecodeError:
        return response.status_code, response.text


def api(m: Member) -> str:
    return f"http://{m.host}:{m.rest_port}"


def _tag(status: dict[str, object] | None, name: str) -> object:
    """One of the tags in a member's Patroni status (None when it has no such tag or did not answer)."""
    tags = (status or {}).get("tags")
    return tags.get(name) if isinstance(tags, dict) else None


def member_status(m: Member, timeout: float = 1.0) -> dict[str, object] | None:
    """Patroni's own view of one member (GET /patroni), or None if its Patroni does not answer."""
    try:
        _, body = _request(api(m) + "/patroni", timeout=timeout)
    except http.FAILURES:
        return None
    return body if isinstance(body, dict) else None


def _dcs_members(m: Member, timeout: float) -> dict[str, MemberState] | None:
    """The cluster as the DCS known to ``m``'s Patroni describes it (GET /cluster), or None."""
    try:
        status, body = _request(api(m) + "/cluster", timeout=timeout)
    except http.FAILURES:
        return None
    if status != 200 or not isinstance(body, dict):
        return None
    out = {}
    for row in body.get("members", []):
        lag = row.get("lag") if isinstance(row.get("lag"), int) else (0 if row.get("role") == "leader" else None)
        out[row["name"]] = MemberState(row["name"], row.get("role", "?"), row.get("state", "?"),
                                       row.get("timeline"), lag)
    return out


def _own_state(name: str, own: dict[str, object]) -> MemberState:
    """A member described by itself (GET /patroni) when no majority vouches for it."""
    role = str(own.get("role", "?"))
    timeline = own.get("timeline")
    return MemberState(name, "leader" if role in ("primary", "master") else role, NO_MAJORITY,
                       timeline if isinstance(timeline, int) else None, None)


def view(topo: Topology, timeout: float = 1.0) -> ClusterView:
    """One snapshot, from the Raft majority's side: every member is asked at once for its own
    state (Patroni ``/patroni``) and every voter's Raft node whether it has a majority
    (``raft.status``); the DCS view (``/cluster``) is taken from a voter that has one (the Raft
    leader when it answers). A member that answers but sits outside the majority is shown
    ``no DCS majority``; one whose Patroni does not answer ``unreachable``, even if the DCS still
    lists it as leader (its lock may not have expired yet: a stale leader is never shown running).
    Without a majority anywhere there is no leader (``quorum`` False, ``gone`` the silent voters)."""
    members = topo.members
    with ThreadPoolExecutor(max_workers=2 * len(members)) as ex:
        owns = list(ex.map(lambda m: member_status(m, timeout), members))
        rafts = list(ex.map(lambda m: raft.status(m, timeout) if m.voter else None, members))
    voters = [(m, r) for m, r in zip(members, rafts, strict=True) if m.voter]
    with_majority = [m for m, r in voters if r and r.get("has_quorum") and r.get("leader") is not None]
    gone = tuple(m.name for m, r in voters if r is None)
    leader_addr = next((str(r.get("leader")) for _, r in voters if r and r.get("has_quorum")), None)
    # the Raft leader's own DCS view first: it is the one the majority follows
    with_majority.sort(key=lambda m: f"127.0.0.1:{m.raft_port}" != leader_addr)
    reported: dict[str, MemberState] | None = None
    source = None
    for m in with_majority:
        if (reported := _dcs_members(m, timeout)) is not None:
            source = m.name
            break
    rows = []
    for m, own, r in zip(members, owns, rafts, strict=True):
        if own is None:
            rows.append(MemberState(m.name, "down", "unreachable", None, None))
            continue
        if reported is None or (m.voter and not (r and r.get("has_quorum"))):
            rows.append(_own_state(m.name, own))  # no majority at all, or this voter is cut off from it
            continue
        rows.append(reported.get(m.name, _own_state(m.name, own)))
    quorum = bool(with_majority) and reported is not None
    return ClusterView(time.time(), tuple(rows), quorum, source, gone)


def wait_for(topo: Topology, condition: Callable[[ClusterView], bool], what: str, timeout: float,
             say: Callable[[str], None] | None = None) -> ClusterView:
    """Poll snapshots until ``condition`` holds; raise with the last snapshot after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_sentence = ""
    while True:
        snap = view(topo)
        if condition(snap):
            return snap
        if say and snap.sentence() != last_sentence:
            last_sentence = snap.sentence()
            say(f"  waiting for {what}: {last_sentence}")
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}; last seen: "
                               f"{snap.sentence()}. Read the logs in {topo.log_dir()}")
        time.sleep(0.5)


# A delayed standby reconnects to a new primary only after it has replayed the WAL it already
# holds (PostgreSQL sleeps in the apply delay meanwhile) and catches up from the archive: for it,
# replaying from the archive is as healthy as streaming.
REPLAYING = ("streaming", "in archive recovery")


def all_streaming(names: list[str], delayed: tuple[str, ...] = ()) -> Callable[[ClusterView], bool]:
    """True when there is a leader and every other named member streams (a delayed one may
    also be replaying from the archive)."""
    def ok(v: ClusterView, n: str) -> bool:
        s = v.state_of(n)
        if s is None:
            return False
        return n == v.leader or s.state == "streaming" or (n in delayed and s.state in REPLAYING)

    return lambda v: v.leader is not None and all(ok(v, n) for n in names)


def ensure_sync_config(topo: Topology, leader: str, wanted: dict[str, object]) -> str | None:
    """Bring the cluster-wide (DCS) settings we own to ``wanted``: bootstrap settings apply only
    to a new cluster, so an existing one is patched. Returns a sentence when something changed."""
    status, current = _request(api(topo.member(leader)) + "/config")
    if status != 200 or not isinstance(current, dict):
        raise ClusterError(f"cannot read the cluster configuration from {leader} ({status}); read "
                           f"{topo.log_dir()}/{leader}-patroni.log")
    changes = {k: v for k, v in wanted.items() if current.get(k) != v}
    if not changes:
        return None
    status, body = _request(api(topo.member(leader)) + "/config", "PATCH", changes)
    if status != 200:
        raise ClusterError(f"could not update the cluster configuration {changes} ({status}): {body}")
    return f"updated the cluster configuration: {changes}"


def switchover(topo: Topology, candidate: str | None = None, settle: float = 60) -> str:
    """Planned switchover to ``candidate`` (default: a sync standby); return a sentence. A named
    candidate that is still rejoining (rewind, restart) gets ``settle`` seconds to become a
    synchronous standby first: Patroni refuses a switchover to any other member."""
    if candidate is not None:
        topo.member(candidate)
        wait_for(topo, lambda v: candidate in v.sync_standbys or v.leader == candidate,
                 f"{candidate} as a synchronous standby", settle)
    snap = view(topo)
    if snap.leader is None:
        raise ClusterError("no leader to switch over from; use `obruten cluster failover --to <member>`")
    target = candidate or next(iter(snap.sync_standbys), None)
    if target is None:
        raise ClusterError("no synchronous standby to switch over to; wait until `obruten cluster status` "
                           "shows one, or name the member with --to")
    status, body = _request(api(topo.member(snap.leader)) + "/switchover", "POST",
                            {"leader": snap.leader, "candidate": target}, timeout=60)
    if status != 200:
        raise ClusterError(f"switchover from {snap.leader} to {target} refused ({status}): {body}")
    announce.emit(topo, "cluster.switchover", f"Planerat platsbyte: {snap.leader} → {target}", "cluster",
                  old_primary=snap.leader, new_primary=target)
    return f"switched over from {snap.leader} to {target}"


def failover(topo: Topology, candidate: str) -> str:
    """Manual failover to ``candidate`` (works without a healthy leader); return a sentence.

    The read copy is ``nofailover`` (Patroni never promotes it by itself); naming it here is the
    operator's decision, so its tag is lifted first (its Patroni re-reads its configuration).
    """
    m = topo.member(candidate)
    if m.kind == "read-copy":

        patroni.write_config(topo, m, promotable=True)
        deadline = time.monotonic() + 15
        while _tag(member_status(m), "nofailover"):
            if time.monotonic() > deadline:
                raise ClusterError(f"{candidate}'s Patroni did not take the lifted nofailover tag in 15 s; "
                                   f"read {topo.log_dir()}/{candidate}-patroni.log")
            time.sleep(0.3)
    errors = []
    for m in topo.members:
        try:
            status, body = _request(api(m) + "/failover", "POST", {"candidate": candidate}, timeout=60)
        except http.FAILURES as exc:
            errors.append(f"{m.name}: {http.reason(exc)}")
            continue
        if status == 200:
            old = view(topo).leader
            announce.emit(topo, "cluster.failover", f"Manuell failover till {candidate}", "cluster",
                          new_primary=candidate, old_primary=old, manual=True)
            return f"failed over to {candidate}"
        errors.append(f"{m.name}: {status} {body}")
    raise ClusterError(f"failover to {candidate} refused: {'; '.join(errors)}. In synchronous mode only a "
                       "synchronous standby can be chosen; see `obruten cluster status`")
