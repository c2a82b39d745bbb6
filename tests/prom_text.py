"""A strict parser of the Prometheus text exposition format 0.0.4, for tests (the project has no
prometheus_client). Raises ``ValueError`` on anything a Prometheus server would reject."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}


@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def value(self, **labels: str) -> float:
        """The one sample whose labels include ``labels`` (histograms: use ``_count`` etc. by name)."""
        found = [v for n, lab, v in self.samples if n == self.name and labels.items() <= lab.items()]
        if len(found) != 1:
            raise KeyError(f"{len(found)} samples of {self.name} match {labels}")
        return found[0]

    def series(self, suffix: str = "") -> list[tuple[dict[str, str], float]]:
        return [(lab, v) for n, lab, v in self.samples if n == self.name + suffix]


def _value(text: str) -> float:
    if text in ("NaN", "+Inf", "-Inf"):
        return {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}[text]
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", text):
        raise ValueError(f"not a sample value: {text!r}")
    return float(text)


def _labels(text: str, line: str) -> tuple[dict[str, str], str]:
    """Parse ``{a="x",b="y"}`` at the start of ``text``; returns the labels and the rest."""
    labels: dict[str, str] = {}
    i = 1
    while True:
        if text[i] == "}":
            return labels, text[i + 1:]
        m = _LABEL.match(text, i)
        if not m or text[m.end():m.end() + 2] != '="':
            raise ValueError(f"bad label in {line!r}")
        name, i, value = m.group(), m.end() + 2, []
        while text[i] != '"':
            if text[i] == "\\":
                esc = text[i + 1]
                if esc not in '\\"n':
                    raise ValueError(f"bad escape \\{esc} in {line!r}")
                value.append("\n" if esc == "n" else esc)
                i += 2
            else:
                value.append(text[i])
                i += 1
        if name in labels:
            raise ValueError(f"label {name} twice in {line!r}")
        labels[name] = "".join(value)
        i += 1
        if text[i] == ",":
            i += 1
        elif text[i] != "}":
            raise ValueError(f"expected , or }} in {line!r}")


def parse(text: str) -> dict[str, Family]:
    if not text.endswith("\n"):
        raise ValueError("the exposition must end with a newline")
    families: dict[str, Family] = {}
    closed: set[str] = set()  # families whose samples are done (they must be contiguous)
    current: str | None = None
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()

    def family_of(sample: str) -> str:
        for name, fam in families.items():
            if any(sample == name + s for s in _SUFFIXES.get(fam.type, ("",))):
                return name
        return sample

    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not _NAME.fullmatch(name):
                    raise ValueError(f"bad metric name in {line!r}")
                fam = families.setdefault(name, Family(name))
                if parts[1] == "TYPE":
                    if fam.samples or fam.type != "untyped" or len(parts) != 4 or parts[3] not in _TYPES:
                        raise ValueError(f"TYPE after samples, twice, or unknown: {line!r}")
                    fam.type = parts[3]
                else:
                    fam.help = parts[3] if len(parts) == 4 else ""
            continue
        m = _NAME.match(line)
        if not m:
            raise ValueError(f"bad sample line {line!r}")
        sample, rest = m.group(), line[m.end():]
        labels: dict[str, str] = {}
        if rest.startswith("{"):
            labels, rest = _labels(rest, line)
        fields = rest.split()
        if not rest.startswith(" ") or len(fields) not in (1, 2):
            raise ValueError(f"bad sample line {line!r}")
        name = family_of(sample)
        if name != current:
            if name in closed:
                raise ValueError(f"samples of {name} are not together")
            if current is not None:
                closed.add(current)
            current = name
        key = (sample, tuple(sorted(labels.items())))
        if key in seen:
            raise ValueError(f"duplicate series {line!r}")
        seen.add(key)
        families.setdefault(name, Family(name)).samples.append((sample, labels, _value(fields[0])))
    for fam in families.values():
        if fam.type == "histogram":
            _check_histogram(fam)
        if fam.type == "counter" and any(v < 0 for _, _, v in fam.samples):
            raise ValueError(f"counter {fam.name} is negative")
    return families


def _check_histogram(fam: Family) -> None:
    groups: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    for lab, v in fam.series("_bucket"):
        if "le" not in lab:
            raise ValueError(f"{fam.name}_bucket without le")
        rest = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
        groups.setdefault(rest, []).append((_value(lab["le"]), v))
    counts = {tuple(sorted(lab.items())): v for lab, v in fam.series("_count")}
    for rest, buckets in groups.items():
        bounds = [b for b, _ in buckets]
        if bounds != sorted(bounds) or bounds[-1] != math.inf:
            raise ValueError(f"{fam.name}{dict(rest)}: buckets not ascending or no +Inf")
        values = [v for _, v in buckets]
        if values != sorted(values):
            raise ValueError(f"{fam.name}{dict(rest)}: buckets not cumulative")
        if counts.get(rest) != values[-1]:
            raise ValueError(f"{fam.name}{dict(rest)}: +Inf bucket differs from _count")
