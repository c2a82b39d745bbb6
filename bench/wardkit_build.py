"""Ward kits: rebuilding a whole region's kits, and one ward's, against the bare SQL for the same data.

Starts (or reuses, ``--region-dir``) an embedded PostgreSQL with a seeded 1,100-unit region (see
``_wardkit_region``), then runs ``--repeat`` interleaved rounds of:

* region build   every unit's kit (SQL + PDF + HTML + JSON + signed manifest) on a process pool
* region SQL     the same ``KIT_SQL`` for every unit on as many connections, fetching the JSON text only
* one ward       the largest ward built in-process, and its SQL alone (``--ward-repeat`` times each)

The PDF's medication signing grid (flag ``kit_mar_grid``, on in a new installation) is switched on
for the region unless ``--mar-grid off``; it is the costlier PDF. Before each round a fixed pure-Python loop is timed: its spread across rounds says how noisy the
(shared) machine was. Medians are printed; the goals (region ≤ 60 s, one ward ≤ 1 s) are printed,
never asserted.

    .venv/bin/python bench/wardkit_build.py [--units 1100] [--repeat 3] [--workers 2] [--mar-grid on|off] [--region-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from multiprocessing import forkserver
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402

from _machine import calibration, machine_info, print_machine_info  # noqa: E402
from _wardkit_region import region  # noqa: E402
from obruten.platform.pgserver import children_of  # noqa: E402
from obruten.platform.signing import load_or_create_key  # noqa: E402
from obruten.record import flags  # noqa: E402
from obruten.wardkit import build, content  # noqa: E402

REGION_GOAL_S, WARD_GOAL_S = 60.0, 1.0
RESULTS = Path(__file__).resolve().parent / "results" / "wardkit_build.json"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int | None) -> float:
    """CPU seconds used so far by ``pid``, its live descendants, and the children it reaped (their
    time is in its cutime/cstime): the postmaster and its backends, or the forkserver and the pool."""
    total, todo = 0.0, [pid] if pid else []
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICKS
            if current == pid:
                total += (int(fields[13]) + int(fields[14])) / _TICKS
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(children_of(current))
    return total


def settled_tree_cpu(pid: int | None) -> float:
    """``tree_cpu`` once the processes that ended (backends, pool workers) have been reaped."""
    last = tree_cpu(pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = tree_cpu(pid)
        if now - last < 0.02:
            return now
        last = now
    return last


def forkserver_pid() -> int:
    """The pool's workers are forked by multiprocessing's forkserver, not by this process, so their
    CPU time is counted under the forkserver's pid (a private attribute: this is a bench)."""
    forkserver.ensure_running()
    return int(forkserver._forkserver._forkserver_pid)  # type: ignore[attr-defined]


async def region_sql(url: str, units: list[str], connections: int) -> float:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for unit in units:
        queue.put_nowait(unit)

    async def worker() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            while not queue.empty():
                await content.unit_kit_json(conn, queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - started


async def one_ward(url: str, unit: str, var_dir: Path, repeat: int) -> tuple[list[float], list[float]]:
    key = load_or_create_key(build.key_path(var_dir))
    full, sql = [], []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for _ in range(repeat):
            started = time.perf_counter()
            await build.build_unit(conn, unit, var_dir, key, keep=3)
            full.append(time.perf_counter() - started)
            started = time.perf_counter()
            await content.unit_kit_json(conn, unit)
            sql.append(time.perf_counter() - started)
    return full, sql


async def facts(url: str, mar_grid: bool) -> tuple[list[str], str, int, int, str]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        current = flags.effective(await flags.switches(conn), [])
        if current.get(build.MAR_GRID, {}).get(flags.REGION) is not mar_grid:
            await flags.switch(conn, build.MAR_GRID, mar_grid, unit=None, by="bench", reason="wardkit_build --mar-grid")
        units = await content.unit_ids(conn)
        row = await (await conn.execute(
            "SELECT unit_id, count(*) FROM admission_current WHERE discharged_at IS NULL "
            "GROUP BY unit_id ORDER BY 2 DESC, 1 LIMIT 1")).fetchone()
        admitted = (await (await conn.execute(
            "SELECT count(*) FROM admission_current WHERE discharged_at IS NULL")).fetchone())[0]  # type: ignore[index]
        version = (await (await conn.execute("SHOW server_version")).fetchone())[0]  # type: ignore[index]
    assert row is not None
    return units, row[0], int(row[1]), int(admitted), str(version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=1100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ward-repeat", type=int, default=7)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--region-dir", type=Path, default=Path("/tmp/obruten-wardkit-bench"))
    parser.add_argument("--fresh", action="store_true", help="reseed the region")
    parser.add_argument("--mar-grid", choices=("on", "off"), default="on",
                        help="the PDF's medication signing grid (flag kit_mar_grid)")
    args = parser.parse_args()

    pg, url = region(args.region_dir, args.units, fresh=args.fresh, say=say)
    var_dir = Path(tempfile.mkdtemp(prefix="obruten-wardkit-out-"))
    try:
        units, big_ward, big_ward_patients, admitted, version = asyncio.run(facts(url, args.mar_grid == "on"))
        info = machine_info(version, loadavg_start=" ".join(Path("/proc/loadavg").read_text().split()[:3]))
        print_machine_info(info)
        print(f"region       {len(units)} units, {admitted} admitted patients; largest ward {big_ward} "
              f"({big_ward_patients} patients); workers {args.workers}; MAR grid {args.mar_grid}")
        rounds: list[dict[str, float]] = []
        for n in range(args.repeat):
            cal = calibration()
            fs_pid = forkserver_pid()
            cpu_before, pg_before = tree_cpu(fs_pid), settled_tree_cpu(pg.postmaster_pid())
            started = time.perf_counter()
            results = build.build_units(url, units, var_dir, workers=args.workers, keep=3)
            built = time.perf_counter() - started
            # the pool's workers are reaped children by now; their backends have exited
            workers_cpu = settled_tree_cpu(fs_pid) - cpu_before
            pg_cpu = settled_tree_cpu(pg.postmaster_pid()) - pg_before
            failed = [r for r in results if isinstance(r, tuple)]
            if failed:
                raise SystemExit(f"{len(failed)} units failed, first: {failed[0]}")
            sql = asyncio.run(region_sql(url, units, args.workers))
            rounds.append({"calibration_s": cal, "region_build_s": built, "region_sql_s": sql,
                           "build_worker_cpu_s": workers_cpu, "build_postgres_cpu_s": pg_cpu})
            say(f"round {n + 1}/{args.repeat}: build {built:.1f} s (CPU: workers {workers_cpu:.1f} s, "
                f"postgres {pg_cpu:.1f} s), sql {sql:.1f} s, calibration {cal:.2f} s")
        ward_full, ward_sql = asyncio.run(one_ward(url, big_ward, var_dir, args.ward_repeat))
        info["loadavg_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])

        def med(key: str) -> float:
            return statistics.median(r[key] for r in rounds)

        cals = [r["calibration_s"] for r in rounds]
        noise = (max(cals) - min(cals)) / min(cals)
        builds = [r["region_build_s"] for r in rounds]
        print()
        print(f"{'':<22}{'build (SQL+PDF+HTML+sign)':>28}{'SQL only':>12}{'ratio':>8}")
        print(f"{'region, median':<22}{med('region_build_s'):>26.1f} s{med('region_sql_s'):>10.1f} s"
              f"{med('region_build_s') / med('region_sql_s'):>8.1f}")
        print(f"{'region, min–max':<22}{min(builds):>19.1f}–{max(builds):.1f} s")
        print(f"{'one ward, median':<22}{statistics.median(ward_full) * 1000:>25.0f} ms"
              f"{statistics.median(ward_sql) * 1000:>9.0f} ms"
              f"{statistics.median(ward_full) / statistics.median(ward_sql):>8.1f}")
        cpu = med("build_worker_cpu_s") + med("build_postgres_cpu_s")
        print(f"per patient           {med('region_build_s') / max(admitted, 1) * 1000:.2f} ms wall "
              f"({args.workers} workers)")
        print(f"CPU for one region    {cpu:.1f} s (workers {med('build_worker_cpu_s'):.1f} + postgres "
              f"{med('build_postgres_cpu_s'):.1f}); on {os.cpu_count()} idle cores ≥ {cpu / (os.cpu_count() or 1):.1f} s")
        print(f"noise                 calibration loop {min(cals):.2f}–{max(cals):.2f} s across rounds "
              f"({noise:.0%} spread); loadavg {info['loadavg_start']} → {info['loadavg_end']}")
        print(f"goal region ≤ {REGION_GOAL_S:.0f} s: {'met' if med('region_build_s') <= REGION_GOAL_S else 'MISSED'}; "
              f"goal one ward ≤ {WARD_GOAL_S:.0f} s: "
              f"{'met' if statistics.median(ward_full) <= WARD_GOAL_S else 'MISSED'}")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"machine": info, "args": {k: str(v) for k, v in vars(args).items()},
                                       "units": len(units), "admitted": admitted, "largest_ward": big_ward,
                                       "largest_ward_patients": big_ward_patients, "rounds": rounds,
                                       "ward_build_s": ward_full, "ward_sql_s": ward_sql}, indent=1))
        say(f"results written to {RESULTS}")
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
        pg.stop()


if __name__ == "__main__":
    main()
