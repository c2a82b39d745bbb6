"""Alert rules: which findings, held for how long, make an alarm of which severity.

A rule matches findings of one probe (and a target pattern); a finding is *bad* when its status
is one of the rule's statuses. The rule looks at the last ``for_s`` seconds: it *fires* once bad
findings began at least ``for_s`` ago and at least ``ratio`` of the findings in that window are
bad (so an intermittently slow write path, slow on most probes and fast on a few, still fires:
F1); it *clears* only when a whole window holds no bad finding (no flapping).
"""

from __future__ import annotations

import fnmatch
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from obruten.ops.findings import Finding
from obruten.platform.i18n import local_time

SEVERITIES = ("critical", "major", "minor")


@dataclass(frozen=True)
class Rule:
    name: str
    probe: str
    statuses: tuple[str, ...]
    for_s: float
    severity: str
    chain: str
    # one plain Swedish sentence for the officer on duty at night: what is affected, since when, what
    # to do. {since} (local HH:MM), {target}, {unit} (a target's part after "unit:"/"agent:"),
    # {value}, {status} are filled in; the raw error ({detail}) belongs in the alarm's details
    title: str
    target: str = "*"
    system: str = "journal"  # the affected system named on incidents
    incident: bool = False  # a firing alarm opens (or joins) an incident
    classification: int = 2  # of that incident
    propose_level: str | None = None  # preparedness level proposed to the officer on duty
    daytime_only: bool = False  # escalation waits for daytime; never the default
    ratio: float = 0.5  # share of bad findings in the window needed to fire
    titles: Mapping[str, str] = field(default_factory=dict)  # per finding status, instead of ``title``
    impact: str = ""  # what the care units cannot do, named on the incident it opens

    def matches(self, finding: Finding) -> bool:
        return finding.probe == self.probe and fnmatch.fnmatchcase(finding.target, self.target)

    def summary(self, finding: Finding, since: datetime | None = None) -> str:
        """The alarm's title: plain words, no driver error (that is ``Finding.detail``)."""
        value = "" if finding.value is None else f"{finding.value:.0f}"
        template = self.titles.get(finding.status, self.title)
        return template.format(target=finding.target, unit=finding.target.partition(":")[2] or finding.target,
                               status=finding.status, value=value, detail=finding.detail,
                               since=local_time(since or finding.at, "%H:%M"))


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    finding: Finding
    firing: bool  # False: the condition cleared
    since: datetime | None = None  # when the condition began (its first bad finding)

    @property
    def key(self) -> str:
        return f"{self.rule.name}:{self.finding.target}"


class RuleEngine:
    """Keeps each rule's recent findings per target (in memory: after a restart a condition must
    hold ``for_s`` again, which delays an alarm by at most one duration)."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = {r.name: r for r in rules}
        self._since: dict[tuple[str, str], datetime] = {}  # first bad finding of the current episode
        self._window: dict[tuple[str, str], deque[tuple[datetime, bool]]] = {}

    def evaluate(self, findings: Iterable[Finding], now: datetime) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for finding in findings:
            for rule in self.rules.values():
                if rule.matches(finding):
                    verdict = self._judge(rule, finding, now)
                    if verdict is not None:
                        verdicts.append(verdict)
        return verdicts

    def _judge(self, rule: Rule, finding: Finding, now: datetime) -> Verdict | None:
        key = (rule.name, finding.target)
        bad = finding.status in rule.statuses
        window = self._window.setdefault(key, deque())
        window.append((finding.at, bad))
        while len(window) > 1 and (now - window[0][0]).total_seconds() > rule.for_s:
            window.popleft()
        if bad:
            self._since.setdefault(key, finding.at)
        since = self._since.get(key)
        held = since is not None and (now - since).total_seconds() >= rule.for_s
        if held and sum(b for _, b in window) / len(window) >= rule.ratio:
            return Verdict(rule, finding, firing=True, since=since)
        if not any(b for _, b in window):
            self._since.pop(key, None)
            return Verdict(rule, finding, firing=False)
        return None

    def pending(self, now: datetime) -> dict[str, float]:
        """Conditions that hold but have not yet fired: key → seconds held so far."""
        return {f"{r}:{t}": (now - s).total_seconds() for (r, t), s in self._since.items()}
