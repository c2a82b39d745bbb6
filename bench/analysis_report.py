"""Event analysis reports: how long building one takes as the analysis grows.

Builds, in a temporary ops store, analyses of N events (from an incident timeline of N entries),
each third event with a why-chain three steps deep, a cause on the last step and an action on
each cause, with personal numbers and names planted in a tenth of the texts. For each size it
times, ``--repeat`` times, loading the version, Markdown, PDF, the de-identified Markdown (ops
users as the name source) and an amendment (copying the whole version), and prints medians and
how the time grows per event. Nothing is asserted.

    .venv/bin/python bench/analysis_report.py [--sizes 50,200,800] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_info, print_machine_info  # noqa: E402
from obruten.ops import incidents, timeline, users  # noqa: E402
from obruten.ops.analysis import analyses, editing, report, report_markdown, report_pdf, schema  # noqa: E402
from obruten.ops.analysis.model import load  # noqa: E402
from obruten.ops.analysis.names import OpsUserNames  # noqa: E402
from obruten.ops.store import Store  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "analysis_report.json"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build(store: Store, events: int) -> int:
    start = datetime(2025, 1, 20, 7, 0, tzinfo=UTC)
    users.add_user(store, f"chef{events}", "Cecilia Lindqvist", "tib", None)
    inc = incidents.open_incident(store, None, title=f"Benchmark {events}", classification=1, by="bench", now=start)
    for i in range(events - 1):
        planted = " (patient 19121212-1212, ssk Anna Berg, Cecilia Lindqvist)" if i % 10 == 0 else ""
        timeline.add_manual(store, inc, f"Händelse {i}: systemet svarar långsamt{planted}", "bench",
                            start + timedelta(minutes=i))
    incidents.change_state(store, None, inc, "resolved", "bench", start + timedelta(minutes=events))
    now = start + timedelta(days=1)
    analysis_id = analyses.start(store, None, incident_id=inc, commissioner=f"chef{events}", leader="Lars Nordström",
                                 team=["Ida Jour"], scope="Benchmark", who="bench", now=now)
    for event in load(store, analysis_id).events[::3]:
        why = editing.ask_why(store, "bench", now, question="Varför gick det långsamt?",
                              answer="Därför att lagringen frös.", event_id=event.id)
        for _ in range(2):
            why = editing.ask_why(store, "bench", now, question="Varför då?", answer="Därför att 121212-1212 "
                                  "låg i kön.", parent_id=why)
        cause = editing.add_cause(store, why, "Teknik, utrustning & apparatur", "Lagringen saknar övervakning.",
                                  "bench", now)
        editing.add_action(store, cause, "bench", now, description="Övervaka lagringens svarstid",
                           owner="Systemförvaltare", deadline="2025-06-30", strength="stronger")
    analyses.update(store, analysis_id, "bench", now, summary="Benchmark.")
    analyses.sign(store, None, analysis_id, f"chef{events}", now)
    return analysis_id


def timed(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def measure(store: Store, analysis_id: int, repeat: int) -> dict[str, float]:
    a = load(store, analysis_id)
    users_source = [OpsUserNames(store)]
    return {
        "load_s": timed(lambda: load(store, analysis_id), repeat),
        "markdown_s": timed(lambda: report_markdown.render(report.prepare(store, a)), repeat),
        "pdf_s": timed(lambda: report_pdf.render(report.prepare(store, a)), repeat),
        "deidentified_markdown_s": timed(lambda: report_markdown.render(
            report.prepare(store, a, deidentified=True, sources=users_source)), repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="50,200,800", help="events per analysis, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    info = machine_info()
    print_machine_info(info)
    results = []
    with tempfile.TemporaryDirectory(prefix="obruten-bench-analysis-") as tmp:
        store = Store(Path(tmp) / "ops.sqlite3")
        schema.ensure(store)
        for size in (int(s) for s in args.sizes.split(",")):
            say(f"building an analysis of {size} events …")
            analysis_id = build(store, size)
            a = load(store, analysis_id)
            rows = len(a.events) + sum(1 for e in a.events for _ in e.steps()) + sum(1 for _ in a.causes()) * 2
            say(f"  {len(a.events)} events, {rows} rows; timing {args.repeat} runs each …")
            doc = report.prepare(store, a)
            figures = measure(store, analysis_id, args.repeat)
            pdf_bytes = len(report_pdf.render(doc))
            deid = report.prepare(store, a, deidentified=True, sources=[OpsUserNames(store)]).removed
            t0 = time.perf_counter()
            analyses.amend(store, analysis_id, "bench", datetime.now(UTC), "benchmark amendment")
            figures["amend_s"] = time.perf_counter() - t0
            row = {"events": len(a.events), "rows": rows, "pdf_bytes": pdf_bytes,
                   "removed": {"personal_numbers": deid.personal_numbers, "names": deid.names}, **figures}
            results.append(row)
            print(f"{len(a.events):>5} events  load {figures['load_s'] * 1000:7.1f} ms  markdown "
                  f"{figures['markdown_s'] * 1000:7.1f} ms  pdf {figures['pdf_s'] * 1000:7.1f} ms "
                  f"({pdf_bytes // 1024} KiB)  de-identified md {figures['deidentified_markdown_s'] * 1000:7.1f} ms "
                  f"({deid.personal_numbers} pn, {deid.names} names)  amend {figures['amend_s'] * 1000:7.1f} ms")
        store.close()
    if len(results) > 1:
        first, last = results[0], results[-1]
        growth = last["events"] / first["events"]
        print(f"size x{growth:.0f}: pdf x{last['pdf_s'] / first['pdf_s']:.1f}, markdown "
              f"x{last['markdown_s'] / first['markdown_s']:.1f}, de-identified "
              f"x{last['deidentified_markdown_s'] / first['deidentified_markdown_s']:.1f} (linear would be "
              f"x{growth:.0f})")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": info, "results": results}, indent=2))
    say(f"results in {RESULTS}")


if __name__ == "__main__":
    main()
