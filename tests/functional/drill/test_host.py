"""A member's host as a process set, without a cluster: real processes standing in for Patroni (a
tree with grandchildren in its own session), an orphan naming the data directory, and a process
marked as bound to the site; `kill_host` must leave none of them, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from obruten.cluster.topology import Topology
from obruten.drill import host

SLEEP = "import time; time.sleep(600)"


def _alive(pid: int) -> bool:
    return pid in host.processes()


def test_kill_host_takes_the_whole_tree_orphans_and_bound_processes_and_nothing_else(tmp_path: Path) -> None:
    topo = Topology.create(tmp_path / "cluster", tmp_path / "backup")
    m, other = topo.member("site-a"), topo.member("site-b")
    (topo.root / "state").mkdir(parents=True)
    data = topo.data_dir(m)
    # "Patroni": a session leader whose children fork grandchildren (as the postmaster's backends)
    patroni = subprocess.Popen(["sh", "-c", "sleep 600 & (sleep 600 & sleep 600) & wait"], start_new_session=True)
    (topo.root / "state" / f"{m.name}.patroni.pid").write_text(str(patroni.pid))
    # an orphaned process naming the data directory (a postmaster whose Patroni died, pg_rewind …)
    orphan = subprocess.Popen([sys.executable, "-c", SLEEP, "-D", str(data)], start_new_session=True)
    # a process started for that site (a journal bound to it)
    bound = subprocess.Popen(["sleep", "600"], env={**os.environ, host.HOST_ENV: m.name}, start_new_session=True)
    # the other site's process: must survive
    bystander = subprocess.Popen([sys.executable, "-c", SLEEP, "-D", str(topo.data_dir(other))], start_new_session=True)
    procs = [patroni, orphan, bound, bystander]
    try:
        deadline = time.monotonic() + 5
        while len(host.host_pids(topo, m)) < 6 and time.monotonic() < deadline:  # sh forks asynchronously
            time.sleep(0.05)
        found = host.host_pids(topo, m)
        assert {patroni.pid, orphan.pid, bound.pid} <= set(found)
        assert len(found) >= 6, host.describe(found)  # sh + 3 sleeps (one a grandchild), the orphan, the bound one
        assert bystander.pid not in found and os.getpid() not in found
        killed = host.kill_host(topo, m)
        assert set(found) <= set(killed)
        assert [pid for pid in found if _alive(pid)] == []
        assert host.host_pids(topo, m) == []
        assert _alive(bystander.pid)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
