"""Incidents: opened automatically by a critical alarm on the journal, or by hand.

An incident has a classification 1–4 (definitions configurable, a default below), affected
systems and care units, and a state: open → mitigated → resolved → closed. Resolving is the
technical end; standing down preparedness is a separate decision (``preparedness``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from obruten.ops import alarms, timeline
from obruten.ops.clock import iso, parse, parse_required
from obruten.ops.rules import Rule
from obruten.ops.store import Row, Store
from obruten.platform.errors import ObrutenError

STATES = ("open", "mitigated", "resolved", "closed")
STATE_SV = {"open": "öppen", "mitigated": "begränsad", "resolved": "åtgärdad", "closed": "avslutad"}
_ALLOWED = {"open": ("mitigated", "resolved"), "mitigated": ("open", "resolved"),
            "resolved": ("open", "closed"), "closed": ()}

DEFAULT_CLASSIFICATION = {
    1: "Kritisk: journalen eller annat verksamhetskritiskt system är otillgängligt eller så långsamt att "
       "vården inte kan dokumentera; flera enheter berörs; patientsäkerheten hotas.",
    2: "Allvarlig: verksamhetskritisk funktion kraftigt försämrad (t.ex. läskopian nere eller långt efter), "
       "eller otillgänglig för en enhet; reservrutiner kan behövas.",
    3: "Måttlig: störning med begränsad påverkan; arbetet kan fortsätta med omvägar.",
    4: "Låg: ingen direkt påverkan på vården; åtgärdas i normal ordning.",
}


class IncidentError(ObrutenError, ValueError):
    pass


@dataclass(frozen=True)
class Incident:
    id: int
    title: str
    classification: int
    state: str
    opened_at: datetime
    opened_by: str
    resolved_at: datetime | None
    closed_at: datetime | None
    affected_systems: list[str]
    affected_units: list[str]
    auto: bool
    impact: str = ""  # what the care units cannot do

    @classmethod
    def from_row(cls, r: Row) -> Incident:
        return cls(r["id"], r["title"], r["classification"], r["state"], parse_required(r["opened_at"]),
                   r["opened_by"], parse(r["resolved_at"]), parse(r["closed_at"]),
                   json.loads(r["affected_systems"]), json.loads(r["affected_units"]), bool(r["auto"]),
                   r["impact"] or "")


def get(store: Store, incident_id: int) -> Incident | None:
    row = store.one("SELECT * FROM incident WHERE id = ?", (incident_id,))
    return Incident.from_row(row) if row else None


def listing(store: Store, include_closed: bool = False) -> list[Incident]:
    where = "" if include_closed else "WHERE state <> 'closed'"
    return [Incident.from_row(r) for r in store.all(f"SELECT * FROM incident {where} ORDER BY id DESC")]


def open_incident(store: Store, var_dir: Path | None, *, title: str, classification: int, by: str, now: datetime,
                  systems: list[str] | None = None, units: list[str] | None = None, auto: bool = False,
                  impact: str = "") -> int:
    if classification not in (1, 2, 3, 4):
        raise IncidentError("classification must be 1, 2, 3 or 4")
    if not title.strip():
        raise IncidentError("an incident needs a title")
    incident_id = store.execute(
        "INSERT INTO incident (title, classification, state, opened_at, opened_by, affected_systems, "
        "affected_units, auto, impact) VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?)",
        (title.strip(), classification, iso(now), by, json.dumps(systems or [], ensure_ascii=False),
         json.dumps(units or [], ensure_ascii=False), int(auto), impact.strip()))
    how = "automatiskt" if auto else f"av {by}"
    timeline.record(store, var_dir, "incident.opened",
                    f"Incident {incident_id} öppnad {how} (klass {classification}): {title}", now, incident_id)
    return incident_id


def for_alarm(store: Store, var_dir: Path | None, alarm: alarms.Alarm, rule: Rule, now: datetime) -> tuple[int, bool]:
    """The incident a critical alarm belongs to: an open one on the same system, or a new one.
    Returns (incident id, newly opened?)."""
    for inc in listing(store):
        if inc.state in ("open", "mitigated") and rule.system in inc.affected_systems:
            alarms.link_incident(store, alarm.id, inc.id)
            timeline.record(store, var_dir, "incident.alarm_linked",
                            f"Larm {alarm.id} kopplat till incident {inc.id}: {alarm.summary}", now, inc.id)
            return inc.id, False
    incident_id = open_incident(store, var_dir, title=alarm.summary, classification=rule.classification,
                                by="system", now=now, systems=[rule.system], auto=True,
                                units=affected_units(store, rule, alarm), impact=rule.impact)
    alarms.link_incident(store, alarm.id, incident_id)
    return incident_id, True


ALL_UNITS = "Alla enheter"


def affected_units(store: Store, rule: Rule, alarm: alarms.Alarm) -> list[str]:
    """The care units an alarm's incident affects: the unit a ward-kit alarm names; for the journal,
    every unit (each one this service knows of, by its ward PC, named)."""
    target = alarm.dedup_key.partition(":")[2]
    if rule.system == "ward_kits" and ":" in target:
        return [target.partition(":")[2]]
    if rule.system != "journal":
        return []
    known = [str(r["unit"]) for r in store.all("SELECT unit FROM ward_agent ORDER BY unit")]
    return [f"{ALL_UNITS} ({len(known)}): {', '.join(known)}"] if known else [ALL_UNITS]


def change_state(store: Store, var_dir: Path | None, incident_id: int, state: str, who: str, now: datetime,
                 note: str = "") -> None:
    inc = get(store, incident_id)
    if inc is None:
        raise IncidentError(f"no incident {incident_id}")
    if state not in _ALLOWED[inc.state]:
        raise IncidentError(f"incident {incident_id} is {inc.state}; it can go to {', '.join(_ALLOWED[inc.state]) or 'nothing'}")
    column = {"mitigated": "mitigated_at", "resolved": "resolved_at", "closed": "closed_at"}.get(state)
    with store.tx() as db:
        db.execute("UPDATE incident SET state = ? WHERE id = ?", (state, incident_id))
        if column:
            db.execute(f"UPDATE incident SET {column} = ? WHERE id = ?", (iso(now), incident_id))
        if state == "open":
            db.execute("UPDATE incident SET resolved_at = NULL, closed_at = NULL WHERE id = ?", (incident_id,))
    timeline.record(store, var_dir, f"incident.{state}",
                    f"Incident {incident_id}: {STATE_SV[inc.state]} → {STATE_SV[state]} ({who})"
                    f"{': ' + note if note else ''}", now,
                    incident_id, who=who)


def reclassify(store: Store, var_dir: Path | None, incident_id: int, classification: int, who: str, now: datetime,
               reason: str) -> None:
    if classification not in (1, 2, 3, 4):
        raise IncidentError("classification must be 1, 2, 3 or 4")
    store.execute("UPDATE incident SET classification = ? WHERE id = ?", (classification, incident_id))
    timeline.record(store, var_dir, "incident.classified",
                    f"Incident {incident_id} klassad {classification} av {who}: {reason}", now, incident_id)


def links(store: Store, incident_id: int) -> list[dict[str, str]]:
    return [dict(r) for r in store.all("SELECT kind, ref, at FROM incident_link WHERE incident_id = ? ORDER BY at",
                                       (incident_id,))]


def linked_alarms(store: Store, incident_id: int) -> list[alarms.Alarm]:
    return [alarms.Alarm.from_row(r) for r in store.all("SELECT * FROM alarm WHERE incident_id = ? ORDER BY id",
                                                        (incident_id,))]
