"""Commit latency: today's synchronous commit against commit with the backup store's WAL receiver
in the quorum (ADR 0045), side by side in one run on one real Patroni cluster.

Starts a cluster (``obruten cluster up`` in a temp dir) unless ``--cluster-root`` names a running
one, then alternates rounds: *sync* (receiver stopped: Patroni's ``ANY 1 (<site standby>)``) and
*sync+backup* (receiver running: ``ANY 2 (<site standby>, obruten_backup)``). Each round waits
until ``synchronous_standby_names`` shows the side's setting, then ``--writers`` connections
commit one-row INSERTs for ``--seconds``. Reports per side the median of the rounds' p50/p95
commit latency and throughput with the spread over rounds, and the ratio with/without (median
and range of the per-pair ratios). The goal (ADR 0045) is printed, never asserted.

    .venv/bin/python bench/commit_latency.py [--rounds 5] [--seconds 5] [--writers 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "functional" / "cluster"))

import psycopg  # noqa: E402

from _harness import exit_on_sigterm, pct, reachable_tempdir, say, write_results  # noqa: E402
from _machine import machine_info, print_machine_info  # noqa: E402
from obruten.backup import wal_receiver  # noqa: E402
from obruten.cluster import lifecycle  # noqa: E402
from obruten.cluster.members import view  # noqa: E402
from obruten.cluster.topology import Topology  # noqa: E402

GOAL = 1.5  # ADR 0045: the receiver in the quorum may cost at most 1.5x today's median commit
RESULTS = Path(__file__).resolve().parent / "results" / "commit_latency.json"


def _ssn(topo: Topology) -> str:
    leader = view(topo).leader
    if leader is None:
        return ""
    with psycopg.connect(topo.member_url(topo.member(leader), "postgres"), autocommit=True) as conn:
        row = conn.execute("SHOW synchronous_standby_names").fetchone()
    return str(row[0]) if row else ""


def _set_side(topo: Topology, with_receiver: bool, timeout: float = 60) -> str:
    if with_receiver:
        wal_receiver.start(topo)
    else:
        wal_receiver.stop(topo)
    deadline = time.monotonic() + timeout
    while True:
        ssn = _ssn(topo)
        if (wal_receiver.APP_NAME in ssn) == with_receiver and ssn:
            return ssn
        if time.monotonic() > deadline:
            raise RuntimeError(f"synchronous_standby_names stayed {ssn!r}")
        time.sleep(0.3)


def _round(url: str, writers: int, seconds: float) -> dict[str, float]:
    latencies: list[list[float]] = [[] for _ in range(writers)]
    errors = [0]
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                try:
                    conn.execute("INSERT INTO commit_probe (writer) VALUES (%s)", (i,))
                except psycopg.Error:
                    errors[0] += 1
                    return
                latencies[i].append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_ms = sorted(x for lat in latencies for x in lat)
    return {"commits": len(all_ms), "per_s": len(all_ms) / seconds, "p50_ms": pct(all_ms, 0.5),
            "p95_ms": pct(all_ms, 0.95), "errors": errors[0]}


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.2f}  ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--cluster-root", type=Path, help="a running cluster (default: start one in a temp dir)")
    args = ap.parse_args()
    exit_on_sigterm()
    base = None
    if args.cluster_root:
        topo = Topology.load(args.cluster_root)
    else:
        from conftest import free_port_block

        base = reachable_tempdir("obruten-bench-commit-")
        topo = Topology.create(base / "cluster", base / "backup", free_port_block(), lag_delay="10s")
        say(f"starting a cluster in {base} …")
        lifecycle.up(topo, say, timeout=300)
    try:
        url = topo.write_url()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS commit_probe (id bigint GENERATED ALWAYS AS IDENTITY "
                         "PRIMARY KEY, writer int, at timestamptz DEFAULT now())")
            version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        sides = {"sync": False, "sync+backup": True}
        results: dict[str, list[dict[str, float]]] = {s: [] for s in sides}
        settings: dict[str, str] = {}
        for r in range(args.rounds):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))  # alternate who goes first
            for side in order:
                settings[side] = _set_side(topo, sides[side])
                res = _round(url, args.writers, args.seconds)
                results[side].append(res)
                say(f"round {r + 1} {side:<12} {settings[side]:<40} p50 {res['p50_ms']:.2f} ms  "
                    f"p95 {res['p95_ms']:.2f} ms  {res['per_s']:.0f}/s")
        _set_side(topo, True)  # leave the cluster as `cluster up` made it
        info = machine_info(version, writers=args.writers, seconds=args.seconds, rounds=args.rounds)
        print_machine_info(info)
        print(f"\n{'side':<12} {'ssn':<40} {'p50 ms (spread)':>26} {'p95 ms (spread)':>26} {'commits/s (spread)':>28}")
        for side in sides:
            rs = results[side]
            print(f"{side:<12} {settings[side]:<40} {_spread([x['p50_ms'] for x in rs]):>26} "
                  f"{_spread([x['p95_ms'] for x in rs]):>26} {_spread([x['per_s'] for x in rs]):>28}")
        ratios = [b["p50_ms"] / a["p50_ms"] for a, b in zip(results["sync"], results["sync+backup"], strict=True)]
        ratios95 = [b["p95_ms"] / a["p95_ms"] for a, b in zip(results["sync"], results["sync+backup"], strict=True)]
        ratio = statistics.median(ratios)
        print(f"\nratio sync+backup / sync, p50: {ratio:.2f}x (rounds {min(ratios):.2f}–{max(ratios):.2f}); "
              f"p95: {statistics.median(ratios95):.2f}x ({min(ratios95):.2f}–{max(ratios95):.2f})   "
              f"goal ≤ {GOAL:.1f}x: {'met' if ratio <= GOAL else 'MISSED'}")
        write_results(RESULTS, {"machine": info, "rounds": results, "settings": settings,
                                "ratio_p50": ratios, "ratio_p95": ratios95, "goal": GOAL})
    finally:
        if base is not None:
            import shutil

            lifecycle.kill_everything(topo)
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
