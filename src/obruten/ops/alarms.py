"""Alarms: firing → acknowledged → resolved, deduplicated by key, every transition recorded.

One alarm is open per key (rule and target) at a time; a rule that keeps firing updates the open
alarm (``seen`` counts how often) instead of making a new one. Each transition is written to
``alarm_transition`` with who and when, and to the timeline as a system event.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from obruten.ops import timeline
from obruten.ops.clock import iso, parse
from obruten.ops.store import Row, Store
from obruten.platform.errors import ObrutenError

SYSTEM = "system"


class AlarmError(ObrutenError, ValueError):
    pass


# the timeline's words (Swedish, the console's language; the codes stay in the records)
SEVERITY_SV = {"critical": "kritiskt", "major": "allvarligt", "minor": "lindrigt"}
VIA_SV = {"console": "konsolen", "signed link": "länk i meddelandet", "api": "API", "cli": "kommandoraden",
          "preparedness decision": "beslut om beredskapsläge"}
NOTE_SV = {"condition cleared": "felet är borta"}


@dataclass(frozen=True)
class Alarm:
    id: int
    rule: str
    dedup_key: str
    severity: str
    state: str
    summary: str
    chain: str
    daytime_only: bool
    opened_at: datetime
    last_seen_at: datetime
    seen: int
    acked_at: datetime | None
    acked_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    step: int  # -1: nobody notified yet
    round: int  # how many times the chain has run through
    step_until: datetime | None  # when the current step's wait for acknowledgement ends
    incident_id: int | None
    detail: str = ""  # the raw finding (e.g. the driver's error), for the details, never the title

    @classmethod
    def from_row(cls, row: Row) -> Alarm:
        values = {f.name: row[f.name] for f in fields(cls)}
        for name in ("opened_at", "last_seen_at", "acked_at", "resolved_at", "step_until"):
            values[name] = parse(values[name])
        values["daytime_only"] = bool(values["daytime_only"])
        return cls(**values)


def get(store: Store, alarm_id: int) -> Alarm | None:
    row = store.one("SELECT * FROM alarm WHERE id = ?", (alarm_id,))
    return Alarm.from_row(row) if row else None


def active(store: Store) -> list[Alarm]:
    """Firing and acknowledged alarms, most severe and newest first."""
    rows = store.all("SELECT * FROM alarm WHERE state <> 'resolved' ORDER BY "
                     "CASE severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 ELSE 2 END, opened_at DESC")
    return [Alarm.from_row(r) for r in rows]


def recent(store: Store, limit: int = 50) -> list[Alarm]:
    return [Alarm.from_row(r) for r in store.all("SELECT * FROM alarm ORDER BY id DESC LIMIT ?", (limit,))]


def transitions(store: Store, alarm_id: int) -> list[dict[str, str]]:
    return [dict(r) for r in store.all("SELECT at, action, who, note FROM alarm_transition "
                                       "WHERE alarm_id = ? ORDER BY id", (alarm_id,))]


def _transition(db: Any, alarm_id: int, at: datetime, action: str, who: str, note: str = "") -> None:
    db.execute("INSERT INTO alarm_transition (alarm_id, at, action, who, note) VALUES (?, ?, ?, ?, ?)",
               (alarm_id, iso(at), action, who, note))


def fire(store: Store, var_dir: Path | None, *, rule: str, key: str, severity: str, summary: str, chain: str,
         now: datetime, daytime_only: bool = False, detail: str = "") -> tuple[Alarm, bool]:
    """Raise an alarm, or refresh the open one with the same key. Returns (alarm, new?).
    ``summary``: the title in plain words; ``detail``: the raw finding, shown in the details."""
    with store.tx() as db:
        row = db.execute("SELECT id FROM alarm WHERE dedup_key = ? AND state <> 'resolved'", (key,)).fetchone()
        if row is not None:
            db.execute("UPDATE alarm SET last_seen_at = ?, seen = seen + 1, summary = ?, detail = ? WHERE id = ?",
                       (iso(now), summary, detail, row["id"]))
            alarm_id, new = row["id"], False
        else:
            alarm_id = db.execute(
                "INSERT INTO alarm (rule, dedup_key, severity, state, summary, chain, daytime_only, opened_at, "
                "last_seen_at, detail) VALUES (?, ?, ?, 'firing', ?, ?, ?, ?, ?, ?)",
                (rule, key, severity, summary, chain, int(daytime_only), iso(now), iso(now), detail)).lastrowid
            _transition(db, alarm_id, now, "fired", SYSTEM, summary + (f" [{detail}]" if detail else ""))
            new = True
    if new:
        timeline.record(store, var_dir, "alarm.fired", f"Larm {alarm_id} ({SEVERITY_SV.get(severity, severity)}): "
                        f"{summary}", now,
                        alarm_id=alarm_id, rule=rule, severity=severity)
    alarm = get(store, alarm_id)
    assert alarm is not None
    return alarm, new


def acknowledge(store: Store, var_dir: Path | None, alarm_id: int, who: str, now: datetime,
                via: str = "console") -> bool:
    """Acknowledge a firing alarm; this stops its escalation chain. False if it was not firing."""
    with store.tx() as db:
        row = db.execute("SELECT state FROM alarm WHERE id = ?", (alarm_id,)).fetchone()
        if row is None:
            raise AlarmError(f"no alarm {alarm_id}")
        if row["state"] != "firing":
            return False
        db.execute("UPDATE alarm SET state = 'acknowledged', acked_at = ?, acked_by = ?, step_until = NULL "
                   "WHERE id = ?", (iso(now), who, alarm_id))
        _transition(db, alarm_id, now, "acknowledged", who, f"via {via}")
    timeline.record(store, var_dir, "alarm.acknowledged",
                    f"Larm {alarm_id} kvitterat av {_who(who)} (via {VIA_SV.get(via, via)})", now,
                    alarm_id=alarm_id, who=who, via=via)
    return True


def resolve(store: Store, var_dir: Path | None, alarm_id: int, who: str, now: datetime, note: str = "") -> bool:
    """Resolve an open alarm (the system does when its condition clears). False if already resolved."""
    with store.tx() as db:
        row = db.execute("SELECT state FROM alarm WHERE id = ?", (alarm_id,)).fetchone()
        if row is None:
            raise AlarmError(f"no alarm {alarm_id}")
        if row["state"] == "resolved":
            return False
        db.execute("UPDATE alarm SET state = 'resolved', resolved_at = ?, resolved_by = ?, step_until = NULL "
                   "WHERE id = ?", (iso(now), who, alarm_id))
        _transition(db, alarm_id, now, "resolved", who, note)
    note = NOTE_SV.get(note, note)
    timeline.record(store, var_dir, "alarm.resolved", f"Larm {alarm_id} löst ({_who(who)}){': ' + note if note else ''}",
                    now, alarm_id=alarm_id, who=who)
    return True


def _who(who: str) -> str:
    return "automatiskt" if who == SYSTEM else who


def set_step(store: Store, alarm_id: int, step: int, round_: int, until: datetime | None, now: datetime,
             note: str) -> None:
    with store.tx() as db:
        db.execute("UPDATE alarm SET step = ?, round = ?, step_until = ? WHERE id = ? AND state = 'firing'",
                   (step, round_, iso(until) if until else None, alarm_id))
        _transition(db, alarm_id, now, "escalated" if (step, round_) != (0, 0) else "notified", SYSTEM, note)


def link_incident(store: Store, alarm_id: int, incident_id: int) -> None:
    store.execute("UPDATE alarm SET incident_id = ? WHERE id = ?", (incident_id, alarm_id))
