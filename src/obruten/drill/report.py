"""A drill's measurements, as JSON and Markdown, and the verdict against our goals."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Report:
    scenario: str
    started_at: str
    fault: str  # what was done, in one sentence
    victim: str
    leader_before: str
    leader_after: str
    timeline_before: int | None
    timeline_after: int | None
    detect_s: float | None  # fault → the cluster's view shows it
    rto_s: float | None  # fault → writes accepted again
    rejoin_s: float | None  # fault → every member streaming again with a sync standby
    writes_acked: int
    writes_lost: int  # RPO in acknowledged writes: must be 0
    writes_unknown: int  # outcome unknown (connection broke during the statement): never counted as acked
    write_errors: int
    read_probes: int
    read_probes_answered: int
    read_copy_lag_p50_s: float | None
    read_copy_lag_p99_s: float | None
    write_latency_p50_ms: float | None
    write_latency_p99_ms: float | None
    two_writers: bool
    two_writers_evidence: list[str] = field(default_factory=list)
    read_url_probes: int = 0  # the journal's read URL: the read copy first, then the sites
    read_url_probes_answered: int = 0
    read_copy_rewinds: int = 0  # pg_rewind runs of the read copy during the drill (it is down meanwhile)
    order_numbers_unique: bool = True
    order_numbers_repeated_after_fault: int = 0
    sentences: list[str] = field(default_factory=list)  # what each step decided, in order
    fault_at: float | None = None  # epoch seconds when the fault was injected (benchmarks align their own probes)

    @property
    def read_copy_availability(self) -> float:
        return self.read_probes_answered / self.read_probes if self.read_probes else 0.0

    @property
    def read_availability(self) -> float:
        """Share of reads answered through the read URL (what the journal's read path sees)."""
        return self.read_url_probes_answered / self.read_url_probes if self.read_url_probes else 0.0

    @property
    def passed(self) -> bool:
        return (self.writes_lost == 0 and not self.two_writers and self.order_numbers_unique
                and self.order_numbers_repeated_after_fault == 0 and self.rto_s is not None)

    def to_json(self) -> str:
        data = asdict(self)
        data["read_copy_availability"] = round(self.read_copy_availability, 4)
        data["read_availability"] = round(self.read_availability, 4)
        data["passed"] = self.passed
        return json.dumps(data, indent=2)

    def to_markdown(self) -> str:
        def s(v: float | None, unit: str = " s") -> str:
            return "–" if v is None else f"{v:.2f}{unit}"

        rows = [
            ("Fault", self.fault),
            ("Primary before → after", f"{self.leader_before} (TL {self.timeline_before}) → "
                                       f"{self.leader_after} (TL {self.timeline_after})"),
            ("Time to detect", s(self.detect_s)),
            ("Time until writes accepted again (RTO)", s(self.rto_s)),
            ("Time until every member streams again", s(self.rejoin_s)),
            ("Acknowledged writes", str(self.writes_acked)),
            ("Acknowledged writes lost (RPO, must be 0)", str(self.writes_lost)),
            ("Writes with unknown outcome (not acknowledged)", str(self.writes_unknown)),
            ("Write errors seen by clients", str(self.write_errors)),
            ("Read-copy availability", f"{100 * self.read_copy_availability:.1f} % "
                                       f"({self.read_probes_answered}/{self.read_probes} probes)"),
            ("Reads answered through the read URL (read copy, else a site)",
             f"{100 * self.read_availability:.1f} % ({self.read_url_probes_answered}/{self.read_url_probes})"),
            ("Read copy rewound (pg_rewind) during the drill", str(self.read_copy_rewinds)),
            ("Read-copy lag p50 / p99", f"{s(self.read_copy_lag_p50_s)} / {s(self.read_copy_lag_p99_s)}"),
            ("Write latency p50 / p99", f"{s(self.write_latency_p50_ms, ' ms')} / "
                                        f"{s(self.write_latency_p99_ms, ' ms')}"),
            ("Two members accepted writes at once", "YES" if self.two_writers else "no"),
            ("Order numbers unique", "yes" if self.order_numbers_unique else "NO"),
            ("Order numbers after the fault repeating earlier ones", str(self.order_numbers_repeated_after_fault)),
        ]
        lines = [f"# Drill `{self.scenario}` — {'PASSED' if self.passed else 'FAILED'}", "",
                 f"Started {self.started_at}.", "", "| measure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in rows]
        if self.two_writers_evidence:
            lines += ["", "Evidence of two writers:", *[f"- {e}" for e in self.two_writers_evidence]]
        lines += ["", "## Steps", "", *[f"1. {x}" for x in self.sentences], ""]
        return "\n".join(lines)

    def write(self, directory: Path) -> tuple[Path, Path]:
        return write_pair(directory, self.started_at, self.scenario, self.to_json(), self.to_markdown())


def write_pair(directory: Path, started_at: str, name: str, json_text: str, markdown: str) -> tuple[Path, Path]:
    """A drill's report as ``<start time>-<name>.json`` and ``.md`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{started_at.replace(':', '').replace('-', '')[:15]}-{name}"
    j, m = directory / f"{stem}.json", directory / f"{stem}.md"
    j.write_text(json_text)
    m.write_text(markdown)
    return j, m


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, max(0, int(p) - 1))]
