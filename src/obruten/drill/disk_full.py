"""The ``disk-full`` drill: the primary's WAL path runs out of space (F1: the log on failing storage).

Arrangement (before the load starts, each step a sentence in the report): a site standby's
Patroni is stopped, its ``pg_wal`` moved onto a small separate filesystem (``wal_volume``), it is
started again and, once it is a synchronous standby, the cluster switches over to it. The fault:
a ballast file fills that filesystem to within a few MB, then the drill closes WAL segments
(``pg_switch_wal``) so PostgreSQL must create new ones — as a busy primary does — until it
cannot. The drill holds the fault for ``HOLD_S`` seconds after the first failed write (or until
writes come back by themselves), then deletes the ballast. Afterwards the WAL is moved back to
the data directory (switching away from that member first if it is still the primary) and the
filesystem removed, so the cluster is as before.
"""

from __future__ import annotations

import contextlib
import shutil

import psycopg

from obruten.cluster import members, patroni
from obruten.cluster.members import ClusterView
from obruten.cluster.topology import Member, Topology
from obruten.drill.faults import DrillError, Fault, Prepared, healthy
from obruten.drill.wal_volume import VolumeError, WalVolume
from obruten.platform.progress import Say

HOLD_S = 15.0  # how long the disk stays full after the first failed write
LEAVE_BYTES = 4 << 20  # free space left by the ballast (less than one 16 MB WAL segment)


def volume_for(topo: Topology, m: Member) -> WalVolume:
    pg_wal = sum(f.stat().st_size for f in (topo.data_dir(m) / "pg_wal").rglob("*") if f.is_file())
    size_mb = max(256, pg_wal // (1 << 20) + 192)  # today's WAL plus room for the drill's warm-up
    return WalVolume(topo.data_dir(m), topo.root / "drill" / f"wal-{m.name}", size_mb)


def prepare(topo: Topology, say: Say, timeout: float) -> Prepared:
    snap = members.wait_for(topo, healthy(topo), "a site as synchronous standby", timeout, say)
    target = next(topo.member(n) for n in snap.sync_standbys if topo.member(n).kind == "site")
    user = patroni.user_of(topo)
    say(patroni.stop(topo, target))
    try:
        vol = volume_for(topo, target)
        say(f"made {vol.create()}")
        vol.move_wal_in(user)
        say(f"{target.name}'s pg_wal now lives on that filesystem ({vol.free_bytes() >> 20} MB free)")
    except (VolumeError, OSError) as exc:
        patroni.start(topo, target)
        raise DrillError(f"could not put {target.name}'s WAL on a small filesystem: {exc}") from exc
    patroni.start(topo, target)
    members.wait_for(topo, lambda v: target.name in v.sync_standbys and healthy(topo)(v),
                     f"{target.name} back as a synchronous standby", timeout, say)
    say(members.switchover(topo, target.name))
    members.wait_for(topo, lambda v: v.leader == target.name and healthy(topo)(v), f"{target.name} to lead",
                     timeout, say)

    def inject(topo: Topology, snap: ClusterView) -> Fault:
        ballast = vol.fill(LEAVE_BYTES)
        switched = _switch_until_full(topo, target)
        return Fault(target.name, f"filled {target.name}'s WAL filesystem ({ballast >> 20} MB ballast, "
                                  f"{vol.free_bytes() >> 20} MB left) and closed {switched} WAL segments "
                                  "until PostgreSQL could not create another", False,
                     lambda v: v.leader != target.name or (s := v.state_of(target.name)) is None
                     or s.state != "running",
                     heal=lambda: f"freed the WAL filesystem: deleted the ballast, {vol.free() >> 20} MB free",
                     hold_s=HOLD_S)

    def cleanup() -> None:
        _put_back(topo, target, vol, say, timeout)

    return Prepared(inject, cleanup)


def _switch_until_full(topo: Topology, m: Member, limit: int = 64) -> int:
    """Close WAL segments on ``m`` until one cannot be created (the server then fails)."""
    switched = 0
    with contextlib.suppress(psycopg.Error), \
            psycopg.connect(topo.member_url(m, "postgres", timeout=2), autocommit=True) as conn:
        for _ in range(limit):
            conn.execute("SELECT txid_current()")  # a non-empty segment, so the switch happens
            conn.execute("SELECT pg_switch_wal()")
            switched += 1
    return switched


def _put_back(topo: Topology, m: Member, vol: WalVolume, say: Say, timeout: float) -> None:
    """Move the WAL back into the data directory and remove the filesystem (never leaves the
    member's WAL on a mount that is about to disappear)."""
    user = patroni.user_of(topo)
    try:
        if members.view(topo).leader == m.name:
            other = next(s.name for s in topo.sites if s.name != m.name)
            members.wait_for(topo, lambda v: other in v.sync_standbys, f"{other} as a synchronous standby",
                             timeout, say)
            say(members.switchover(topo, other))
            members.wait_for(topo, lambda v: v.leader == other, f"{other} to lead", timeout, say)
        say(patroni.stop(topo, m))
        vol.free()
        vol.move_wal_out(user)
        vol.remove()
        shutil.rmtree(vol.work, ignore_errors=True)
        say(f"moved {m.name}'s WAL back into its data directory and removed the drill filesystem")
    except (VolumeError, OSError, members.ClusterError) as exc:
        raise DrillError(f"could not put {m.name}'s WAL back ({exc}); its pg_wal may still be a symlink into "
                         f"{vol.mount}: stop its Patroni, copy {vol.wal} to {topo.data_dir(m) / 'pg_wal'}, "
                         f"then `umount {vol.mount}`") from exc
    finally:
        patroni.start(topo, m)
    members.wait_for(topo, healthy(topo), "a healthy cluster after the drill", timeout, say)
