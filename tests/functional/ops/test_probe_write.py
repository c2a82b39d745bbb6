"""The journal write-path probe reports the slowest of its samples: storage that stalls one write in
three is slow for staff, and a single lucky sample must not hide it."""

from __future__ import annotations

import threading
import time

import psycopg

from obruten.ops.clock import SystemClock
from obruten.ops.probe_database import JournalWriteProbe


def test_one_stalled_write_of_three_makes_the_finding_slow(db_url: str) -> None:
    probe = JournalWriteProbe(db_url, prober="stall-test", slow_ms=400, samples=3, spacing_s=0.3)
    [ok] = probe.check(SystemClock().now())
    assert ok.status == "ok", ok.detail

    def stall_the_second_write() -> None:
        """From just after the first sample until well into the second, a transaction holds the
        probe's row, so the second write waits (the first and third do not)."""
        time.sleep(0.15)
        with psycopg.connect(db_url) as holder:
            holder.execute("SELECT 1 FROM ops_probe WHERE prober = 'stall-test' FOR UPDATE")
            time.sleep(1.0)
            holder.rollback()

    staller = threading.Thread(target=stall_the_second_write)
    staller.start()
    [finding] = probe.check(SystemClock().now())
    staller.join()
    assert finding.status == "slow" and finding.value is not None and finding.value >= 500, finding.detail
    fastest = float(finding.detail.split("fastest ")[1].split(" ms")[0])
    assert fastest < 400, "the other writes were fast; the slowest decides"
