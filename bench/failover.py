"""Failover: repeated host-loss drills measured at the database AND at the journal, read-copy lag
under load, sync vs async commit.

Starts its own four-member cluster in a temp dir (or uses --cluster-root), then:

1. throughput and latency of unthrottled writers with synchronous_commit=on (durable on the sync
   standby) beside synchronous_commit=local (asynchronous replication), ``--seconds`` each;
2. the read copy's replication lag (p50/p99) under a steady ~``--rate`` writes/s;
3. ``--drills`` host-loss drills (SIGKILL of every process of the primary's host) under load, each
   measured twice: the database's RTO (the drill's own writers: the new primary acknowledges
   again) and the journal's RTO (a logged-in physician's note POSTed through the running journal
   app is acknowledged again, 201), and the acknowledged writes lost at both levels.

Goals are printed, never asserted: journal-level median RTO <= 25 s over 20 host-loss drills, 0
writes lost (database and journal), read copy 100 % available, lag p99 <= 1 s.

    .venv/bin/python bench/failover.py [--drills 20] [--rate 500] [--seconds 10] [--no-journal]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402

from _harness import free_port, start_server, stop_server  # noqa: E402
from _http import wait_healthy  # noqa: E402
from _journal_writer import JournalWriter  # noqa: E402
from _machine import machine_info, print_machine_info  # noqa: E402
from obruten.cluster import lifecycle  # noqa: E402
from obruten.cluster.members import ClusterError  # noqa: E402
from obruten.cluster.topology import Topology  # noqa: E402
from obruten.drill import scenarios  # noqa: E402
from obruten.drill.ledger import write_gap  # noqa: E402
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


def start_journal(topo: Topology, var_dir: Path) -> tuple[object, JournalWriter]:
    """Seed a small synthetic region into the cluster's journal database (once), serve the journal
    against the cluster's write URL, and start a logged-in physician writing notes through it."""
    from obruten.devtools import seed

    with psycopg.connect(topo.write_url(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM staff WHERE username = 'lakare'").fetchone():
            say("seeding a small synthetic region for the journal …")
            seed.generate(topo.write_url(), 100, seed=11)
        row = conn.execute("""SELECT a.patient_id FROM admission_current a JOIN staff_unit su ON su.unit_id = a.unit_id
                              JOIN staff s ON s.id = su.staff_id WHERE s.username = 'lakare'
                              AND a.discharged_at IS NULL ORDER BY a.patient_id LIMIT 1""").fetchone()
    if row is None:
        raise RuntimeError("no admitted patient on lakare's wards to write notes for")
    port = free_port()
    var_dir.mkdir(parents=True, exist_ok=True)
    # as in production (ADR 0050): the journal asks Patroni which member holds the leader lock
    os.environ["OBRUTEN_PATRONI_URLS"] = ",".join(f"http://{m.host}:{m.rest_port}" for m in topo.members
                                                  if m.can_be_primary)
    server = start_server(topo.write_url(), var_dir, port, workers=1, pool_size=None)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, server)
    writer = JournalWriter(base, "lakare", "demo", int(row[0]))
    writer.start()
    say(f"journal serving on {base}; lakare writes a note every {writer.interval:.1f} s for patient {row[0]}")
    return server, writer


def journal_round(topo: Topology, writer: JournalWriter, start: float, end: float,
                  fault_at: float) -> dict[str, object]:
    """The journal's view of one drill: RTO, acknowledged notes, notes lost, errors users saw."""
    acks, failures = writer.ledger.window(start, end)
    gap = write_gap(sorted(a[1] for a in acks), fault_at)
    ids = [a[2] for a in acks]
    with psycopg.connect(topo.write_url(), autocommit=True) as conn:
        present = {r[0] for r in conn.execute("SELECT entry_id::text FROM note WHERE entry_id = ANY(%s::uuid[])",
                                              (ids,))}
    kinds: dict[str, int] = {}
    for _, what in failures:
        kinds[what] = kinds.get(what, 0) + 1
    return {"rto_s": None if gap is None else round(max(0.0, gap[1] - fault_at), 2),
            "acked": len(acks), "lost": sum(1 for i in ids if i not in present), "errors": kinds}


def spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "min": None, "max": None, "p10": None, "p90": None, "stdev": None}
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "p10": round(percentile(values, 10) or 0, 2),
            "p90": round(percentile(values, 90) or 0, 2),
            "stdev": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0}


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
    ap.add_argument("--no-journal", dest="journal", action="store_false",
                    help="measure the database only (no journal app, no HTTP writes)")
    ap.add_argument("--scenario", default="host-loss", help="the drill repeated (default host-loss)")
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
        modes = commit_modes(topo, args.seconds, args.writers) if args.seconds else {}
        lag_load = steady(topo, args.seconds * 2, args.rate, args.writers, "on") if args.seconds else None
        lag = lag_load.probes.lag_samples if lag_load else []
        achieved = len(lag_load.ledger.acks) / (args.seconds * 2) if lag_load else 0.0
        server, writer = start_journal(topo, (tmp or topo.root) / "journal-var") if args.journal else (None, None)
        reports = []
        rounds: list[dict[str, object]] = []
        errors: list[str] = []
        try:
            for i in range(args.drills):
                say(f"--- drill {i + 1}/{args.drills}")
                began = time.time()
                try:
                    r = scenarios.run(topo, args.scenario, say, rate=args.rate, writers=args.writers, warmup=2.0)
                except (scenarios.DrillError, ClusterError, psycopg.Error) as exc:  # keep the others' figures
                    errors.append(f"drill {i + 1}: {exc}")
                    say(f"drill {i + 1} could not finish: {exc}")
                    continue
                reports.append(r)
                row: dict[str, object] = {"round": i + 1, "db_rto_s": None if r.rto_s is None else round(r.rto_s, 2),
                                          "db_acked": r.writes_acked, "db_lost": r.writes_lost,
                                          "detect_s": r.detect_s, "fault": r.fault}
                if writer is not None and r.fault_at is not None:
                    row["journal"] = journal_round(topo, writer, began, time.time(), r.fault_at)
                rounds.append(row)
                if args.json:  # partial results survive an interrupted run
                    with args.json.with_suffix(".drills.jsonl").open("a") as fh:
                        fh.write(json.dumps(row, default=str) + "\n")
                j = row.get("journal") or {}
                say(f"round {i + 1}: database RTO {r.rto_s if r.rto_s is None else round(r.rto_s, 1)} s, "
                    f"journal RTO {j.get('rto_s') if j else '–'} s, lost {r.writes_lost} (db) / "
                    f"{j.get('lost') if j else '–'} (journal); journal errors {j.get('errors') if j else '–'}")
        finally:
            if writer is not None:
                writer.stop()
            if server is not None:
                stop_server(server)  # type: ignore[arg-type]
        rtos = [r.rto_s for r in reports if r.rto_s is not None]
        journal_rows = [row["journal"] for row in rounds if isinstance(row.get("journal"), dict)]
        journal_rtos = [float(j["rto_s"]) for j in journal_rows if j.get("rto_s") is not None]
        probes = sum(r.read_probes for r in reports)
        answered = sum(r.read_probes_answered for r in reports)
        url_probes = sum(r.read_url_probes for r in reports)
        url_answered = sum(r.read_url_probes_answered for r in reports)
        result = {
            "machine": info,
            "commit_modes": modes,
            "sync_vs_async_throughput_ratio": (modes["on"]["writes_per_s"] / modes["local"]["writes_per_s"]
                                               if modes and modes["local"]["writes_per_s"] else None),
            "scenario": args.scenario,
            "rounds": rounds,
            "db_rto_s": spread(rtos),
            "journal_rto_s": spread(journal_rtos),
            "journal_acked": sum(int(j["acked"]) for j in journal_rows),
            "journal_lost": sum(int(j["lost"]) for j in journal_rows),
            "journal_rounds_without_recovery": len(journal_rows) - len(journal_rtos),
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
        if modes:
            print(f"writes, sync commit     : {modes['on']['writes_per_s']:.0f}/s, p50 {modes['on']['p50_ms']:.2f} ms, "
                  f"p99 {modes['on']['p99_ms']:.2f} ms")
            print(f"writes, async commit    : {modes['local']['writes_per_s']:.0f}/s, "
                  f"p50 {modes['local']['p50_ms']:.2f} ms, p99 {modes['local']['p99_ms']:.2f} ms")
            print(f"read-copy lag @{achieved:.0f} w/s: p50 {result['lag']['p50_s']} s, p99 {result['lag']['p99_s']} s "
                  "(goal p99 <= 1 s)")
        print(f"{'round':>5} {'db RTO s':>9} {'journal RTO s':>14} {'db lost':>8} {'journal lost':>13}  journal errors")
        for row in rounds:
            j = row.get("journal") or {}
            print(f"{row['round']:>5} {row['db_rto_s'] if row['db_rto_s'] is not None else '–':>9} "
                  f"{j.get('rto_s', '–') if j else '–':>14} {row['db_lost']:>8} {j.get('lost', '–') if j else '–':>13}"
                  f"  {j.get('errors', '') if j else ''}")
        for label, figs in (("database RTO", result["db_rto_s"]), ("journal RTO ", result["journal_rto_s"])):
            if figs["median"] is not None:
                print(f"{args.scenario} {label}: median {figs['median']} s, min {figs['min']}, p10 {figs['p10']}, "
                      f"p90 {figs['p90']}, max {figs['max']}, stdev {figs['stdev']} over {len(reports)} drills "
                      "(goal: journal median <= 25 s over 20)")
        if journal_rows:
            print(f"journal notes lost      : {result['journal_lost']} of {result['journal_acked']} acknowledged (goal 0)")
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
