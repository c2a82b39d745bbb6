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

    def _family(self, name: str, kind: str, help_text: str) -> dict[tuple[tuple[str, str], ...], float]:
        if kind not in _KINDS:
            raise ValueError(f"unknown metric kind {kind!r}")
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

    def clear(self, name: str) -> None:
        """Forget every sample of a family (e.g. before re-setting per-target gauges)."""
        with self._lock:
            if name in self._families:
                self._families[name][2].clear()

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name in sorted(self._families):
                kind, help_text, samples = self._families[name]
                if help_text:
                    lines.append(f"# HELP {name} {_escape(help_text)}")
                lines.append(f"# TYPE {name} {kind}")
                for labels, value in sorted(samples.items()):
                    lines.append(f"{name}{_labels(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"
