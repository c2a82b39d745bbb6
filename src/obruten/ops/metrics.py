"""The ops service's ``/metrics`` (docs/ops-service.md): every figure defined here once.

The ops service runs as one process, so these figures live in that process only."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from obruten.platform.metrics import Reading, render


class OpsMetrics:
    """What the loop last found and did. The figures without labels appear once first measured."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.probe_status = Gauge("obruten_probe_status", "Probe status: 0 ok, 1 slow/warn, 2 down, 3 unknown",
                                  ["probe", "target"], registry=registry)
        self.probe_value = Gauge("obruten_probe_value", "The figure behind each probe's status "
                                 "(ms for journal_write, s for read_copy, % free for storage, h for backups, "
                                 "min for ward_kits)", ["probe", "target"], registry=registry)
        self.journal_write_latency_ms = Reading("obruten_journal_write_latency_ms", "Write-and-read round trip",
                                                registry)
        self.read_copy_lag_seconds = Reading("obruten_read_copy_lag_seconds", "Read copy replay lag", registry)
        self.alarms_firing = Gauge("obruten_ops_alarms_firing", "Alarms firing (not acknowledged)", ["severity"],
                                   registry=registry)
        self.preparedness_level = Reading("obruten_ops_preparedness_level", "0 normalläge … 3 katastrofläge",
                                          registry)
        self.incidents_open = Reading("obruten_ops_incidents_open", "Open or mitigated incidents", registry)
        self.last_tick = Reading("obruten_ops_last_tick_timestamp_seconds", "When the loop last ran", registry)
        self.notifications = Counter("obruten_ops_notifications_total", "Notification delivery attempts",
                                     ["result"], registry=registry)

    def render(self) -> bytes:
        return render(self.registry)
