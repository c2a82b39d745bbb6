"""Read copy under real load: simulated staff with sessions and think time against `obruten serve --read-copy`.

One run on this machine: an embedded primary seeded with a synthetic region (``--patients``, default
100,000) plus bench staff on its wards, a streaming hot standby of it (``pg_basebackup -R``), and the
read copy serving the standby (its own process, ``--workers`` uvicorn workers). Then:

* **user levels** (``--users 500,1000,2500,5000,10000``; a level whose p99 passes 2 s ends the round): each simulated user holds a session (the
  bench logs in ``--logins`` distinct staff once; users share those sessions round-robin, since a
  real login costs an Argon2 hash) and loops ward list → patient overview → medication list (the
  order's administrations page, HTML with the banner) with a think time uniform in
  [0.5, 1.5] × ``--think`` seconds between requests. Users start spread over one think time; the
  measurement window (``--seconds``) starts after that ramp. Requests travel over ``--proxy`` (64)
  shared keep-alive connections, recycled every 1,000 requests, as through a reverse proxy
  (production terminates TLS there); ``--proxy 0`` gives every user its own connection, closed
  while the user thinks longer than uvicorn's keep-alive, as browsers straight at uvicorn would.
* **raw SQL limit**: the same three reads through the same ``Journal`` code (access check, queries,
  audit into a spool) straight over psycopg, closed loop at ``--concurrency``, no HTTP, no cache (the
  medication page's step makes the page's three reads: order with administrations, list, overview).
* **HTTP closed loop** at the same concurrency, for the HTTP/raw ratio (as in ``read_path.py``).

``--writes-per-s N`` (default 0) keeps the journal busy meanwhile: a thread inserts N notes a second
on the primary, on the bench wards' patients, for the whole run, so the standby replays writes
while it is read (the read copy's cache must then drop what they change, and only that).

Each measurement runs ``--repeat`` times; medians are reported with the spread (the machine is shared).
The goal line (10,000 users, ~1,000 req/s, p99 ≤ 200 ms) is printed, never asserted.

    .venv/bin/python bench/read_copy_load.py [--patients 100000] [--users 1000,2500,5000,10000] [--think 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    clean_up,
    exit_on_sigterm,
    free_port,
    pct,
    reachable_tempdir,
    say,
    start_read_copy,
    start_seeded,
    tree_cpu,
    write_results,
)
from _http import HttpConn, metric_values, settle, wait_healthy  # noqa: E402
from _machine import machine_info, print_machine_info  # noqa: E402
from _note_load import NoteLoad  # noqa: E402
from _staff import Login, add_bench_staff, log_in_all  # noqa: E402
from obruten.platform.pgserver import PostgresInstance  # noqa: E402
from obruten.readcopy.spool import Spool, SpoolSink  # noqa: E402
from obruten.readcopy.standby import create_standby, wait_replayed  # noqa: E402
from obruten.record import staff  # noqa: E402
from obruten.record.audit import AuditWriter  # noqa: E402
from obruten.record.service import Journal  # noqa: E402

P99_GOAL_MS = 200.0
SATURATED_MS = 2000.0
GOAL_USERS = 10_000
RESULTS = Path(__file__).resolve().parent / "results" / "read_copy_load.json"


# ---- measuring ---------------------------------------------------------------------------------------
@dataclass
class Level:
    kind: str  # "users", "raw", "http_closed"
    users: int
    think_s: float
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    p99_by_step: dict[str, float]
    cpu_client_s: float
    cpu_client_pct: float
    cpu_server_s: float
    cpu_postgres_s: float
    load_avg_1m: float
    connects: int = 0
    first_error: str = ""
    p50_by_step: dict[str, float] | None = None


class Recorder:
    def __init__(self, start: float, stop: float) -> None:
        self.start, self.stop = start, stop
        self.latencies: dict[str, list[float]] = {"ward": [], "overview": [], "medication": []}
        self.errors = 0
        self.first_error = ""

    def record(self, step: str, t0: float, t1: float) -> None:
        if self.start <= t0 < self.stop:
            self.latencies[step].append(t1 - t0)

    def error(self, t0: float, exc: BaseException | str) -> None:
        if self.start <= t0 < self.stop:
            self.errors += 1
            self.first_error = self.first_error or (exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}")[:200]


def summarize(kind: str, users: int, think: float, rec: Recorder, cpu: tuple[float, float, float],
              connects: int = 0) -> Level:
    merged = sorted(x for values in rec.latencies.values() for x in values)
    seconds = rec.stop - rec.start
    n = len(merged)
    return Level(kind=kind, users=users, think_s=think, requests=n, errors=rec.errors, seconds=round(seconds, 2),
                 rps=round(n / seconds, 1), p50_ms=round(pct(merged, 0.50) * 1e3, 1),
                 p99_ms=round(pct(merged, 0.99) * 1e3, 1),
                 p99_by_step={k: round(pct(sorted(v), 0.99) * 1e3, 1) for k, v in rec.latencies.items() if v},
                 cpu_client_s=round(cpu[0], 2), cpu_client_pct=round(100 * cpu[0] / seconds, 1),
                 cpu_server_s=round(cpu[1], 2), cpu_postgres_s=round(cpu[2], 2),
                 load_avg_1m=round(os.getloadavg()[0], 2), connects=connects, first_error=rec.first_error,
                 p50_by_step={k: round(pct(sorted(v), 0.50) * 1e3, 1) for k, v in rec.latencies.items() if v})


async def user_level(port: int, logins: list[Login], users: int, think: float, seconds: float,
                     pids: tuple[int, int | None], proxy: int = 0) -> Level:
    """``proxy`` = 0: every user has its own connection, closed while thinking longer than the server's
    keep-alive (browsers straight at uvicorn). ``proxy`` > 0: requests share that many keep-alive
    connections, each carrying its user's session (a reverse proxy in front of the read copy)."""
    rng = random.Random(users)
    conns = [HttpConn("127.0.0.1", port, logins[u % len(logins)].token) for u in range(0 if proxy else users)]
    shared: asyncio.Queue[HttpConn] = asyncio.Queue()
    for _ in range(proxy):
        # recycled after 1,000 requests like nginx's keepalive_requests, which also spreads them over the
        # uvicorn workers (they share one listening socket; a long-lived connection stays where it landed)
        shared.put_nowait(HttpConn("127.0.0.1", port, logins[0].token, max_requests=1000))
    heads = [HttpConn("127.0.0.1", port, "").header(login.token) for login in logins]
    t_start = time.perf_counter()
    rec = Recorder(t_start + think, t_start + think + seconds)

    async def step(u: int, name: str, path: str) -> None:
        t0 = time.perf_counter()
        conn = conns[u] if not proxy else await shared.get()
        try:
            status, _ = await conn.get(path, heads[u % len(logins)])
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            rec.error(t0, exc)
            return
        finally:
            if proxy:
                shared.put_nowait(conn)
        if status != 200:
            rec.error(t0, f"HTTP {status} on {path}")
            return
        rec.record(name, t0, time.perf_counter())

    async def pause(u: int) -> None:
        wait = rng.uniform(0.5, 1.5) * think
        if not proxy and wait > conns[u].max_idle:
            await conns[u].close()  # the server would drop it before the next click
        await asyncio.sleep(wait)

    async def user(u: int) -> None:
        login = logins[u % len(logins)]
        await asyncio.sleep(rng.uniform(0, think))
        while time.perf_counter() < rec.stop:
            await step(u, "ward", f"/api/v1/units/{login.unit}/patients")
            await pause(u)
            patient = rng.choice(login.patients)
            await step(u, "overview", f"/api/v1/patients/{patient}")
            await pause(u)
            orders = login.orders.get(patient)
            if orders:
                await step(u, "medication", f"/medication/{rng.choice(orders)}")
            else:
                await step(u, "overview", f"/patients/{patient}")
            await pause(u)

    tasks = [asyncio.create_task(user(u)) for u in range(users)]
    await asyncio.sleep(max(0.0, rec.start - time.perf_counter()))  # CPU is counted in the window only
    cpu0, srv0, pg0 = time.process_time(), tree_cpu(pids[0]), tree_cpu(pids[1])
    await asyncio.sleep(max(0.0, rec.stop - time.perf_counter()))
    cpu = (time.process_time() - cpu0, tree_cpu(pids[0]) - srv0, tree_cpu(pids[1]) - pg0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    everyone = conns + [shared.get_nowait() for _ in range(shared.qsize())]
    for conn in everyone:
        await conn.close()
    return summarize("users", users, think, rec, cpu, sum(c.connects for c in everyone))


async def closed_loop(kind: str, op, concurrency: int, seconds: float,  # type: ignore[no-untyped-def]
                      pids: tuple[int | None, int | None]) -> Level:
    t_start = time.perf_counter()
    rec = Recorder(t_start, t_start + seconds)

    async def worker(w: int) -> None:
        i = w
        while time.perf_counter() < rec.stop:
            t0 = time.perf_counter()
            try:
                name = await op(w, i)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                rec.error(t0, exc)
                await asyncio.sleep(0.01)
            else:
                rec.record(name, t0, time.perf_counter())
            i += concurrency

    cpu0, srv0, pg0 = time.process_time(), tree_cpu(pids[0]), tree_cpu(pids[1])
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    cpu = (time.process_time() - cpu0, tree_cpu(pids[0]) - srv0, tree_cpu(pids[1]) - pg0)
    return summarize(kind, concurrency, 0.0, rec, cpu)


def _mix(logins: list[Login], i: int) -> tuple[str, Login, int, str | None]:
    """The i-th request of the closed loops: the same ward → overview → medication cycle."""
    login = logins[(i // 3) % len(logins)]
    patient = login.patients[(i // 3) % len(login.patients)]
    orders = login.orders.get(patient)
    return ("ward", "overview", "medication")[i % 3], login, patient, orders[0] if orders else None


def raw_op(journal: Journal, sessions: dict[str, object], logins: list[Login]):  # type: ignore[no-untyped-def]
    from uuid import UUID

    async def op(w: int, i: int) -> str:
        step, login, patient, order = _mix(logins, i)
        session = sessions[login.username]
        if step == "ward":
            await journal.ward_list_json(session, login.unit)  # type: ignore[arg-type]
        elif step == "overview" or order is None:
            await journal.overview_json(session, patient)  # type: ignore[arg-type]
        else:  # the medication page's reads: the order and its administrations, the list, the overview
            current, _ = await journal.administrations(session, UUID(order))  # type: ignore[arg-type]
            await journal.medication_list(session, current["patient_id"])  # type: ignore[arg-type]
            await journal.overview(session, current["patient_id"])  # type: ignore[arg-type]
        return step if step != "medication" or order else "overview"

    return op


def http_op(port: int, logins: list[Login], concurrency: int):  # type: ignore[no-untyped-def]
    conns = [[HttpConn("127.0.0.1", port, login.token) for login in logins] for _ in range(concurrency)]

    async def op(w: int, i: int) -> str:
        step, login, patient, order = _mix(logins, i)
        conn = conns[w][logins.index(login)]
        if step == "ward":
            path = f"/api/v1/units/{login.unit}/patients"
        elif step == "overview" or order is None:
            path = f"/api/v1/patients/{patient}"
        else:
            path = f"/medication/{order}"
        status, _ = await conn.get(path)
        if status != 200:
            raise RuntimeError(f"HTTP {status} on {path}")
        return step if step != "medication" or order else "overview"

    return op, conns


# ---- the benchmark ----------------------------------------------------------------------------------
async def bench(args: argparse.Namespace, port: int, standby_url: str, logins: list[Login], raw_dir: Path,
                pids: tuple[int, int | None]) -> list[Level]:
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(standby_url, min_size=args.concurrency, max_size=args.concurrency, open=False,
                               kwargs={"options": "-c TimeZone=UTC -c default_transaction_read_only=on",
                                       "autocommit": True})  # as the read copy's own pool
    await pool.open(wait=True, timeout=30)
    spool = Spool(raw_dir, raw_dir.name)
    journal = Journal(pool=pool, audit=AuditWriter(SpoolSink(spool)), node=raw_dir.name)
    sessions: dict[str, object] = {}
    async with pool.connection() as conn:
        for login in logins:
            sessions[login.username] = await staff.authenticate(conn, login.username, "demo")
    raw = raw_op(journal, sessions, logins)
    levels: list[Level] = []

    def show(level: Level) -> None:
        say(f"  {level.kind:<11} {level.users:>6}: {level.rps:7.1f} req/s  p50 {level.p50_ms:6.1f} ms  "
            f"p99 {level.p99_ms:7.1f} ms  errors {level.errors}  cpu client {level.cpu_client_pct:.0f}%  "
            f"server {level.cpu_server_s:.1f} s  pg {level.cpu_postgres_s:.1f} s  load {level.load_avg_1m}  "
            f"p99 by step {level.p99_by_step}"
            + (f"  first error: {level.first_error}" if level.first_error else ""))

    try:
        say(f"warm-up: {args.concurrency} closed-loop clients, {args.warmup:g} s each side")
        await closed_loop("raw", raw, args.concurrency, args.warmup, (None, pids[1]))
        op, conns = http_op(port, logins, args.concurrency)
        await closed_loop("http_closed", op, args.concurrency, args.warmup, pids)
        for r in range(args.repeat):
            say(f"round {r + 1}/{args.repeat}")
            level = await closed_loop("raw", raw, args.concurrency, args.closed_seconds, (None, pids[1]))
            levels.append(level)
            show(level)
            op, conns = http_op(port, logins, args.concurrency)
            level = await closed_loop("http_closed", op, args.concurrency, args.closed_seconds, pids)
            for row in conns:
                for c in row:
                    await c.close()
            levels.append(level)
            show(level)
            for users in args.users:
                level = await user_level(port, logins, users, args.think, args.seconds, pids, args.proxy)
                levels.append(level)
                show(level)
                await settle(port)
                if level.p99_ms > SATURATED_MS:
                    say(f"  p99 above {SATURATED_MS / 1000:.0f} s: the server is saturated; higher levels skipped "
                        "this round (they would only overload the shared machine)")
                    break
    finally:
        await pool.close()
        spool.close()
    return levels


def med(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def report(levels: list[Level], args: argparse.Namespace) -> dict[str, object]:
    raw = [lv for lv in levels if lv.kind == "raw"]
    closed = [lv for lv in levels if lv.kind == "http_closed"]
    raw_rps, closed_rps = med([lv.rps for lv in raw]), med([lv.rps for lv in closed])
    def per_request(mine: list[Level], attr: str) -> float:
        return med([1e3 * getattr(lv, attr) / lv.requests for lv in mine if lv.requests])

    print(f"raw SQL limit (Journal over psycopg, {args.concurrency} clients, no HTTP, no cache): "
          f"{raw_rps:.0f} req/s median (runs {', '.join(f'{lv.rps:.0f}' for lv in raw)}), "
          f"p99 {med([lv.p99_ms for lv in raw]):.0f} ms")
    print(f"HTTP closed loop ({args.concurrency} clients, no think time):            "
          f"{closed_rps:.0f} req/s median (runs {', '.join(f'{lv.rps:.0f}' for lv in closed)}), "
          f"p99 {med([lv.p99_ms for lv in closed]):.0f} ms  → {closed_rps / raw_rps:.0%} of raw")
    print()
    head = (f"{'users':>6} | {'offered/s':>9} | {'req/s':>7} | {'p50 ms':>7} | {'p99 ms (min–max)':>20} | "
            f"{'errors':>6} | {'client CPU':>10} | {'server CPU/s':>12} | {'pg CPU/s':>8} | {'load':>5} | p99 ≤ 200")
    print(head)
    print("-" * len(head))
    rows: dict[int, dict[str, object]] = {}
    best = 0
    for users in args.users:
        mine = [lv for lv in levels if lv.kind == "users" and lv.users == users]
        if not mine:
            print(f"{users:>6} | not run: a lower level saturated the server in every round")
            continue
        p99s = [lv.p99_ms for lv in mine]
        row = {"rps": med([lv.rps for lv in mine]), "p50_ms": med([lv.p50_ms for lv in mine]), "p99_ms": med(p99s),
               "p99_min": min(p99s), "p99_max": max(p99s), "errors": sum(lv.errors for lv in mine),
               "client_cpu_pct": med([lv.cpu_client_pct for lv in mine]),
               "server_cpu_per_s": med([lv.cpu_server_s / lv.seconds for lv in mine]),
               "pg_cpu_per_s": med([lv.cpu_postgres_s / lv.seconds for lv in mine]),
               "load": med([lv.load_avg_1m for lv in mine]), "offered": users / args.think}
        row["holds"] = row["p99_ms"] <= P99_GOAL_MS and row["errors"] == 0  # type: ignore[operator]
        if row["holds"]:
            best = max(best, users)
        rows[users] = row
        print(f"{users:>6} | {row['offered']:>9.0f} | {row['rps']:>7.1f} | {row['p50_ms']:>7.1f} | "
              f"{row['p99_ms']:>7.1f} ({row['p99_min']:>5.0f}–{row['p99_max']:>5.0f}) | {row['errors']:>6} | "
              f"{row['client_cpu_pct']:>9.0f}% | {row['server_cpu_per_s']:>11.2f}s | {row['pg_cpu_per_s']:>7.2f}s | "
              f"{row['load']:>5.1f} | {'yes' if row['holds'] else 'NO'}")
    print()
    print("per page (median over rounds; ms): p50 / p99 of ward list (JSON), overview (JSON), medication page (HTML)")
    pages: dict[str, dict[str, list[float]]] = {}
    for users in args.users:
        mine = [lv for lv in levels if lv.kind == "users" and lv.users == users]
        if not mine:
            continue
        cells, row_pages = [], {}
        for step in ("ward", "overview", "medication"):
            p50 = med([lv.p50_by_step[step] for lv in mine if lv.p50_by_step and step in lv.p50_by_step])
            p99 = med([lv.p99_by_step[step] for lv in mine if step in lv.p99_by_step])
            row_pages[step] = [p50, p99]
            cells.append(f"{step} {p50:6.1f} / {p99:6.1f}")
        pages[str(users)] = row_pages
        print(f"{users:>6} users | " + " | ".join(cells))
    print()
    held = [lv for lv in levels if lv.kind == "users" and lv.p99_ms <= P99_GOAL_MS] or \
        [lv for lv in levels if lv.kind == "users"]
    server_ms, pg_ms = per_request(held, "cpu_server_s"), per_request(held, "cpu_postgres_s")
    client_ms = per_request(held, "cpu_client_s")
    print(f"CPU per request under user load (median): read copy {server_ms:.2f} ms + PostgreSQL {pg_ms:.2f} ms "
          f"(+ this client {client_ms:.2f} ms); raw SQL: PostgreSQL {per_request(raw, 'cpu_postgres_s'):.2f} ms + "
          f"driver {per_request(raw, 'cpu_client_s'):.2f} ms")
    print(f"→ projected capacity with 2 dedicated cores and the client elsewhere: "
          f"{2000 / (server_ms + pg_ms):.0f} req/s (a projection from CPU cost, not a measurement)")
    print()
    if best:
        r = rows[best]
        print(f"highest load holding p99 ≤ {P99_GOAL_MS:.0f} ms: {best:,} users at {args.think:g} s think time, "
              f"{r['rps']:.0f} req/s = {r['rps'] / raw_rps:.0%} of the raw SQL limit ({raw_rps:.0f} req/s)")  # type: ignore[operator]
    else:
        print(f"no user level held p99 ≤ {P99_GOAL_MS:.0f} ms")
    print(f"goal: {GOAL_USERS:,} users at ~10 s think time (≈1,000 req/s) with p99 ≤ {P99_GOAL_MS:.0f} ms: "
          + ("PASS" if best >= GOAL_USERS else f"MISS (holds up to {best:,})"))
    return {"raw_rps": raw_rps, "http_closed_rps": closed_rps, "levels": {str(k): v for k, v in rows.items()},
            "best_users": best, "cpu_ms_per_request": {"read_copy": server_ms, "postgres": pg_ms, "client": client_ms},
            "projected_rps_2_cores": round(2000 / (server_ms + pg_ms)), "pages_ms": pages}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--users", type=lambda s: [int(x) for x in s.split(",")], default=[500, 1000, 2500, 5000, 10000])
    parser.add_argument("--think", type=float, default=10.0, help="mean think time between a user's requests (s)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window per user level (s)")
    parser.add_argument("--closed-seconds", type=float, default=10.0, help="per closed-loop run (raw, http)")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients (raw and HTTP)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes of the read copy")
    parser.add_argument("--pool-size", type=int, default=None, help="OBRUTEN_POOL_SIZE per worker")
    parser.add_argument("--proxy", type=int, default=64, metavar="N",
                        help="users' requests share N keep-alive connections (a reverse proxy, as in production); "
                             "0: one connection per user, straight at uvicorn")
    parser.add_argument("--logins", type=int, default=40, help="distinct staff logged in (sessions shared)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--writes-per-s", type=float, default=0.0,
                        help="notes written on the primary per second during the run (0: an idle journal)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the figures are written (JSON)")
    args = parser.parse_args()

    exit_on_sigterm()
    base = reachable_tempdir("obruten-bench-rc-")
    primary: PostgresInstance | None = None
    standby: PostgresInstance | None = None
    server: subprocess.Popen[bytes] | None = None
    try:
        primary = PostgresInstance.at(base, free_port(), name="primary")
        counts = start_seeded(primary, args.patients)
        names = asyncio.run(add_bench_staff(primary.url(), 2, (args.logins + 1) // 2))
        import psycopg

        with psycopg.connect(primary.url(), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            pg_version = str(conn.execute("SELECT version()").fetchone()[0])  # type: ignore[index]
        t0 = time.monotonic()
        standby = create_standby(primary, base, free_port())
        wait_replayed(primary.url(), standby.url())
        say(f"hot standby on port {standby.port} ready in {time.monotonic() - t0:.0f} s")

        port = free_port()
        server = start_read_copy(standby.url(), base / "rc-var", port, args.workers, args.pool_size)
        wait_healthy(f"http://127.0.0.1:{port}", server)
        logins = log_in_all(f"http://127.0.0.1:{port}", names[: args.logins], standby.url())
        say(f"{len(logins)} staff logged in on the read copy; "
            f"{sum(len(lg.patients) for lg in logins)} admitted patients on their wards")
        info = machine_info(pg_version, patients_seeded=args.patients, read_copy_workers=args.workers,
                            pool_size=args.pool_size or "default", proxy_connections=args.proxy, think_s=args.think, window_s=args.seconds,
                            repeat=args.repeat, logins=len(logins), writes_per_s=args.writes_per_s,
                            load_avg_at_start=os.getloadavg()[0])
        with psycopg.connect(primary.url(), autocommit=True) as conn:
            nurse = conn.execute("SELECT id FROM staff WHERE role = 'nurse' ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
        load = NoteLoad(primary.url(), args.writes_per_s, [(p, lg.unit) for lg in logins for p in lg.patients], nurse,
                        seed=17)
        load.start()
        try:
            levels = asyncio.run(bench(args, port, standby.url(), logins, base / "raw-spool" / "bench-raw",
                                       (server.pid, standby.postmaster_pid())))
        finally:
            load.stop.set()
            load.join(10)
        if args.writes_per_s:
            say(f"background writes: {load.written} notes on the primary ({args.writes_per_s:g}/s requested)")
        cache = metric_values(f"http://127.0.0.1:{port}/metrics", "obruten_read_copy_cache_")
        print()
        print_machine_info(info)
        print()
        summary = report(levels, args)
        if cache:
            asked = cache.get("hits", 0) + cache.get("misses", 0)
            print(f"read copy cache over the run (both workers): {cache.get('hits', 0):,.0f} hits, "
                  f"{cache.get('misses', 0):,.0f} misses ({cache.get('hits', 0) / max(asked, 1):.0%} hits); "
                  f"{cache.get('dropped', 0):,.0f} dropped by replayed changes, {cache.get('entries', 0):,.0f} held at the end")
            summary["cache"] = cache
        write_results(args.results, {"machine": info, "args": {**vars(args), "results": str(args.results)}, "seed_counts": counts,
                                "summary": summary, "runs": [asdict(lv) for lv in levels]})
        return 0
    finally:
        clean_up(server, [standby, primary], base)


if __name__ == "__main__":
    sys.exit(main())
