"""The ward agent's ``/metrics`` (docs/operations.md): every figure defined here once, all by unit.

One agent per ward PC, one process: these figures live in that process only."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from obruten.platform.metrics import render


class AgentMetrics:
    """The kits held, the fetch loop, the report to the ops service and the downtime queue."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.kit_age_seconds = Gauge("obruten_wardkit_age_seconds",
                                     "Age of the newest verified kit's data (now - as_of)", ["unit"], registry=registry)
        self.kit_stale = Gauge("obruten_wardkit_stale",
                               "1 when the newest kit is older than the alarm threshold (or there is none)", ["unit"],
                               registry=registry)
        self.kits_held = Gauge("obruten_wardkit_kits_held", "Verified kits kept", ["unit"], registry=registry)
        self.last_fetch_success = Gauge("obruten_wardagent_last_fetch_success",
                                        "1 when the last fetch got or confirmed a good kit", ["unit"],
                                        registry=registry)
        self.last_fetch_timestamp = Gauge("obruten_wardagent_last_fetch_timestamp_seconds",
                                          "When the agent last tried to fetch", ["unit"], registry=registry)
        self.fetches = Counter("obruten_wardagent_fetches_total", "Fetch attempts by result", ["result", "unit"],
                               registry=registry)
        self.report_success = Gauge("obruten_wardagent_report_success",
                                    "1 when the last report to the ops service went through", ["unit"],
                                    registry=registry)
        self.downtime_entries = Gauge("obruten_downtime_entries", "Downtime entries on this ward PC by state",
                                      ["state", "unit"], registry=registry)

    def render(self) -> bytes:
        return render(self.registry)
