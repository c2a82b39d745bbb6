"""``obruten.platform.metrics`` without servers: the workers' directory, figures that appear once
measured, and the forgetting of workers that were killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from obruten.platform import metrics
from obruten.platform.metrics import MULTIPROC_ENV, Reading, render, share_across_workers


def test_one_worker_needs_no_directory(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    assert share_across_workers(tmp_path, 1, environ) is None
    assert environ == {} and not (tmp_path / "metrics").exists()


def test_several_workers_get_a_fresh_private_directory(tmp_path: Path) -> None:
    stale = tmp_path / "metrics" / "counter_4242.db"
    stale.parent.mkdir(mode=0o755)
    stale.write_bytes(b"an earlier run's counts")
    environ = {MULTIPROC_ENV: "/somewhere/inherited"}
    path = share_across_workers(tmp_path, 3, environ)
    assert path == (tmp_path / "metrics").resolve() and environ[MULTIPROC_ENV] == str(path)
    assert list(path.iterdir()) == [], "stale files are wiped: their counts would be added to this run's"
    assert path.stat().st_mode & 0o777 == 0o700


def test_a_reading_is_absent_until_measured() -> None:
    registry = CollectorRegistry()
    lag = Reading("obruten_test_lag_seconds", "Lag", registry)
    assert b"obruten_test_lag_seconds" not in render(registry)
    lag.set(2.5)
    lag.set(3)
    assert b"# TYPE obruten_test_lag_seconds gauge\nobruten_test_lag_seconds 3.0\n" in render(registry)


def test_killed_workers_leave_the_live_sum(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead, alive = int(gone.stdout), os.getpid()
    for pid in (dead, alive):
        (tmp_path / f"gauge_livesum_{pid}.db").write_bytes(b"")
    (tmp_path / f"counter_{dead}.db").write_bytes(b"")
    metrics._forget_dead_workers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"counter_{dead}.db", f"gauge_livesum_{alive}.db"]
