"""The partition drill's same-site writer: runs inside the cut-off member's network namespace.

A journal at the site that is cut off keeps writing to the PostgreSQL it can still reach. This
process does that (``python -m obruten.drill.partition_side``, started by ``ip netns exec``): one
writer and one role probe against the member's own loopback, until ``--stop-file`` appears. Every
0.2 s it writes ``--state`` (is that PostgreSQL read-write right now); at the end it writes
``--out``: every acknowledged write, every failure and every change of role it saw. The database
URL (with its password) comes in the environment variable ``OBRUTEN_PARTITION_URL``, not argv.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from obruten.drill.load import Fixture, Load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fixture", required=True, help="JSON: patient_id, unit_id, staff_id")
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--stop-file", type=Path, required=True)
    ap.add_argument("--state", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    url = os.environ["OBRUTEN_PARTITION_URL"]
    load = Load(url, url, {args.port: url}, Fixture(**json.loads(args.fixture)), rate=args.rate, writers=1)
    load.start()
    try:
        while not args.stop_file.exists():
            seen = load.probes.primaries_seen
            primary = bool(seen) and args.port in seen[-1][1]
            tmp = args.state.with_suffix(".tmp")
            tmp.write_text(json.dumps({"at": time.time(), "primary": primary, "since": seen[-1][0] if seen else None}))
            tmp.replace(args.state)
            time.sleep(0.2)
    finally:
        load.stop()
        out = {"acks": [asdict(a) for a in load.ledger.snapshot()], "failures": load.ledger.failures,
               "unknown": load.ledger.unknown, "primaries_seen": load.probes.primaries_seen}
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(out))
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
