"""``/metrics`` for the journal (and the read copy, the same app): the figures the ops probes
judge, seen from inside the process.

- requests by method, route template (never a patient id) and status, and their latency as a
  histogram; the write path is ``method="POST"``;
- the database pool (size, idle, clients waiting, cumulative waits and errors);
- the audit writer: events waiting for the next flush, and each flush's latency and batch size
  (a read is not shown until its audit event is durable, so a slow flush is a slow journal).

``install(app)`` adds the middleware and the route, and once the app's own startup has built the
runtime, wraps its audit sink. Composition only: the app does not know about any of this.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from obruten.platform.metrics import CONTENT_TYPE, Registry
from obruten.record.audit import AuditEvent, AuditSink

# psycopg_pool statistics: gauges are read as they are, counters are taken with pop_stats()
_POOL_GAUGES = {"pool_size": "Connections open", "pool_available": "Idle connections",
                "pool_min": "Configured minimum", "pool_max": "Configured maximum",
                "requests_waiting": "Clients waiting for a connection now"}
_POOL_COUNTERS = {"requests_num": "Connection requests", "requests_queued": "Requests that had to wait",
                  "requests_wait_ms": "Milliseconds spent waiting for a connection",
                  "requests_errors": "Requests that failed (timeout, pool closed)",
                  "connections_lost": "Connections found broken", "connections_errors": "Failed connection attempts"}


class RequestMetrics:
    """ASGI middleware: one count and one latency observation per HTTP request."""

    def __init__(self, app: ASGIApp, registry: Registry) -> None:
        self.app, self.registry = app, registry

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
            labels = {"method": scope["method"], "route": route}
            self.registry.inc("obruten_http_requests_total", help_text="HTTP requests by route and status",
                              status=str(status), **labels)
            self.registry.observe("obruten_http_request_duration_seconds", time.perf_counter() - start,
                                  "Time to answer an HTTP request (POST routes: the write path)", **labels)


def _mount_of(scope: Scope) -> str | None:
    root = scope.get("root_path", "")
    return root or None


class MeteredSink:
    """An audit sink that times every flush it passes on to the sink it wraps."""

    def __init__(self, inner: AuditSink, registry: Registry) -> None:
        self.inner, self.registry = inner, registry

    async def append(self, events: Sequence[AuditEvent]) -> None:
        start = time.perf_counter()
        outcome = "error"
        try:
            await self.inner.append(events)
            outcome = "ok"
        finally:
            self.registry.observe("obruten_audit_flush_seconds", time.perf_counter() - start,
                                  "Time to make one batch of audit events durable", outcome=outcome)
            self.registry.inc("obruten_audit_events_total", len(events), "Audit events flushed", outcome=outcome)


def _refresh(registry: Registry, runtime: Any) -> None:
    journal = getattr(runtime, "journal", None)
    if journal is None:
        return
    stats = journal.pool.pop_stats()
    for key, help_text in _POOL_GAUGES.items():
        registry.set(f"obruten_db_pool_{key}", stats.get(key, 0), help_text)
    for key, help_text in _POOL_COUNTERS.items():
        registry.inc(f"obruten_db_pool_{key}_total", stats.get(key, 0), help_text)
    registry.set("obruten_audit_queue_events", journal.audit.queued, "Audit events waiting for the next flush")


def install(app: FastAPI, registry: Registry | None = None) -> Registry:
    """Serve ``/metrics`` on ``app`` and count its requests; returns the registry."""
    registry = registry or Registry()
    app.state.metrics = registry
    app.add_middleware(RequestMetrics, registry=registry)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            journal = getattr(getattr(app_.state, "runtime", None), "journal", None)
            if journal is not None and not isinstance(journal.audit.sink, MeteredSink):
                journal.audit.sink = MeteredSink(journal.audit.sink, registry)
            yield state

    app.router.lifespan_context = lifespan

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> PlainTextResponse:
        _refresh(registry, getattr(request.app.state, "runtime", None))
        return PlainTextResponse(registry.render(), media_type=CONTENT_TYPE)

    return registry
