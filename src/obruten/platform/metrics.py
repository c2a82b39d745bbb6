"""Metrics for every Obruten service with prometheus_client, served as Prometheus text 0.0.4.

Each service defines its figures once, in one class over a registry of its own (the journal's
``obruten.record.telemetry.JournalMetrics``, ``obruten.ops.metrics.OpsMetrics``,
``obruten.ward_agent.metrics.AgentMetrics``) and serves ``render(registry)`` at ``/metrics`` with
``CONTENT_TYPE``. A registry per service object, not the process-wide default, keeps two apps in one
process (tests, the demo) from adding up each other's figures.

Several worker processes (``obruten serve --workers N``): ``share_across_workers`` gives them a
fresh private directory before they start and names it in ``PROMETHEUS_MULTIPROC_DIR``;
prometheus_client then keeps every figure in a file per process, and ``render_workers`` serves the
sum over the files of all workers, so whichever worker answers a scrape, counters never go
backwards. Each gauge says how its workers' values combine (``multiprocess_mode``); a worker that
stops calls ``forget_worker`` and one that was killed is forgotten at the next scrape, so the
``live…`` gauges count only running workers.
"""

from __future__ import annotations

import glob
import os
import shutil
import threading
from collections.abc import MutableMapping
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, disable_created_metrics, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
WORKERS_DIR = "metrics"  # under the var dir: the workers' figure files
# seconds: from a fast local query to a write that waited for a stalled disk
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# prometheus_client would add a `<name>_created` series to every counter and histogram: the pages
# keep exactly the figures the docs and alert rules name.
disable_created_metrics()
# prometheus_client chooses file-backed values once, when imported, from this variable; read it at
# the same moment so what is served always matches where the values are kept.
_WORKER_DIR = os.environ.get(MULTIPROC_ENV) or None


class Reading(Gauge):
    """A gauge without labels that is absent from ``/metrics`` until it is first set: a figure
    never measured (no read copy, no tick yet) is not the same as 0."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        super().__init__(name, documentation, registry=None)
        self._target: CollectorRegistry | None = registry
        self._shown = threading.Lock()

    def set(self, value: float) -> None:
        super().set(value)
        with self._shown:
            if self._target is not None:
                self._target.register(self)
                self._target = None


def render(registry: CollectorRegistry) -> bytes:
    """The registry's figures in the Prometheus text format (``CONTENT_TYPE``)."""
    return generate_latest(registry)


def across_workers() -> bool:
    """True in a worker of ``serve --workers N`` (N > 1): figures are kept in shared files."""
    return _WORKER_DIR is not None


def render_workers(registry: CollectorRegistry) -> bytes:
    """Like ``render``, but as the sum over every worker process when there are several."""
    if _WORKER_DIR is None:
        return render(registry)
    _forget_dead_workers(Path(_WORKER_DIR))
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path=_WORKER_DIR)
    return generate_latest(merged)


def share_across_workers(var_dir: Path, workers: int,
                         environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Before uvicorn starts ``workers`` processes: with more than one, make ``var_dir/metrics``
    a fresh directory only this user can enter (the files of an earlier run wiped: their counters
    would be added to this run's) and name it in ``environ`` for the workers. With one, nothing:
    the process serves its own figures. Returns the directory, or None."""
    if workers <= 1:
        return None
    path = var_dir.resolve() / WORKERS_DIR
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.mkdir(mode=0o700, parents=True)
    path.chmod(0o700)  # whatever the umask
    environ[MULTIPROC_ENV] = str(path)
    return path


def forget_worker(pid: int | None = None) -> None:
    """A worker stops: its ``live…`` gauges leave the sum (its counters stay in it)."""
    if _WORKER_DIR is not None:
        multiprocess.mark_process_dead(pid or os.getpid(), _WORKER_DIR)


def _forget_dead_workers(path: Path) -> None:
    """Forget the ``live…`` gauges of workers that ended without saying so (SIGKILL, a crash)."""
    for name in glob.glob(str(path / "gauge_live*_*.db")):
        pid = int(name.rsplit("_", 1)[1].removesuffix(".db"))
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, str(path))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
