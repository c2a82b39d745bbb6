"""Prometheus text exposition (format 0.0.4), small enough to need no dependency.

Every Obruten service (journal, read copy, ops, ward agent) keeps a ``Registry``, sets its figures
on it, and serves ``registry.render()`` at ``/metrics`` with ``CONTENT_TYPE``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_KINDS = ("gauge", "counter")
# seconds: from a fast local query to a write that waited for a stalled disk
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Registry:
    """Named metric families, each with labelled samples. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: dict[str, tuple[str, str, dict[tuple[tuple[str, str], ...], float]]] = {}
        # name → (help, upper bounds, labels → [count per bucket …, sum, count])
        self._histograms: dict[str, tuple[str, tuple[float, ...], dict[tuple[tuple[str, str], ...], list[float]]]] = {}

    def _family(self, name: str, kind: str, help_text: str) -> dict[tuple[tuple[str, str], ...], float]:
        if kind not in _KINDS:
            raise ValueError(f"unknown metric kind {kind!r}")
        if name in self._histograms:
            raise ValueError(f"{name} is already a histogram")
        if name not in self._families:
            self._families[name] = (kind, help_text, {})
        return self._families[name][2]

    def set(self, name: str, value: float, help_text: str = "", **labels: str) -> None:
        """Set a gauge sample."""
        with self._lock:
            self._family(name, "gauge", help_text)[_key(labels)] = float(value)

    def inc(self, name: str, amount: float = 1.0, help_text: str = "", **labels: str) -> None:
        """Add to a counter sample (``name`` should end in ``_total``)."""
        with self._lock:
            samples = self._family(name, "counter", help_text)
            samples[_key(labels)] = samples.get(_key(labels), 0.0) + amount

    def observe(self, name: str, value: float, help_text: str = "",
                buckets: tuple[float, ...] = LATENCY_BUCKETS, **labels: str) -> None:
        """Add one observation to a histogram (cumulative buckets, ``_sum`` and ``_count``)."""
        with self._lock:
            if name in self._families:
                raise ValueError(f"{name} is already a {self._families[name][0]}")
            family = self._histograms.setdefault(name, (help_text, tuple(sorted(buckets)), {}))
            counts = family[2].setdefault(_key(labels), [0.0] * (len(family[1]) + 2))
            for i, bound in enumerate(family[1]):
                if value <= bound:
                    counts[i] += 1
            counts[-2] += value
            counts[-1] += 1

    def clear(self, name: str) -> None:
        """Forget every sample of a family (e.g. before re-setting per-target gauges)."""
        with self._lock:
            if name in self._families:
                self._families[name][2].clear()
            if name in self._histograms:
                self._histograms[name][2].clear()

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name in sorted({*self._families, *self._histograms}):
                kind, help_text = (self._families[name][:2] if name in self._families
                                   else ("histogram", self._histograms[name][0]))
                if help_text:
                    lines.append(f"# HELP {name} {_escape(help_text)}")
                lines.append(f"# TYPE {name} {kind}")
                if kind != "histogram":
                    for labels, value in sorted(self._families[name][2].items()):
                        lines.append(f"{name}{_labels(labels)} {_number(value)}")
                    continue
                _, bounds, series = self._histograms[name]
                for labels, counts in sorted(series.items()):
                    for bound, n in zip((*bounds, math.inf), (*counts[:len(bounds)], counts[-1]), strict=True):
                        lines.append(f"{name}_bucket{_labels((*labels, ('le', _number(bound))))} {_number(n)}")
                    lines.append(f"{name}_sum{_labels(labels)} {_number(counts[-2])}")
                    lines.append(f"{name}_count{_labels(labels)} {_number(counts[-1])}")
        return "\n".join(lines) + "\n"


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"
