"""Login load: ``/api/v1/health`` latency while clients send wrong passwords, beside an idle baseline.

One run on this machine: an embedded PostgreSQL with a small seeded region, the journal served by
``obruten serve`` (``--workers``, default 1) as a subprocess. Each round measures three phases of
``--seconds`` each, one probe sending ``GET /api/v1/health`` every ``--interval`` seconds:

- ``idle``: nothing else;
- ``spread``: ``--clients`` clients send wrong passwords as fast as answered, each attempt for
  another account from another address (``X-Forwarded-For``, trusted from 127.0.0.1 as uvicorn
  does by default), so throttling never stops them and every attempt costs an argon2 check, the
  worst case for the server;
- ``one-account``: the same clients all try one account from one address; after 5 failures the
  throttle refuses them (429) without checking a password.

The median over the rounds of each phase's p50/p99 is printed beside the goal (p99 under attack
within 2x the idle p99), with the machine's facts. The goal line is printed, never asserted.

    .venv/bin/python bench/login_load.py [--clients 8] [--rounds 3] [--seconds 10] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402

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
from _http import HttpConn, wait_healthy  # noqa: E402
from _machine import machine_info, print_machine_info  # noqa: E402
from obruten.platform.pgserver import PostgresInstance  # noqa: E402
from obruten.record.schema import app_url  # noqa: E402

GOAL_RATIO = 2.0


class Poster:
    """One keep-alive connection sending ``POST /api/v1/login`` (lean: no HTTP library's CPU)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def login(self, username: str, password: str, forwarded_for: str | None) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        body = json.dumps({"username": username, "password": password}).encode()
        extra = f"X-Forwarded-For: {forwarded_for}\r\n" if forwarded_for else ""
        self.writer.write((f"POST /api/v1/login HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode()
                          + body)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            length = next((int(v) for n, _, v in (ln.partition(b":") for ln in lines[1:])
                           if n.strip().lower() == b"content-length"), 0)
            await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@dataclass
class Phase:
    round: int
    phase: str
    probes: int
    probe_errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    attempts: int
    attempts_per_s: float
    statuses: dict[str, int]
    cpu_server_s: float
    latencies_ms: list[float]


async def probe(host: str, port: int, seconds: float, interval: float) -> tuple[list[float], int]:
    """Health latencies (s) of one client asking every ``interval`` s for ``seconds`` s."""
    conn = HttpConn(host, port, "")
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    try:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                status, _ = await conn.get("/api/v1/health")
                if status != 200:
                    errors += 1
                else:
                    latencies.append(time.perf_counter() - t0)
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - t0)))
    finally:
        await conn.close()
    return latencies, errors


async def attack(host: str, port: int, clients: int, mode: str, stop: asyncio.Event, statuses: Counter[str]) -> None:
    counter = itertools.count()

    async def client(c: int) -> None:
        poster = Poster(host, port)
        try:
            while not stop.is_set():
                n = next(counter)
                if mode == "spread":  # another account, another address every time: never throttled
                    user, addr = f"guess{n % 5000}", f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
                else:
                    user, addr = "lakare", "10.255.0.1"
                try:
                    statuses[str(await poster.login(user, "wrong-password", addr))] += 1
                except (OSError, asyncio.IncompleteReadError):
                    statuses["error"] += 1
                    await asyncio.sleep(0.05)
        finally:
            await poster.close()

    await asyncio.gather(*(client(c) for c in range(clients)))


async def phase(host: str, port: int, rnd: int, name: str, args: argparse.Namespace, server_pid: int) -> Phase:
    statuses: Counter[str] = Counter()
    stop = asyncio.Event()
    cpu0 = tree_cpu(server_pid)
    attackers = None if name == "idle" else asyncio.create_task(attack(host, port, args.clients, name, stop, statuses))
    if attackers is not None:
        await asyncio.sleep(1.0)  # let the attack reach its pace before measuring
        statuses.clear()
    started = time.perf_counter()
    latencies, errors = await probe(host, port, args.seconds, args.interval)
    elapsed = time.perf_counter() - started
    attempts = sum(statuses.values())
    stop.set()
    if attackers is not None:
        await attackers
    cpu = tree_cpu(server_pid) - cpu0
    latencies.sort()
    return Phase(rnd, name, len(latencies), errors, round(pct(latencies, 0.5) * 1e3, 1),
                 round(pct(latencies, 0.99) * 1e3, 1), round(latencies[-1] * 1e3, 1) if latencies else float("nan"),
                 attempts, round(attempts / elapsed, 1), dict(statuses), round(cpu, 2),
                 [round(v * 1e3, 2) for v in latencies])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between health probes")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "login_load.json")
    args = parser.parse_args()
    exit_on_sigterm()
    root = reachable_tempdir("obruten-bench-login-")
    pg: PostgresInstance | None = None
    server = None
    try:
        pg = PostgresInstance.at(root / "pg", free_port())
        start_seeded(pg, args.patients)
        var_dir = root / "var"
        var_dir.mkdir()
        port = free_port()
        server = start_server(app_url(pg.url(), var_dir / "app-password"), var_dir, port, args.workers, None)
        wait_healthy(f"http://127.0.0.1:{port}", server)
        with psycopg.connect(pg.url()) as conn:
            version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        info = machine_info(version, clients=args.clients,
                            workers=args.workers, rounds=args.rounds, seconds=args.seconds,
                            probe_interval_s=args.interval)
        print_machine_info(info)
        phases = asyncio.run(run(port, args, server.pid))
        summary = summarise(phases)
        report(phases, summary)
        load = os.getloadavg()
        print(f"\nload average during the run (1/5/15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
              f"on {os.cpu_count()} cores: other work on the machine widens every figure")
        write_results(args.results, {"machine": info, "phases": [asdict(p) for p in phases], "summary": summary,
                                     "load_average": load})
    finally:
        clean_up(server, [pg], root)


async def run(port: int, args: argparse.Namespace, server_pid: int) -> list[Phase]:
    phases = []
    for rnd in range(1, args.rounds + 1):
        for name in ("idle", "spread", "one-account"):
            p = await phase("127.0.0.1", port, rnd, name, args, server_pid)
            say(f"round {rnd} {name:<12} p50 {p.p50_ms:7.1f} ms  p99 {p.p99_ms:7.1f} ms  "
                f"attempts {p.attempts_per_s:6.1f}/s {p.statuses}")
            phases.append(p)
    return phases


def summarise(phases: list[Phase]) -> dict[str, object]:
    def med(name: str, key: str) -> float:
        return round(statistics.median(getattr(p, key) for p in phases if p.phase == name), 1)

    def pooled(name: str, q: float) -> float:
        values = sorted(v for p in phases if p.phase == name for v in p.latencies_ms)
        return round(pct(values, q), 1)

    idle_p99, idle_pooled = med("idle", "p99_ms"), pooled("idle", 0.99)
    out: dict[str, object] = {"goal": f"p99 under attack <= {GOAL_RATIO:g} x idle p99"}
    for name in ("idle", "spread", "one-account"):
        p99, all_p99 = med(name, "p99_ms"), pooled(name, 0.99)
        out[name] = {"p50_ms": med(name, "p50_ms"), "p99_ms": p99, "attempts_per_s": med(name, "attempts_per_s"),
                     "p99_over_idle": round(p99 / idle_p99, 2) if idle_p99 else None,
                     "pooled_p50_ms": pooled(name, 0.5), "pooled_p99_ms": all_p99,
                     "pooled_p99_over_idle": round(all_p99 / idle_pooled, 2) if idle_pooled else None,
                     "goal_met": p99 <= GOAL_RATIO * idle_p99, "goal_met_pooled": all_p99 <= GOAL_RATIO * idle_pooled}
    return out


def report(phases: list[Phase], summary: dict[str, object]) -> None:
    print()
    print(f"{'round':>5} {'phase':<12} {'probes':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'logins/s':>9} {'server cpu s':>12}  answers")
    for p in phases:
        print(f"{p.round:>5} {p.phase:<12} {p.probes:>6} {p.p50_ms:>8.1f} {p.p99_ms:>8.1f} {p.max_ms:>8.1f} "
              f"{p.attempts_per_s:>9.1f} {p.cpu_server_s:>12.2f}  {p.statuses or ''}")
    print()
    print(f"goal: {summary['goal']}")
    print(f"{'':<14} {'median of the rounds':^37}   {'all probes of the phase together':^34}")
    print(f"{'phase':<14} {'p50 ms':>7} {'p99 ms':>7} {'p99/idle':>9} {'goal':>8}   {'p50 ms':>7} {'p99 ms':>7} "
          f"{'p99/idle':>9} {'goal':>8}   logins/s")
    for name in ("idle", "spread", "one-account"):
        s = summary[name]
        assert isinstance(s, dict)
        print(f"{name:<14} {s['p50_ms']:>7.1f} {s['p99_ms']:>7.1f} {s['p99_over_idle']:>9} "
              f"{'met' if s['goal_met'] else 'NOT met':>8}   {s['pooled_p50_ms']:>7.1f} {s['pooled_p99_ms']:>7.1f} "
              f"{s['pooled_p99_over_idle']:>9} {'met' if s['goal_met_pooled'] else 'NOT met':>8}   "
              f"{s['attempts_per_s']:.1f}")


if __name__ == "__main__":
    main()
