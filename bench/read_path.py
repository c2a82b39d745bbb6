"""Read path: the journal over HTTP against the same reads done directly with psycopg.

One run on this machine: starts its own embedded PostgreSQL in a temp dir, seeds a synthetic
region, serves the journal with uvicorn (a subprocess, ``--workers`` processes), then drives a
closed-loop load on two audited reads:

* patient overview  GET /api/v1/patients/{id}        (access check + OVERVIEW_SQL + audit write)
* ward list         GET /api/v1/units/{unit}/patients (unit lookup + WARD_LIST_SQL + audit write)

and the very same statements straight from psycopg (same module functions, same group-commit
audit writer), at the same concurrency and for the same time. Each side runs ``--repeat`` times
interleaved (http, raw, http, raw …); medians are reported. The goal line is printed, never
asserted.

    .venv/bin/python bench/read_path.py [--patients 100000] [--seconds 10] [--concurrency 16] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    clean_up,
    exit_on_sigterm,
    free_port,
    pct,
    reachable_tempdir,
    say,
    start_seeded,
    start_server,
    tree_cpu,
    write_results,
)
from _http import HttpConn, http_json, wait_healthy  # noqa: E402
from _machine import machine_info, print_machine_info  # noqa: E402
from obruten.platform.auth import Session  # noqa: E402
from obruten.platform.errors import Forbidden  # noqa: E402
from obruten.platform.pgserver import PostgresInstance  # noqa: E402
from obruten.record import access, patients, staff, ward  # noqa: E402
from obruten.record.audit import AuditEvent, AuditWriter, DatabaseSink  # noqa: E402

GOAL = 0.50
RESULTS = Path(__file__).resolve().parent / "results" / "read_path.json"


# ---- closed-loop driver ---------------------------------------------------------------------------
Op = Callable[[int, int], Awaitable[int]]  # (worker, i) -> body bytes; raises on failure


@dataclass
class Run:
    side: str
    endpoint: str
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_body_bytes: float
    cpu_bench_s: float
    cpu_server_s: float
    cpu_postgres_s: float
    first_error: str = ""


async def drive(op: Op, concurrency: int, seconds: float) -> tuple[list[float], int, int, float, str]:
    latencies: list[float] = []
    body_bytes = 0
    errors = 0
    first_error = ""
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        nonlocal body_bytes, errors, first_error
        i = w
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                body_bytes += await op(w, i)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"[:200]
                if errors > 1000:
                    raise RuntimeError(f"too many errors, giving up: {first_error}") from exc
                await asyncio.sleep(0.01)
            else:
                latencies.append(time.perf_counter() - t0)
            i += concurrency

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return latencies, body_bytes, errors, time.perf_counter() - start, first_error


async def measure(side: str, endpoint: str, op: Op, concurrency: int, seconds: float,
                  server_pid: int | None, pg_pid: int | None) -> Run:
    cpu0, srv0, pg0 = time.process_time(), tree_cpu(server_pid), tree_cpu(pg_pid)
    lat, body_bytes, errors, elapsed, first_error = await drive(op, concurrency, seconds)
    cpu1, srv1, pg1 = time.process_time(), tree_cpu(server_pid), tree_cpu(pg_pid)
    lat.sort()
    n = len(lat)
    return Run(side=side, endpoint=endpoint, requests=n, errors=errors, seconds=round(elapsed, 3),
               rps=n / elapsed if elapsed else 0.0, p50_ms=pct(lat, 0.50) * 1e3, p95_ms=pct(lat, 0.95) * 1e3,
               p99_ms=pct(lat, 0.99) * 1e3, mean_body_bytes=body_bytes / n if n else 0.0,
               cpu_bench_s=round(cpu1 - cpu0, 3), cpu_server_s=round(srv1 - srv0, 3),
               cpu_postgres_s=round(pg1 - pg0, 3), first_error=first_error)


# ---- the two sides ------------------------------------------------------------------------------
@dataclass
class Target:
    patient_ids: list[int]
    units: list[str]
    session: Session
    node: str = "journal"
    extra: dict[str, object] = field(default_factory=dict)


def http_ops(host: str, port: int, token: str, target: Target, concurrency: int) -> tuple[dict[str, Op], list[HttpConn]]:
    conns = [HttpConn(host, port, token) for _ in range(concurrency)]
    pids, units = target.patient_ids, target.units

    async def overview(w: int, i: int) -> int:
        status, n = await conns[w].get(f"/api/v1/patients/{pids[i % len(pids)]}")
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        return n

    async def ward_list(w: int, i: int) -> int:
        status, n = await conns[w].get(f"/api/v1/units/{units[i % len(units)]}/patients")
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        return n

    return {"overview": overview, "ward_list": ward_list}, conns


def raw_ops(pool, writer: AuditWriter, target: Target) -> dict[str, Op]:  # type: ignore[no-untyped-def]
    """Journal.overview_json / Journal.ward_list_json, statement for statement, without HTTP."""
    session, pids, units, node = target.session, target.patient_ids, target.units, target.node

    async def overview(w: int, i: int) -> int:
        pid = pids[i % len(pids)]
        async with pool.connection() as conn:
            grant = await access.require_read(conn, session, pid)
            body = await patients.overview_json(conn, pid)
        await writer.record(AuditEvent(actor=session.username, actor_id=session.user_id, action="read",
                                       patient_id=pid, purpose="vård",
                                       detail={"view": "overview", "basis": grant.basis}, node=node))
        return len(body.encode())

    async def ward_list(w: int, i: int) -> int:
        unit = units[i % len(units)]
        if unit not in session.units:
            raise Forbidden(f"you do not work on unit {unit}")
        async with pool.connection() as conn:
            await ward.unit(conn, unit)
            body = await ward.ward_list_json(conn, unit)
        await writer.record(AuditEvent(actor=session.username, actor_id=session.user_id, action="read_ward_list",
                                       purpose="vård", detail={"unit": unit}, node=node))
        return len(body.encode())

    return {"overview": overview, "ward_list": ward_list}


# ---- the benchmark ----------------------------------------------------------------------------
async def bench(args: argparse.Namespace, db_url: str, port: int, token: str, target: Target,
                server_pid: int, pg_pid: int | None) -> list[Run]:
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(db_url, min_size=args.concurrency, max_size=args.concurrency, open=False,
                               kwargs={"options": "-c TimeZone=UTC"})
    await pool.open(wait=True, timeout=30)
    async with pool.connection() as conn:
        session = await staff.authenticate(conn, "lakare", "demo")
    assert session is not None, "demo login lakare/demo missing"
    target.session = session
    raw = raw_ops(pool, AuditWriter(DatabaseSink(pool)), target)
    http, conns = http_ops("127.0.0.1", port, token, target, args.concurrency)
    runs: list[Run] = []
    try:
        for endpoint in ("overview", "ward_list"):
            if args.warmup > 0:
                say(f"warm-up {endpoint} ({args.warmup:g} s each side)")
                await drive(http[endpoint], args.concurrency, args.warmup)
                await drive(raw[endpoint], args.concurrency, args.warmup)
            for r in range(args.repeat):
                for side, op in (("http", http[endpoint]), ("raw", raw[endpoint])):
                    if side == "http":  # fresh keep-alive connections: the server drops idle ones after 5 s
                        for c in conns:
                            await c.close()
                    run = await measure(side, endpoint, op, args.concurrency, args.seconds, server_pid, pg_pid)
                    runs.append(run)
                    say(f"  {endpoint:<9} {side:<4} #{r + 1}: {run.rps:8.1f} req/s  p50 {run.p50_ms:6.1f} ms"
                        f"  p99 {run.p99_ms:6.1f} ms  errors {run.errors}  cpu bench/server/pg "
                        f"{run.cpu_bench_s:.1f}/{run.cpu_server_s:.1f}/{run.cpu_postgres_s:.1f} s"
                        + (f"  first error: {run.first_error}" if run.first_error else ""))
    finally:
        for c in conns:
            await c.close()
        await pool.close()
    return runs


def med(runs: list[Run], attr: str) -> float:
    return float(statistics.median(getattr(r, attr) for r in runs))


def summarize(runs: list[Run]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for endpoint in ("overview", "ward_list"):
        row: dict[str, object] = {}
        for side in ("http", "raw"):
            mine = [r for r in runs if r.endpoint == endpoint and r.side == side]
            row[side] = {a: round(med(mine, a), 2) for a in
                         ("rps", "p50_ms", "p95_ms", "p99_ms", "mean_body_bytes", "cpu_bench_s", "cpu_server_s",
                          "cpu_postgres_s", "seconds")}
            row[side]["errors"] = sum(r.errors for r in mine)  # type: ignore[index]
        h, w = row["http"]["rps"], row["raw"]["rps"]  # type: ignore[index]
        ratio = h / w if w else 0.0
        row["ratio"] = round(ratio, 3)
        row["goal"] = "PASS" if ratio >= GOAL else "MISS"
        out[endpoint] = row
    return out


def print_table(summary: dict[str, dict[str, object]]) -> None:
    head = (f"{'endpoint':<10} | {'HTTP req/s':>10} | {'raw SQL req/s':>13} | {'HTTP/raw':>8} | "
            f"{'HTTP p50/p95/p99 ms':>21} | {'raw p50/p95/p99 ms':>21}")
    print(head)
    print("-" * len(head))
    for endpoint, row in summary.items():
        h, r = row["http"], row["raw"]
        print(f"{endpoint:<10} | {h['rps']:>10.1f} | {r['rps']:>13.1f} | {row['ratio']:>7.0%} | "  # type: ignore[index]
              f"{h['p50_ms']:>6.1f}/{h['p95_ms']:>6.1f}/{h['p99_ms']:>6.1f} | "  # type: ignore[index]
              f"{r['p50_ms']:>6.1f}/{r['p95_ms']:>6.1f}/{r['p99_ms']:>6.1f}")  # type: ignore[index]
    print()
    print("CPU seconds per run (median; bench = this process: HTTP client or psycopg driver):")
    for endpoint, row in summary.items():
        for side in ("http", "raw"):
            s = row[side]
            n = s["rps"] * s["seconds"]  # type: ignore[index,operator]
            per = (1e3 * (s["cpu_bench_s"] + s["cpu_server_s"] + s["cpu_postgres_s"]) / n) if n else 0.0  # type: ignore[index,operator]
            print(f"  {endpoint:<10} {side:<4} bench {s['cpu_bench_s']:5.1f}  uvicorn {s['cpu_server_s']:5.1f}  "  # type: ignore[index]
                  f"postgres {s['cpu_postgres_s']:5.1f}  → {per:.2f} ms CPU/request, "  # type: ignore[index]
                  f"body {s['mean_body_bytes']:.0f} B, errors {s['errors']}")  # type: ignore[index]
    print()
    print(f"goal: HTTP ≥ {GOAL:.0%} of raw SQL throughput  "
          + "  ".join(f"{e}: {row['goal']} ({row['ratio']:.0%})" for e, row in summary.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per side before measuring")
    parser.add_argument("--pool-size", type=int, default=None, help="OBRUTEN_POOL_SIZE per worker (default: app's)")
    args = parser.parse_args()

    exit_on_sigterm()
    base = reachable_tempdir("obruten-bench-")
    pg: PostgresInstance | None = None
    server: subprocess.Popen[bytes] | None = None
    try:
        pg = PostgresInstance.at(base, free_port())
        counts = start_seeded(pg, args.patients)
        db_url = pg.url()

        import psycopg

        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            pg_version = str(conn.execute("SELECT version()").fetchone()[0])  # type: ignore[index]

        var_dir = base / "var"
        var_dir.mkdir()
        port = free_port()
        server = start_server(db_url, var_dir, port, args.workers, args.pool_size)
        http_base = f"http://127.0.0.1:{port}"
        wait_healthy(http_base, server)
        login = http_json(http_base + "/api/v1/login", {"username": "lakare", "password": "demo"})
        assert isinstance(login, dict)
        token, units = login["token"], list(login["user"]["units"])
        patient_ids: list[int] = []
        ward_units: list[str] = []
        for unit in units:
            listed = http_json(f"{http_base}/api/v1/units/{unit}/patients", token=token)
            assert isinstance(listed, list)
            patient_ids.extend(int(p["id"]) for p in listed)
            if listed:
                ward_units.append(unit)
        if not patient_ids:
            raise RuntimeError(f"no patients admitted to lakare's units {units}")
        say(f"lakare works on {units}; {len(patient_ids)} admitted patients")

        info = machine_info(pg_version, patients_seeded=args.patients, uvicorn_workers=args.workers,
                            concurrency=args.concurrency, seconds_per_run=args.seconds, repeat=args.repeat,
                            admitted_patients=len(patient_ids), units=",".join(ward_units))
        target = Target(patient_ids=patient_ids, units=ward_units, session=None)  # type: ignore[arg-type]
        runs = asyncio.run(bench(args, db_url, port, token, target, server.pid, pg.postmaster_pid()))

        summary = summarize(runs)
        print()
        print_machine_info(info)
        print()
        print_table(summary)
        write_results(RESULTS, {"machine": info, "args": vars(args), "seed_counts": counts,
                                "summary": summary, "runs": [asdict(r) for r in runs]})
        return 0
    finally:
        clean_up(server, [pg], base)


if __name__ == "__main__":
    sys.exit(main())
