"""Post-registration submit: 10,000 downtime entries from a ward agent into the journal's review queue.

One run on this machine: starts its own embedded PostgreSQL in a temp dir, seeds a synthetic
region, serves the journal with uvicorn (a subprocess, one worker), fills a ward agent's SQLite
store with ``--entries`` queued entries (half medication administrations, half notes, for the
admitted patients of the busiest ward, taken from its ward-kit data) and measures, ``--repeat``
times with fresh keys, interleaved:

* http    the agent's Submitter drains the store: batches over HTTP (≤ 56 KiB each), journal
          validation, one transaction per batch, ack, and the agent marking them submitted
* direct  the same batches through ``postreg.queue.receive`` in-process (no HTTP, no agent store)
* copy    the raw limit: the same rows COPYed into postreg_entry plus their 'pending' state rows,
          one transaction

Medians are printed with the machine; the 10 s goal is printed, never asserted.

    .venv/bin/python bench/postreg_submit.py [--entries 10000] [--patients 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    clean_up,
    exit_on_sigterm,
    free_port,
    reachable_tempdir,
    say,
    start_seeded,
    start_server,
    write_results,
)
from _http import wait_healthy  # noqa: E402
from _machine import machine_info, print_machine_info  # noqa: E402
from obruten.platform.pgserver import PostgresInstance  # noqa: E402
from obruten.postreg import queue  # noqa: E402
from obruten.postreg.agents import AgentIdentity  # noqa: E402
from obruten.postreg.models import Batch, DowntimeEntry  # noqa: E402
from obruten.ward_agent.downtime_store import DowntimeStore  # noqa: E402
from obruten.ward_agent.downtime_submit import Submitter  # noqa: E402
from obruten.wardkit.content import unit_kit_data  # noqa: E402
from obruten.wardkit.tokens import agent_token  # noqa: E402

GOAL_SECONDS = 10.0
RESULTS = Path(__file__).resolve().parent / "results" / "postreg_submit.json"


def busiest_ward(db_url: str) -> str:
    import psycopg

    with psycopg.connect(db_url) as c:
        return c.execute("SELECT unit_id FROM admission_current WHERE discharged_at IS NULL GROUP BY unit_id"
                         " ORDER BY count(*) DESC LIMIT 1").fetchone()[0]  # type: ignore[index]


def kit(db_url: str, unit: str) -> dict:
    import psycopg

    async def build() -> dict:
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            return await unit_kit_data(conn, unit)

    return asyncio.run(build())


def entries(kit_data: dict, n: int) -> list[DowntimeEntry]:
    """``n`` entries as a ward would record them over a long outage: administrations against the
    kit's orders and nursing notes, spread over the last 48 hours."""
    patients = [p for p in kit_data["patients"] if p["medications"]]
    start = datetime.now(UTC) - timedelta(hours=48)
    out = []
    for i in range(n):
        p = patients[i % len(patients)]
        at = start + timedelta(seconds=15 * i)
        common = {"key": uuid.uuid4(), "patient_id": p["id"], "author": "sjukskoterska", "clinical_at": at,
                  "recorded_at": at + timedelta(minutes=2)}
        if i % 2 == 0:
            order = p["medications"][i // 2 % len(p["medications"])]
            out.append(DowntimeEntry(kind="medication_administration", order_entry=order["entry_id"],
                                     administration={"outcome": "given", "dose_given": order["dose"]}, **common))
        else:
            out.append(DowntimeEntry(kind="note", note={"kind": "omvardnad", "title": "Driftstopp",
                                                        "body": f"Patienten vilar, inga besvär. Kontroll {i}."},
                                     **common))
    return out


def run_http(base: str, token: str, unit: str, batch: list[DowntimeEntry], workdir: Path) -> dict:
    store = DowntimeStore(workdir / f"agent-{uuid.uuid4().hex[:8]}.sqlite3", unit, "bench-agent")
    store.add((e, "bench", "bench") for e in batch)
    submitter = Submitter(store, base, token, timeout=60)
    t0 = time.perf_counter()
    said = submitter.drain()
    seconds = time.perf_counter() - t0
    counts = store.counts()
    submitter.close()
    store.close()
    batches = sum(1 for s in said if s.startswith("batch "))
    if counts.get("submitted_pending", 0) != len(batch):
        raise RuntimeError(f"not everything was submitted: {counts}; last: {said[-3:]}")
    return {"seconds": seconds, "batches": batches}


def run_direct(db_url: str, unit: str, batch: list[DowntimeEntry], per_batch: int) -> dict:
    import psycopg

    agent = AgentIdentity(unit, "bench-direct")

    async def go() -> float:
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            t0 = time.perf_counter()
            for i in range(0, len(batch), per_batch):
                part = Batch(batch_id=uuid.uuid4(), device_id=agent.device_id, unit_id=unit,
                             entries=batch[i:i + per_batch])
                async with conn.transaction():
                    await queue.receive(conn, agent, part)
            return time.perf_counter() - t0

    return {"seconds": asyncio.run(go()), "batches": -(-len(batch) // per_batch)}


def run_copy(db_url: str, unit: str, batch: list[DowntimeEntry]) -> dict:
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        batch_id = uuid.uuid4()
        with cur.copy("COPY postreg_entry (idempotency_key, payload_digest, batch_id, device_id, unit_id, patient_id,"
                      " kind, order_entry, payload, author, clinical_at, recorded_at) FROM STDIN") as cp:
            for e in batch:
                cp.write_row((e.key, e.digest(), batch_id, "bench-copy", unit, e.patient_id, e.kind, e.order_entry,
                              json.dumps(e.content()), e.author, e.clinical_at, e.recorded_at))
        cur.execute("INSERT INTO postreg_state_change (entry, state) SELECT id, 'pending' FROM postreg_entry"
                    " WHERE batch_id = %s", (batch_id,))
    return {"seconds": time.perf_counter() - t0, "batches": 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    exit_on_sigterm()
    base = reachable_tempdir("obruten-bench-postreg-")
    workdir = Path(tempfile.mkdtemp(prefix="obruten-bench-agent-"))
    pg: PostgresInstance | None = None
    server: subprocess.Popen[bytes] | None = None
    try:
        pg = PostgresInstance.at(base, free_port())
        start_seeded(pg, args.patients)
        db_url = pg.url()
        import psycopg

        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            pg_version = str(conn.execute("SELECT version()").fetchone()[0])  # type: ignore[index]
        var_dir = base / "var"
        var_dir.mkdir()
        port = free_port()
        server = start_server(db_url, var_dir, port, 1, None)
        http_base = f"http://127.0.0.1:{port}"
        wait_healthy(http_base, server)
        unit = busiest_ward(db_url)
        kit_data = kit(db_url, unit)
        token = agent_token(var_dir, unit)
        say(f"ward {unit}: {len(kit_data['patients'])} admitted patients in its kit")

        runs: dict[str, list[dict]] = {"http": [], "direct": [], "copy": []}
        for r in range(args.repeat):
            for side in ("http", "direct", "copy"):
                batch = entries(kit_data, args.entries)
                if side == "http":
                    result = run_http(http_base, token, unit, batch, workdir)
                elif side == "direct":
                    per_batch = max(1, args.entries // max(1, runs["http"][-1]["batches"]))
                    result = run_direct(db_url, unit, batch, per_batch)
                else:
                    result = run_copy(db_url, unit, batch)
                runs[side].append(result)
                say(f"run {r + 1}/{args.repeat} {side:<6} {result['seconds']:7.2f} s in {result['batches']} batches")

        info = machine_info(pg_version, patients_seeded=args.patients, entries=args.entries, repeat=args.repeat,
                            uvicorn_workers=1, load_average_1_5_15=" ".join(f"{x:.1f}" for x in os.getloadavg()),
                            note="machine shared with other engineers' work while measured")
        print()
        print_machine_info(info)
        print()
        med = {side: statistics.median(r["seconds"] for r in rs) for side, rs in runs.items()}
        print(f"{'side':<8} {'median s':>9} {'entries/s':>10} {'batches':>8} {'× copy':>7}")
        for side, seconds in med.items():
            print(f"{side:<8} {seconds:9.2f} {args.entries / seconds:10.0f} {runs[side][0]['batches']:8d} "
                  f"{seconds / med['copy']:7.1f}")
        verdict = "met" if med["http"] <= GOAL_SECONDS else "NOT met"
        print(f"\ngoal: {args.entries:,} entries submitted and queued for review in ≤ {GOAL_SECONDS:.0f} s: "
              f"{verdict} (median {med['http']:.2f} s)")
        write_results(RESULTS, {"machine": info, "args": vars(args), "median_seconds": med, "runs": runs})
        return 0
    finally:
        clean_up(server, [pg], base, workdir)


if __name__ == "__main__":
    sys.exit(main())
