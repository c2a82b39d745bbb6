"""Both sites lost under write load: recovery time and acknowledged writes lost when the new
primary is rebuilt from the backup store alone (`obruten backup rebuild`, ADR 0045).

Each round starts a fresh cluster (`cluster up` in a temp dir), takes a full base backup, runs
``--writers`` connections committing one-row INSERTs (a row counts once its COMMIT returned),
then SIGKILLs every process of site A and site B at once (Patroni, postmaster, every backend),
deletes both data directories, rebuilds from the backup store and counts the acknowledged rows in
the rebuilt primary. ``--before`` also runs each round as before ADR 0045 (receiver stopped and
its stream emptied before the load: archive only), side by side. Separate from
``bench/failover.py`` (the journal-level drills, issue 13c). Goals printed, never asserted:
0 lost; recovery (rebuild command until the new primary accepts writes) ≤ 120 s.

    .venv/bin/python bench/both_sites_lost.py [--rounds 1] [--writers 4] [--load-seconds 15] [--before]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "functional" / "cluster"))

import psycopg  # noqa: E402
from test_both_sites_lost import Writers, kill_site  # noqa: E402

from _harness import exit_on_sigterm, reachable_tempdir, say, write_results  # noqa: E402
from _machine import machine_info, print_machine_info  # noqa: E402
from conftest import free_port_block  # noqa: E402
from obruten.backup import basebackup, rebuild, wal_receiver  # noqa: E402
from obruten.backup.restore import discard  # noqa: E402
from obruten.cluster import lifecycle  # noqa: E402
from obruten.cluster.topology import Topology  # noqa: E402
from obruten.platform.pgserver import process_alive  # noqa: E402

GOAL_SECONDS = 120.0
RESULTS = Path(__file__).resolve().parent / "results" / "both_sites_lost.json"


def one_round(receiver: bool, writers: int, load_seconds: float) -> dict[str, object]:
    base = reachable_tempdir("obruten-bench-bsl-")
    topo = Topology.create(base / "cluster", base / "backup", free_port_block(), lag_delay="10s")
    try:
        lifecycle.up(topo, say, timeout=300)
        if not receiver:  # as before ADR 0045: the archive only
            wal_receiver.stop(topo)
            shutil.rmtree(wal_receiver.stream_dir(topo.backup_root))
        with psycopg.connect(topo.write_url(), autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS ack_probe (writer int, seq int, PRIMARY KEY (writer, seq))")
        basebackup.take(topo, say, full=True)
        w = Writers(topo.write_url(timeout=1), writers)
        for t in w.threads:
            t.start()
        time.sleep(load_seconds)  # the load's length is the measured condition, not a wait for state
        killed = kill_site(topo, "site-a") + kill_site(topo, "site-b")
        t_lost = time.monotonic()
        while any(process_alive(p) for p in killed) and time.monotonic() - t_lost < 30:
            time.sleep(0.05)
        w.stop.set()
        for t in w.threads:
            t.join(timeout=10)
        acked = set().union(*w.acked)
        for name in ("site-a", "site-b"):
            shutil.rmtree(topo.data_dir(topo.member(name)))
        done = rebuild.rebuild(topo, topo.backup_root / "rebuilt" / "bench", topo.base_port + 32, say)
        try:
            with psycopg.connect(done.instance.url(), autocommit=True) as conn:
                present = {(r[0], r[1]) for r in conn.execute("SELECT writer, seq FROM ack_probe")}
        finally:
            discard(done.instance)
        lost = len(acked - present)
        say(f"{'receiver' if receiver else 'archive only'}: acknowledged {len(acked)}, lost {lost}; "
            f"{done.sentence()}")
        return {"receiver": receiver, "acknowledged": len(acked), "lost": lost, "recovery_s": done.seconds,
                "last_commit": done.end.last_commit.isoformat() if done.end.last_commit else None,
                "lsn": done.end.lsn}
    finally:
        lifecycle.kill_everything(topo)
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--load-seconds", type=float, default=15.0)
    ap.add_argument("--before", action="store_true", help="also run each round archive-only (before ADR 0045)")
    args = ap.parse_args()
    exit_on_sigterm()
    runs: list[dict[str, object]] = []
    for r in range(args.rounds):
        for receiver in ([False, True] if args.before else [True]):
            say(f"round {r + 1}: {'with the receiver' if receiver else 'archive only'} …")
            runs.append(one_round(receiver, args.writers, args.load_seconds))
    info = machine_info(writers=args.writers, load_seconds=args.load_seconds, rounds=args.rounds)
    print_machine_info(info)
    print(f"\n{'layout':<14} {'acknowledged':>12} {'lost':>12} {'lost %':>8} {'recovery s':>11}")
    for run in runs:
        ack, lost = int(run["acknowledged"]), int(run["lost"])  # type: ignore[call-overload]
        print(f"{'receiver' if run['receiver'] else 'archive only':<14} {ack:>12} {lost:>12} "
              f"{100 * lost / max(ack, 1):>7.1f}% {run['recovery_s']:>11.1f}")
    mine = [run for run in runs if run["receiver"]]
    secs = [float(run["recovery_s"]) for run in mine]  # type: ignore[arg-type]
    lost_total = sum(int(run["lost"]) for run in mine)  # type: ignore[call-overload]
    print(f"\nwith the receiver: lost {lost_total} (goal 0: {'met' if lost_total == 0 else 'MISSED'}); recovery "
          f"median {statistics.median(secs):.1f} s (range {min(secs):.1f}–{max(secs):.1f}) "
          f"goal ≤ {GOAL_SECONDS:.0f} s: {'met' if statistics.median(secs) <= GOAL_SECONDS else 'MISSED'}")
    write_results(RESULTS, {"machine": info, "runs": runs, "goal_seconds": GOAL_SECONDS})


if __name__ == "__main__":
    main()
