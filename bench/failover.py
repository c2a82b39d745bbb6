"""Failover: repeated primary-crash drills, read-copy lag under load, sync vs async commit.

Starts its own four-member cluster in a temp dir (or uses --cluster-root), then:

1. throughput and latency of unthrottled writers with synchronous_commit=on (durable on the sync
   standby) beside synchronous_commit=local (asynchronous replication), ``--seconds`` each;
2. the read copy's replication lag (p50/p99) under a steady ~``--rate`` writes/s;
3. ``--drills`` primary-crash drills (SIGKILL of the primary's Patroni and postmaster) under load.

Goals are printed, never asserted: median RTO <= 25 s, 0 writes lost, read copy 100 % available,
lag p99 <= 1 s.

    .venv/bin/python bench/failover.py [--drills 20] [--rate 500] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402

from _machine import machine_info, print_machine_info  # noqa: E402
from obruten.cluster import lifecycle  # noqa: E402
from obruten.cluster.members import ClusterError  # noqa: E402
from obruten.cluster.topology import Topology  # noqa: E402
from obruten.drill import scenarios  # noqa: E402
from obruten.drill.load import Load, ensure_fixture  # noqa: E402
from obruten.drill.report import percentile  # noqa: E402


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def steady(topo: Topology, seconds: float, rate: float, writers: int, sync: str) -> Load:
    member_urls = {m.pg_port: topo.member_url(m, timeout=1) for m in topo.members if m.can_be_primary}
    load = Load(topo.write_url(), topo.member_url(topo.read_copy, timeout=1), member_urls,
                ensure_fixture(topo.write_url()), rate=rate, writers=writers, synchronous_commit=sync)
    load.start()
    time.sleep(seconds)  # the measurement window
    load.stop()
    return load


def commit_modes(topo: Topology, seconds: float, writers: int) -> dict[str, dict[str, float | None]]:
    out = {}
    for sync in ("on", "local"):
        load = steady(topo, seconds, 0, writers, sync)
        lat = [x * 1000 for x in load.ledger.latencies]
        out[sync] = {"writes_per_s": len(load.ledger.acks) / seconds, "p50_ms": percentile(lat, 50),
                     "p99_ms": percentile(lat, 99)}
        say(f"synchronous_commit={sync}: {out[sync]}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--drills", type=int, default=20)
    ap.add_argument("--rate", type=float, default=500, help="writes/s for the lag measurement and the drills")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--base-port", type=int, default=27400)
    ap.add_argument("--cluster-root", type=Path, help="use a running cluster instead of starting one")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="stop the cluster but keep its directory and logs")
    args = ap.parse_args()

    tmp = None
    if args.cluster_root:
        topo = Topology.load(args.cluster_root)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="obruten-bench-", dir="/tmp"))
        tmp.chmod(0o755)
        topo = Topology.create(tmp / "cluster", tmp / "backup", args.base_port, lag_delay="6h")
    try:
        if tmp is not None:
            say(lifecycle.up(topo, say))
        with psycopg.connect(topo.write_url(), autocommit=True) as conn:
            pg_version = conn.execute("SHOW server_version").fetchone()[0]
        info = machine_info(pg_version, patroni="4.1.5", dcs="raft", members=len(topo.members))
        print_machine_info(info)
        modes = commit_modes(topo, args.seconds, args.writers)
        lag_load = steady(topo, args.seconds * 2, args.rate, args.writers, "on")
        lag = lag_load.probes.lag_samples
        achieved = len(lag_load.ledger.acks) / (args.seconds * 2)
        reports = []
        errors: list[str] = []
        for i in range(args.drills):
            say(f"--- drill {i + 1}/{args.drills}")
            try:
                r = scenarios.run(topo, "primary-crash", say, rate=args.rate, writers=args.writers, warmup=2.0)
            except (scenarios.DrillError, ClusterError, psycopg.Error) as exc:  # keep the others' figures
                errors.append(f"drill {i + 1}: {exc}")
                say(f"drill {i + 1} could not finish: {exc}")
                continue
            reports.append(r)
            if args.json:  # partial results survive an interrupted run
                with args.json.with_suffix(".drills.jsonl").open("a") as fh:
                    fh.write(r.to_json().replace("\n", " ") + "\n")
            say(f"RTO {r.rto_s:.1f} s, detect {r.detect_s or 0:.1f} s, lost {r.writes_lost}, read copy "
                f"{100 * r.read_copy_availability:.1f} %, read URL {100 * r.read_availability:.1f} %"
                if r.rto_s is not None else "writes did not resume")
        rtos = [r.rto_s for r in reports if r.rto_s is not None]
        probes = sum(r.read_probes for r in reports)
        answered = sum(r.read_probes_answered for r in reports)
        url_probes = sum(r.read_url_probes for r in reports)
        url_answered = sum(r.read_url_probes_answered for r in reports)
        result = {
            "machine": info,
            "commit_modes": modes,
            "sync_vs_async_throughput_ratio": (modes["on"]["writes_per_s"] / modes["local"]["writes_per_s"]
                                               if modes["local"]["writes_per_s"] else None),
            "lag": {"target_rate": args.rate, "achieved_rate": achieved, "p50_s": percentile(lag, 50),
                    "p99_s": percentile(lag, 99), "samples": len(lag)},
            "drills": len(reports),
            "rto_median_s": statistics.median(rtos) if rtos else None,
            "rto_max_s": max(rtos) if rtos else None,
            "detect_median_s": statistics.median([r.detect_s for r in reports if r.detect_s is not None] or [0]),
            "writes_acked": sum(r.writes_acked for r in reports),
            "writes_lost": sum(r.writes_lost for r in reports),
            "drills_without_recovery": len(reports) - len(rtos),
            "two_writers": sum(1 for r in reports if r.two_writers),
            "read_copy_availability": answered / probes if probes else None,
            "read_url_availability": url_answered / url_probes if url_probes else None,
            "read_copy_rewinds": sum(r.read_copy_rewinds for r in reports),
            "rtos_s": [round(x, 2) for x in rtos],
            "drill_errors": errors,
        }
        print()
        print(f"writes, sync commit     : {modes['on']['writes_per_s']:.0f}/s, p50 {modes['on']['p50_ms']:.2f} ms, "
              f"p99 {modes['on']['p99_ms']:.2f} ms")
        print(f"writes, async commit    : {modes['local']['writes_per_s']:.0f}/s, p50 {modes['local']['p50_ms']:.2f} ms, "
              f"p99 {modes['local']['p99_ms']:.2f} ms")
        print(f"read-copy lag @{achieved:.0f} w/s: p50 {result['lag']['p50_s']} s, p99 {result['lag']['p99_s']} s "
              "(goal p99 <= 1 s)")
        if rtos:
            print(f"primary-crash drills    : {len(reports)}; RTO median {result['rto_median_s']:.1f} s, "
                  f"max {result['rto_max_s']:.1f} s (goal median <= 25 s)")
        print(f"acknowledged writes lost: {result['writes_lost']} of {result['writes_acked']} (goal 0)")
        print(f"two writers at once     : {result['two_writers']} drills (goal 0)")
        if result["read_copy_availability"] is not None:
            print(f"read copy available     : {100 * result['read_copy_availability']:.2f} % (goal 100 %); "
                  f"rewound {result['read_copy_rewinds']} times")
        if result["read_url_availability"] is not None:
            print(f"reads via read URL      : {100 * result['read_url_availability']:.2f} % answered "
                  "(read copy first, else a site)")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2, default=str))
    finally:
        if tmp is not None:
            lifecycle.down(topo, say)
            lifecycle.kill_everything(topo)
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                say(f"kept {tmp}")


if __name__ == "__main__":
    main()
