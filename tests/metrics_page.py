"""A ``/metrics`` page read with prometheus_client's own parser (imported as ``metrics_page``)."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families


def families(text: str) -> dict[str, Metric]:
    """Families by name (a counter's family name has no ``_total``: ``obruten_http_requests``)."""
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(text: str, sample: str, **labels: str) -> float:
    """The one sample named ``sample`` (``…_total``, ``…_count`` as on the page) whose labels
    include ``labels``."""
    found = [s.value for family in text_string_to_metric_families(text) for s in family.samples
             if s.name == sample and labels.items() <= s.labels.items()]
    if len(found) != 1:
        raise KeyError(f"{len(found)} samples of {sample} match {labels}")
    return found[0]
