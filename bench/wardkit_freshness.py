"""Ward kits fresh within a minute: how long from a write on a ward until the ward PC holds a kit
with it, under a background write load, while the periodic full rebuild goes on.

Starts (or reuses, ``--region-dir``) the seeded region of ``bench/wardkit_build.py``, then the real
parts: the journal (``serve_journal``, which serves kits and the long-poll), the kit builder
(``obruten wardkit run --every M``: a full round every M minutes, LISTEN obruten_kit between) and
``--agents`` ward agents (``Agent.watch`` and the periodic fetch every 60 s, as deployed). A
background thread writes ``--load`` notes per second to random admitted patients across the
region (each wakes a rebuild of that unit). Each probe writes a note with a unique text on one of
the agents' wards and times until that agent's newest kit holds it. ``--rounds`` rounds of
``--probes`` probes; every round is printed with its spread; the full rounds' times from the
builder's log are printed beside. The goal (p95 ≤ 60 s) is printed, never asserted.

    .venv/bin/python bench/wardkit_freshness.py [--units 1100] [--rounds 3] [--probes 20] [--load 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from _harness import exit_on_sigterm, free_port, pct, reachable_tempdir, say, start_server, stop_server, write_results  # noqa: E402
from _machine import calibration, machine_info, print_machine_info  # noqa: E402
from _note_load import NoteLoad  # noqa: E402
from _wardkit_region import region  # noqa: E402
from obruten.ward_agent.agent import Agent  # noqa: E402
from obruten.ward_agent.settings import AgentSettings  # noqa: E402
from obruten.wardkit import build  # noqa: E402
from obruten.wardkit.tokens import agent_token  # noqa: E402

GOAL_S = 60.0
FULL_ROUND = re.compile(r"built (\d+) of (\d+) unit kits \((\d+) patients\) in ([0-9.]+) s")
RESULTS = Path(__file__).resolve().parent / "results" / "wardkit_freshness.json"


def start_builder(url: str, var_dir: Path, every_min: float, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, OBRUTEN_VAR_DIR=str(var_dir))
    code = "from obruten.cli import main; main()"
    return subprocess.Popen([sys.executable, "-c", code, "wardkit", "run", "--every", str(every_min),
                             "--database-url", url, "--keep", "3"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"), start_new_session=True)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


async def run_agents(agents: list[Agent], stop: asyncio.Event) -> None:
    async def periodic(agent: Agent) -> None:
        while True:
            await asyncio.to_thread(agent.tick)
            await asyncio.sleep(agent.settings.fetch_every_s)
    tasks = [asyncio.create_task(t) for a in agents for t in (a.watch(), periodic(a))]
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=1100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--probes", type=int, default=20, help="probes per round")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--load", type=float, default=5.0, help="background writes per second")
    parser.add_argument("--every", type=float, default=3.0, help="minutes between the builder's full rounds")
    parser.add_argument("--region-dir", type=Path, default=Path("/tmp/obruten-wardkit-bench"))
    args = parser.parse_args()
    exit_on_sigterm()

    pg, url = region(args.region_dir, args.units, say=say)
    var_dir = reachable_tempdir("obruten-fresh-")
    builder_log = var_dir / "builder.log"
    server = builder = None
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    try:
        with psycopg.connect(url, autocommit=True) as c:
            version = c.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            admitted = c.execute("SELECT a.patient_id, a.unit_id FROM admission_current a "
                                 "WHERE a.discharged_at IS NULL").fetchall()
            staff = c.execute("SELECT id FROM staff WHERE role = 'nurse' ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
            n_units = c.execute("SELECT count(*) FROM care_unit").fetchone()[0]  # type: ignore[index]
        info = machine_info(version, loadavg_start=" ".join(Path("/proc/loadavg").read_text().split()[:3]))
        print_machine_info(info)
        by_unit: dict[str, list[int]] = {}
        for patient, unit in admitted:
            by_unit.setdefault(unit, []).append(patient)
        wards = random.Random(7).sample(sorted(by_unit), args.agents)
        print(f"region       {n_units} units, {len(admitted)} admitted; agents on {', '.join(wards)}; "
              f"load {args.load:g} writes/s; full round every {args.every:g} min")

        port = free_port()
        server = start_server(url, var_dir, port, 1, None)
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _up(base), 60, "the journal")
        builder = start_builder(url, var_dir, args.every, builder_log)
        say("builder started: waiting for its first full round")
        wait_until(lambda: FULL_ROUND.search(builder_log.read_text()), 600, "the first full round", 1.0)
        trusted = var_dir / "agent-trusted"
        trusted.write_text(build.signing_key(var_dir).trusted_line() + "\n")
        agents = [Agent(AgentSettings(var_dir=var_dir / f"pc-{w}", unit=w, journal_urls=(base,),
                                      token=agent_token(var_dir, w), trusted_keys=trusted, fetch_every_s=60,
                                      agent_name=f"pc-{w}").validate()) for w in wards]
        threading.Thread(target=loop.run_until_complete, args=(run_agents(agents, stop),), daemon=True).start()
        wait_until(lambda: all(a.kits.newest() for a in agents), 120, "every agent's first kit")
        load = NoteLoad(url, args.load, [(p, u) for p, u in admitted], staff)
        load.start()
        rng = random.Random(60)
        rounds: list[dict[str, object]] = []
        with psycopg.connect(url, autocommit=True) as c:
            for n in range(args.rounds):
                cal = calibration()
                lat: list[float] = []
                for _ in range(args.probes):
                    i = rng.randrange(len(agents))
                    agent, ward = agents[i], wards[i]
                    marker = f"probe-{uuid.uuid4().hex[:12]}"
                    c.execute("INSERT INTO note (patient_id, unit_id, kind, title, body, clinical_at, signed_by) "
                              "VALUES (%s, %s, 'omvardnad', 'Omvårdnad', %s, now(), %s)",
                              (rng.choice(by_unit[ward]), ward, marker, staff))
                    started = time.monotonic()
                    wait_until(lambda a=agent, m=marker: _holds(a, m), 300, f"probe {marker}", 0.1)
                    lat.append(time.monotonic() - started)
                    say(f"  probe on {ward}: {lat[-1]:.1f} s")
                    time.sleep(rng.uniform(1, 6))   # the next change comes at a random moment
                lat.sort()
                rnd = {"calibration_s": cal, "p50_s": pct(lat, 0.5), "p95_s": pct(lat, 0.95), "max_s": lat[-1],
                       "min_s": lat[0], "latencies_s": lat}
                rounds.append(rnd)
                say(f"round {n + 1}/{args.rounds}: p50 {rnd['p50_s']:.1f} s, p95 {rnd['p95_s']:.1f} s, "
                    f"min–max {lat[0]:.1f}–{lat[-1]:.1f} s, calibration {cal:.2f} s")
        load.stop.set()
        full = [float(m.group(4)) for m in FULL_ROUND.finditer(builder_log.read_text())]
        info["loadavg_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        every = sorted(x for r in rounds for x in r["latencies_s"])  # type: ignore[attr-defined]
        print()
        print(f"{'change → newest kit on the ward PC':<40}{'p50':>8}{'p95':>8}{'min':>8}{'max':>8}")
        for n, r in enumerate(rounds, 1):
            print(f"{'round ' + str(n):<40}{r['p50_s']:>7.1f}s{r['p95_s']:>7.1f}s{r['min_s']:>7.1f}s{r['max_s']:>7.1f}s")
        print(f"{'all ' + str(len(every)) + ' probes':<40}{pct(every, 0.5):>7.1f}s{pct(every, 0.95):>7.1f}s"
              f"{every[0]:>7.1f}s{every[-1]:>7.1f}s")
        p95s = [float(r["p95_s"]) for r in rounds]  # type: ignore[arg-type]
        print(f"spread of the rounds' p95     {min(p95s):.1f}–{max(p95s):.1f} s")
        print(f"background writes             {load.written} ({args.load:g}/s asked)")
        print(f"full rounds during the run    {len(full)}: " + ", ".join(f"{x:.1f} s" for x in full)
              + f" (goal ≤ {GOAL_S:.0f} s)")
        cals = [float(r["calibration_s"]) for r in rounds]  # type: ignore[arg-type]
        print(f"noise                         calibration {min(cals):.2f}–{max(cals):.2f} s; loadavg "
              f"{info['loadavg_start']} → {info['loadavg_end']}")
        print(f"goal p95 ≤ {GOAL_S:.0f} s: {'met' if pct(every, 0.95) <= GOAL_S else 'MISSED'} "
              f"(before: 270 s with a 5-minute builder and a 60-s fetch)")
        write_results(RESULTS, {"machine": info, "args": vars(args) | {"region_dir": str(args.region_dir)},
                                "rounds": rounds, "full_rounds_s": full, "background_writes": load.written})
    finally:
        loop.call_soon_threadsafe(stop.set)
        if builder is not None:
            stop_server(builder)
        if server is not None:
            stop_server(server)
        pg.stop()
        shutil.rmtree(var_dir, ignore_errors=True)   # the kits of 1,100 units: about a gigabyte


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/api/v1/health", timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _holds(agent: Agent, marker: str) -> bool:
    kit = agent.kits.newest()
    return kit is not None and marker in kit.json_path.read_text(encoding="utf-8")


if __name__ == "__main__":
    main()
