"""How long the pseudonymised clone of a region takes, and its check, at a given size.

One run: an embedded PostgreSQL seeded with ``--patients`` (default 100,000), then ``--repeat``
rounds of clone (into a new database on the same server) + check. Prints each round, the median
with its spread, the machine, and the goal ("a 1,000,000-patient region in minutes": ≤ 10 min for
clone + check) side by side. Never asserts.

    .venv/bin/python bench/clone.py [--patients 100000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import clean_up, exit_on_sigterm, free_port, reachable_tempdir, say, start_seeded, write_results  # noqa: E402
from _machine import machine_info, print_machine_info  # noqa: E402
from obruten.clone.check import check  # noqa: E402
from obruten.clone.transfer import clone  # noqa: E402
from obruten.platform.pgserver import PostgresInstance  # noqa: E402

GOAL_S = 600.0
RESULTS = Path(__file__).resolve().parent / "results" / "clone.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    exit_on_sigterm()
    base = reachable_tempdir("obruten-bench-clone-")
    pg = PostgresInstance.at(base, free_port())
    rounds: list[dict[str, float]] = []
    try:
        started = time.monotonic()
        counts = start_seeded(pg, args.patients)
        seed_s = time.monotonic() - started
        for n in range(1, args.repeat + 1):
            with psycopg.connect(pg.url("postgres"), autocommit=True) as c:
                c.execute('DROP DATABASE IF EXISTS "clone_bench" WITH (FORCE)')
                c.execute('CREATE DATABASE "clone_bench"')
            report = clone(pg.url(), pg.url("clone_bench"), say=say)
            result = check(pg.url(), pg.url("clone_bench"))
            rows = sum(report.rows.values())
            rounds.append({"clone_s": report.seconds, "check_s": result.seconds, "rows": rows,
                           "rows_per_s": rows / report.seconds, "passed": float(result.passed)})
            say(f"round {n}: clone {report.seconds:.1f} s ({rows:,} rows, {rows / report.seconds:,.0f} rows/s), "
                f"check {result.seconds:.1f} s, {'PASSED' if result.passed else 'FAILED'}")
            for finding in result.findings[:10]:
                say(f"  found: {finding}")
        info = machine_info(None, patients=args.patients)
        print_machine_info(info)
        total = [r["clone_s"] + r["check_s"] for r in rounds]
        print(f"\nclone of {args.patients:,} patients (seeded in {seed_s:.0f} s; {sum(counts.values()):,} rows)")
        for i, r in enumerate(rounds, 1):
            print(f"  round {i}: clone {r['clone_s']:7.1f} s   check {r['check_s']:7.1f} s   "
                  f"{r['rows_per_s']:>9,.0f} rows/s   {'PASSED' if r['passed'] else 'FAILED'}")
        print(f"  clone + check: median {statistics.median(total):.1f} s, spread {min(total):.1f}–{max(total):.1f} s"
              f"   goal: ≤ {GOAL_S:.0f} s at 1,000,000 patients"
              + (f" (this size: {'MET' if max(total) <= GOAL_S else 'MISS'})" if args.patients >= 1_000_000 else ""))
        write_results(RESULTS, {"machine": info, "args": vars(args), "seed_counts": counts, "rounds": rounds})
    finally:
        clean_up(None, [pg], base)


if __name__ == "__main__":
    main()
