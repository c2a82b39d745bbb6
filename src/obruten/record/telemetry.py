"""``/metrics`` for the journal (and the read copy, the same app): the figures the ops probes
judge, seen from inside the process.

- requests by method, route template (never a patient id) and status, and their latency as a
  histogram; the write path is ``method="POST"``;
- the database pool (size, idle, clients waiting, cumulative waits and errors);
- the audit writer: events waiting for the next flush, and each flush's latency and batch size
  (a read is not shown until its audit event is durable, so a slow flush is a slow journal).

With ``serve --workers N`` every scrape shows the sum over the workers (``render_workers``): the
pool and audit-queue gauges are ``livesum``, what the journal as a whole holds against PostgreSQL
and has not yet made durable, counted over running workers only; each worker refreshes its pool
figures every ``_REFRESH_SECONDS``, not only when a scrape happens to reach it.

``install(app, metrics)`` adds the middleware and the route; the app's one lifespan wraps the audit
sink in ``MeteredSink`` when it builds the writer, and enters ``running`` for the refresher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from obruten.platform.metrics import (
    CONTENT_TYPE,
    LATENCY_BUCKETS,
    across_workers,
    forget_worker,
    render_workers,
)
from obruten.record.audit import AuditEvent, AuditSink
from obruten.record.service import Journal

# psycopg_pool statistics: gauges are read as they are, counters are taken with pop_stats()
_POOL_GAUGES = {"pool_size": "Connections open", "pool_available": "Idle connections",
                "pool_min": "Configured minimum", "pool_max": "Configured maximum",
                "requests_waiting": "Clients waiting for a connection now"}
_POOL_COUNTERS = {"requests_num": "Connection requests", "requests_queued": "Requests that had to wait",
                  "requests_wait_ms": "Milliseconds spent waiting for a connection",
                  "requests_errors": "Requests that failed (timeout, pool closed)",
                  "connections_lost": "Connections found broken", "connections_errors": "Failed connection attempts"}
log = logging.getLogger("obruten.telemetry")
_REFRESH_SECONDS = 2.0  # several workers: how stale one worker's pool figures may be in the sum
# a read copy's cache (readcopy/journal.py BodyCache), since the worker started
_CACHE_GAUGES = {
    "hits": "Reads answered from the read copy's cache",
    "misses": "Reads the read copy's cache could not answer (asked the standby)",
    "dropped": "Cached reads dropped because a replayed change named them (or everything was dropped)",
    "kept": "Cached reads kept across replayed changes that did not name them",
    "entries": "Reads held in the read copy's cache now",
}


class JournalMetrics:
    """Every figure the journal serves at ``/metrics``, defined here once.

    Pool gauges combine over workers as ``livesum``: the sum is what PostgreSQL sees (connections
    open, idle, clients waiting), and ``pool_min``/``pool_max`` are summed too so that
    ``pool_size / pool_max`` stays the journal's saturation whatever the number of workers."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter("obruten_http_requests_total", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=registry)
        self.request_seconds = Histogram("obruten_http_request_duration_seconds",
                                         "Time to answer an HTTP request (POST routes: the write path)",
                                         ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry)
        self.audit_flush_seconds = Histogram("obruten_audit_flush_seconds",
                                             "Time to make one batch of audit events durable", ["outcome"],
                                             buckets=LATENCY_BUCKETS, registry=registry)
        self.audit_events = Counter("obruten_audit_events_total", "Audit events flushed", ["outcome"],
                                    registry=registry)
        self.audit_queue = Gauge("obruten_audit_queue_events", "Audit events waiting for the next flush",
                                 multiprocess_mode="livesum", registry=registry)
        self.pool_gauges = {key: Gauge(f"obruten_db_pool_{key}", help_text, multiprocess_mode="livesum",
                                       registry=registry) for key, help_text in _POOL_GAUGES.items()}
        self.pool_counters = {key: Counter(f"obruten_db_pool_{key}_total", help_text, registry=registry)
                              for key, help_text in _POOL_COUNTERS.items()}
        self.cache_gauges = {key: Gauge(f"obruten_read_copy_cache_{key}", help_text, multiprocess_mode="livesum",
                                        registry=registry) for key, help_text in _CACHE_GAUGES.items()}
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def request_series(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        """The request counter and latency histogram of one (method, route template, status),
        looked up once per combination (``labels()`` takes a lock and builds keys every time)."""
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = (self.requests.labels(method=method, route=route, status=str(status)),
                      self.request_seconds.labels(method=method, route=route))
            self._series[key] = series
        return series

    def refresh(self, journal: Journal) -> None:
        """Take the pool's statistics and the audit queue from ``journal``."""
        stats = journal.pool.pop_stats()
        for key, gauge in self.pool_gauges.items():
            gauge.set(stats.get(key, 0))
        for key, counter in self.pool_counters.items():
            counter.inc(stats.get(key, 0))
        self.audit_queue.set(journal.audit.queued)
        cache = getattr(journal, "cache", None)  # a read copy's BodyCache
        if cache is not None:
            for key, gauge in self.cache_gauges.items():
                gauge.set(getattr(cache, key))

    def render(self) -> bytes:
        """The page: this process's figures, or the sum over all workers when there are several."""
        return render_workers(self.registry)


class RequestMetrics:
    """ASGI middleware: one count and one latency observation per HTTP request."""

    def __init__(self, app: ASGIApp, metrics: JournalMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or _mount_of(scope) or "unmatched"
            count, seconds = self.metrics.request_series(scope["method"], route, status)
            count.inc()
            seconds.observe(time.perf_counter() - start)


def _mount_of(scope: Scope) -> str | None:
    root = scope.get("root_path", "")
    return root or None


class MeteredSink:
    """An audit sink that times every flush it passes on to the sink it wraps."""

    def __init__(self, inner: AuditSink, metrics: JournalMetrics) -> None:
        self.inner, self.metrics = inner, metrics

    async def append(self, events: Sequence[AuditEvent]) -> None:
        start = time.perf_counter()
        outcome = "error"
        try:
            await self.inner.append(events)
            outcome = "ok"
        finally:
            self.metrics.audit_flush_seconds.labels(outcome=outcome).observe(time.perf_counter() - start)
            self.metrics.audit_events.labels(outcome=outcome).inc(len(events))


async def _refresh_every(metrics: JournalMetrics, journal: Journal, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            metrics.refresh(journal)
        except Exception:  # unknown: log with traceback, keep refreshing
            log.exception("refreshing the pool figures failed; trying again in %s s", seconds)


def install(app: FastAPI, metrics: JournalMetrics) -> JournalMetrics:
    """Serve ``/metrics`` on ``app`` and count its requests; returns the metrics. The app's lifespan
    wraps its audit sink in ``MeteredSink`` and enters ``running`` (composition, not patching)."""
    app.state.metrics = metrics
    app.add_middleware(RequestMetrics, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    def serve_metrics(request: Request) -> Response:
        journal = getattr(getattr(request.app.state, "runtime", None), "journal", None)
        if journal is not None:
            metrics.refresh(journal)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return metrics


@asynccontextmanager
async def running(metrics: JournalMetrics, journal: Journal) -> AsyncIterator[None]:
    """While the journal serves: with several workers, refresh this worker's pool figures every
    ``_REFRESH_SECONDS``; at the end, take this worker out of the sum."""
    refresher = (asyncio.create_task(_refresh_every(metrics, journal, _REFRESH_SECONDS))
                 if across_workers() else None)
    try:
        yield
    finally:
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        forget_worker()  # this worker's pool no longer counts in the sum
