"""Audit anchors (ADR 0041): what `obruten audit verify` detects with and without them, what it
costs, and the window it reports.

One PostgreSQL on this machine; a chain of ``--events`` audit events; the ops service's anchor job
(``AnchorTaker``, its own SQLite store and key) takes anchors as the chain grows. Then each
tampering kind is done on a copy of the database (as a superuser with the append-only trigger off)
and checked twice: by the chain alone and against the anchors. Printed: one line per kind, the
verdict's first sentences, the time of each check, and what one anchor costs (first: a full count;
later: only the events after the previous anchor).

    .venv/bin/python bench/audit_anchors.py [--events 200000] [--json bench/results/audit_anchors.json]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402
from psycopg_pool import AsyncConnectionPool  # noqa: E402

from _harness import clean_up, free_port, reachable_tempdir, say, write_results  # noqa: E402
from _machine import machine_info, print_machine_info  # noqa: E402
from obruten.ops.audit_anchors import AnchorTaker, signing_key  # noqa: E402
from obruten.ops.store import Store  # noqa: E402
from obruten.platform import checkpoint  # noqa: E402
from obruten.platform.pgserver import PostgresInstance  # noqa: E402
from obruten.platform.signing import TrustedKeys  # noqa: E402
from obruten.record import audit, audit_anchor  # noqa: E402
from obruten.record.audit import AuditEvent, append_chained  # noqa: E402
from obruten.record.schema import migrate  # noqa: E402


def delete_newest(n: int) -> str:
    return f"DELETE FROM audit_event WHERE id IN (SELECT id FROM audit_event ORDER BY id DESC LIMIT {n})"


async def _fill(url: str, n: int, start: int, batch: int = 2000) -> None:
    async with AsyncConnectionPool(url, min_size=1, max_size=1, open=False) as pool:
        for first in range(start, start + n, batch):
            events = [AuditEvent(actor=f"user{i % 40}", action="read", patient_id=i % 100_000, purpose="vård",
                                 detail={"view": "overview"}) for i in range(first, min(first + batch, start + n))]
            async with pool.connection() as conn, conn.transaction():
                await append_chained(conn, events)


def fill(url: str, n: int, start: int = 0) -> None:
    asyncio.run(_fill(url, n, start))


def _superuser(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
        for statement in statements:
            c.execute(statement)
        c.execute("ALTER TABLE audit_event ENABLE TRIGGER USER")


def recompute(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        rows = c.execute("SELECT id, at, node, source_seq, actor_id, actor, action, patient_id, purpose, detail "
                         "FROM audit_event ORDER BY id").fetchall()
        c.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
        prev, updates = audit.GENESIS, []
        for row_id, at, node, source_seq, actor_id, actor, action, patient_id, purpose, detail in rows:
            digest = audit.link(prev, AuditEvent(actor=actor, action=action, actor_id=actor_id, patient_id=patient_id,
                                                 purpose=purpose, detail=detail, at=at, node=node,
                                                 source_seq=source_seq))
            updates.append((prev, digest, row_id))
            prev = digest
        with c.cursor() as cur:
            cur.executemany("UPDATE audit_event SET prev_hash = %s, hash = %s WHERE id = %s", updates)
        c.execute("ALTER TABLE audit_event ENABLE TRIGGER USER")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print_machine_info(machine_info())
    base = reachable_tempdir("obruten-bench-anchor-")
    pg = PostgresInstance.at(base / "pg", free_port())
    store: Store | None = None
    results: dict[str, object] = {"machine": machine_info(), "events": args.events}
    try:
        pg.init()
        pg.start()
        pg.ensure_database("intact")
        url = pg.url("intact")
        migrate(url)
        started = time.monotonic()
        fill(url, args.events)
        say(f"{args.events:,} audit events written in {time.monotonic() - started:.1f} s")

        ops_dir = base / "ops"
        store = Store(ops_dir / "ops.sqlite3")
        taker = AnchorTaker(url, store, ops_dir, signing_key(ops_dir), interval_s=60, node="ops@bench")
        t0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
        timed = []
        for minute in range(3):  # three anchors a minute apart, 1,000 events written between them
            began = time.perf_counter()
            sentence = taker.run(t0 + timedelta(minutes=minute))[0]
            timed.append(round((time.perf_counter() - began) * 1000, 1))
            say(f"  {sentence}  ({timed[-1]} ms)")
            fill(url, 1000, start=args.events + minute * 1000)
        results["anchor_ms"] = {"first_full_count": timed[0], "incremental": timed[1:]}
        anchors = audit_anchor.from_file(ops_dir / "audit_anchors.jsonl")
        trusted = TrustedKeys.load(ops_dir / "audit_anchor_key.pub")
        now = t0 + timedelta(minutes=2, seconds=37)

        def copy(name: str) -> str:
            with psycopg.connect(pg.url("postgres"), autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{name}" TEMPLATE intact')
            return pg.url(name)

        with psycopg.connect(url) as c:
            middle = c.execute("SELECT id FROM audit_event ORDER BY id OFFSET %s LIMIT 1",
                               (args.events + 1500,)).fetchone()[0]
        scenarios = {
            "intact": [],
            "newest 50 deleted (inside the window: after the newest anchor)": [delete_newest(50)],
            "newest 1,500 deleted (past the newest anchor)": [delete_newest(1500)],
            "newest 1,500 deleted, then 2,000 new events": [delete_newest(1500), "fill"],
            "one event rewritten, chain recomputed": [f"UPDATE audit_event SET actor = 'x' WHERE id = {middle}",
                                                      "recompute"],
            "newest 1,500 deleted, newest anchor rewritten to match": [delete_newest(1500), "forge"],
        }
        rows = []
        for number, (name, steps) in enumerate(scenarios.items()):
            target = copy(f"case{number}")
            used = anchors
            for step in steps:
                if step == "fill":
                    fill(target, 2000, start=10**7)
                elif step == "recompute":
                    recompute(target)
                elif step == "forge":
                    alone = audit.verify(target)
                    with psycopg.connect(target) as c:
                        digest = bytes(c.execute("SELECT hash FROM audit_event WHERE id = %s",
                                                 (alone.last_id,)).fetchone()[0]).hex()
                    forged = [*anchors[:-1], checkpoint.parse({**anchors[-1].as_dict(), "events": alone.events,
                                                                 "last_id": alone.last_id, "last_hash": digest})]
                    used = forged
                else:
                    _superuser(target, step)
            began = time.perf_counter()
            alone = audit.verify(target)
            alone_s = time.perf_counter() - began
            began = time.perf_counter()
            verdict = audit_anchor.verify(target, used, trusted, now)
            anchored_s = time.perf_counter() - began
            lines = verdict.lines()
            rows.append({"case": name, "chain_alone": "passes" if alone.ok else "FAILS",
                         "with_anchors": "passes" if verdict.ok else "FAILS", "kinds": sorted(verdict.kinds),
                         "chain_alone_s": round(alone_s, 2), "with_anchors_s": round(anchored_s, 2),
                         "said": lines[:2]})
            print(f"\n{name}: chain alone {rows[-1]['chain_alone']} ({alone_s:.2f} s), with {len(used)} anchors "
                  f"{rows[-1]['with_anchors']} ({anchored_s:.2f} s)")
            for line in lines[:3]:
                print(f"    {line}")
        results["cases"] = rows
        if args.json:
            write_results(args.json, results)
    finally:
        if store is not None:
            store.close()
        clean_up(None, [pg], base)


if __name__ == "__main__":
    main()
