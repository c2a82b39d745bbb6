"""The event analysis as read: one version of one analysis, as an immutable tree.

``load`` builds it from the store; the report, the API and the console all read this shape.
Events are numbered 1, 2, 3 … in their order (the report calls them H1, H2 …); each event has
its why-chains, each step of a chain may end in causes, and each cause has its actions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from obruten.ops.clock import parse, parse_required
from obruten.ops.store import Store
from obruten.platform.errors import ObrutenError
from obruten.platform.i18n import STOCKHOLM

STRENGTHS = ("stronger", "intermediate", "weaker")  # the RCA² action hierarchy
STATUSES = ("planned", "in_progress", "done", "cancelled")
CLOSED_STATUSES = ("done", "cancelled")


class AnalysisError(ObrutenError, ValueError):
    """Bad input or a request the analysis's state does not allow; the message says what to do."""


class NotFound(AnalysisError):
    pass


class Locked(AnalysisError):
    """The version is signed: it can only be amended as a new version."""


@dataclass(frozen=True)
class Action:
    id: int
    cause_id: int
    description: str
    owner: str
    deadline: date
    strength: str
    measure: str
    status: str  # the newest follow-up's status, else the one set while drafting

    def overdue(self, today: date) -> bool:
        return self.deadline < today and self.status not in CLOSED_STATUSES


@dataclass(frozen=True)
class Cause:
    id: int
    why_id: int
    category: str
    text: str
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class Why:
    id: int
    event_id: int
    parent_id: int | None
    question: str
    answer: str
    causes: tuple[Cause, ...]
    children: tuple[Why, ...]

    def walk(self, depth: int = 0) -> Iterator[tuple[int, Why]]:
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


@dataclass(frozen=True)
class Event:
    id: int
    number: int
    at: datetime | None
    at_end: datetime | None
    text: str
    origin: str  # "timeline:<kind>", "manual" or "merged"
    whys: tuple[Why, ...]

    def steps(self) -> Iterator[tuple[int, Why]]:
        for why in self.whys:
            yield from why.walk()


@dataclass(frozen=True)
class Version:
    id: int
    number: int
    state: str
    commissioner: str
    leader: str
    team: tuple[str, ...]
    scope: str
    summary: str
    consequences: str
    reason: str
    created_at: datetime
    created_by: str
    signed_at: datetime | None
    signed_by: str | None

    @property
    def signed(self) -> bool:
        return self.state == "signed"


@dataclass(frozen=True)
class Analysis:
    id: int
    incident_id: int
    title: str
    created_at: datetime
    created_by: str
    version: Version
    versions: tuple[tuple[int, str], ...]  # (number, state) of every version, oldest first
    events: tuple[Event, ...]

    @property
    def latest(self) -> int:
        return self.versions[-1][0]

    def causes(self) -> Iterator[tuple[Event, Cause]]:
        for event in self.events:
            for _, why in event.steps():
                for cause in why.causes:
                    yield event, cause

    def actions(self) -> Iterator[tuple[Event, Cause, Action]]:
        for event, cause in self.causes():
            for action in cause.actions:
                yield event, cause, action

    def as_json(self) -> dict[str, object]:
        return json.loads(json.dumps(asdict(self), default=lambda o: o.isoformat() if hasattr(o, "isoformat") else str(o)))


def load(store: Store, analysis_id: int, number: int | None = None) -> Analysis:
    """One version (the newest when ``number`` is None) of an analysis."""
    head = store.one("SELECT * FROM analysis WHERE id = ?", (analysis_id,))
    if head is None:
        raise NotFound(f"no analysis {analysis_id}; list them with GET /api/v1/analyses")
    versions = tuple((r["number"], r["state"]) for r in store.all(
        "SELECT number, state FROM analysis_version WHERE analysis_id = ? ORDER BY number", (analysis_id,)))
    number = versions[-1][0] if number is None else number
    v = store.one("SELECT * FROM analysis_version WHERE analysis_id = ? AND number = ?", (analysis_id, number))
    if v is None:
        raise NotFound(f"analysis {analysis_id} has no version {number}; it has {', '.join(str(n) for n, _ in versions)}")
    version = Version(v["id"], v["number"], v["state"], v["commissioner"], v["leader"], tuple(json.loads(v["team"])),
                      v["scope"], v["summary"], v["consequences"], v["reason"], parse_required(v["created_at"]),
                      v["created_by"], parse(v["signed_at"]), v["signed_by"])
    return Analysis(head["id"], head["incident_id"], head["title"], parse_required(head["created_at"]),
                    head["created_by"], version, versions, _events(store, version.id))


def _events(store: Store, version_id: int) -> tuple[Event, ...]:
    followups = {r["action_id"]: r["status"] for r in store.all(
        "SELECT f.action_id, f.status FROM analysis_action_followup f JOIN analysis_action a ON a.id = f.action_id "
        "WHERE a.version_id = ? ORDER BY f.id", (version_id,))}  # the newest wins
    actions: dict[int, list[Action]] = {}
    for r in store.all("SELECT * FROM analysis_action WHERE version_id = ? ORDER BY id", (version_id,)):
        actions.setdefault(r["cause_id"], []).append(Action(
            r["id"], r["cause_id"], r["description"], r["owner"], date.fromisoformat(r["deadline"]), r["strength"],
            r["measure"], followups.get(r["id"], r["status"])))
    causes: dict[int, list[Cause]] = {}
    for r in store.all("SELECT * FROM analysis_cause WHERE version_id = ? ORDER BY id", (version_id,)):
        causes.setdefault(r["why_id"], []).append(
            Cause(r["id"], r["why_id"], r["category"], r["text"], tuple(actions.get(r["id"], ()))))
    rows = store.all("SELECT * FROM analysis_why WHERE version_id = ? ORDER BY id", (version_id,))
    by_parent: dict[int | None, list[dict[str, Any]]] = {}
    for r in rows:
        by_parent.setdefault(r["parent_id"], []).append(dict(r))

    def build(r: dict[str, Any]) -> Why:
        wid = int(r["id"])
        return Why(wid, int(r["event_id"]), r["parent_id"], str(r["question"]), str(r["answer"]),
                   tuple(causes.get(wid, ())), tuple(build(c) for c in by_parent.get(wid, ())))

    roots: dict[int, list[Why]] = {}
    for root in by_parent.get(None, []):
        roots.setdefault(int(root["event_id"]), []).append(build(root))
    events = store.all("SELECT * FROM analysis_event WHERE version_id = ? ORDER BY position, id", (version_id,))
    return tuple(Event(r["id"], n, parse(r["at"]), parse(r["at_end"]), r["text"], r["origin"],
                       tuple(roots.get(r["id"], ()))) for n, r in enumerate(events, start=1))


def as_utc(value: datetime | str | None) -> datetime | None:
    """A time given by a person: ISO text or a datetime; without a zone it is Stockholm time."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("T", " "))
        except ValueError as exc:
            raise AnalysisError(f"time {value!r} is not understood; write it as YYYY-MM-DD HH:MM") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=STOCKHOLM)
    return value.astimezone(UTC)
