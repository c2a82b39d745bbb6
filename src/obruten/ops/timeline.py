"""Incident timelines: system events, filled in automatically, plus manual entries.

System events (from every part of Obruten, through ``obruten.platform.events``) are copied into the ops
store once; the ops service's own events (alarm fired, escalated, acknowledged, preparedness
changed …) are written to the store directly and also emitted for the rest of the system. An
incident's timeline is its manual entries plus every system event in its window: from
``LOOKBACK`` before it opened until it closed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from obruten.ops.clock import iso, parse, parse_required
from obruten.ops.store import Store
from obruten.platform import events

SOURCE = "ops"
LOOKBACK = timedelta(minutes=15)
# events whose data names a status message or operating-mode change are linked to open incidents
LINKED_PREFIXES = ("status.", "mode.", "operating_mode.")


def record(store: Store, var_dir: Path | None, kind: str, summary: str, at: datetime,
           incident_id: int | None = None, **data: object) -> None:
    """One of the ops service's own events: into the store (on one incident's timeline, or as a
    system event when ``incident_id`` is None), and out to the system event file."""
    store.execute("INSERT INTO timeline_entry (incident_id, at, kind, summary, source, manual) "
                  "VALUES (?, ?, ?, ?, ?, 0)", (incident_id, iso(at), kind, summary, SOURCE))
    if incident_id is not None:
        data["incident_id"] = incident_id
    if var_dir is not None:
        events.emit(var_dir, kind, summary, SOURCE, **data)


def add_manual(store: Store, incident_id: int, summary: str, who: str, at: datetime, kind: str = "note") -> int:
    if not summary.strip():
        raise ValueError("a timeline entry needs text")
    return store.execute("INSERT INTO timeline_entry (incident_id, at, kind, summary, source, manual, who) "
                         "VALUES (?, ?, ?, ?, ?, 1, ?)", (incident_id, iso(at), kind, summary.strip(), who, who))


def ingest(store: Store, var_dir: Path) -> int:
    """Copy new system events (not our own) into the store; returns how many were taken."""
    offset = int(store.get_meta("events_offset", "0"))
    path = events.events_file(var_dir)
    if path.exists() and path.stat().st_size < offset:
        offset = 0  # the file was replaced; start over
    taken = 0
    for new_offset, event in events.read(var_dir, offset):
        offset = new_offset
        if event.source == SOURCE:
            continue
        at = iso(parse(event.at) or datetime.fromisoformat(event.at))
        with store.tx() as db:
            db.execute("INSERT INTO timeline_entry (incident_id, at, kind, summary, source, manual) "
                       "VALUES (NULL, ?, ?, ?, ?, 0)", (at, event.kind, event.summary, event.source))
            if event.kind.startswith(LINKED_PREFIXES):
                ref = str(event.data.get("id") or event.data.get("version") or at)
                db.execute("INSERT OR IGNORE INTO incident_link (incident_id, kind, ref, at) "
                           "SELECT id, ?, ?, ? FROM incident WHERE state IN ('open', 'mitigated') "
                           "AND opened_at <= ?", (event.kind, ref, at, at))
        taken += 1
    store.set_meta("events_offset", str(offset))
    return taken


def entries(store: Store, incident_id: int) -> list[dict[str, object]]:
    """The incident's own entries, and the system events of its window: from ``LOOKBACK`` before it
    opened until it was resolved (or closed; open: until now). Nothing of a later incident."""
    inc = store.one("SELECT opened_at, resolved_at, closed_at FROM incident WHERE id = ?", (incident_id,))
    if inc is None:
        raise KeyError(incident_id)
    start = iso(parse_required(inc["opened_at"]) - LOOKBACK)
    end = inc["resolved_at"] or inc["closed_at"] or "9999"
    rows = store.all("SELECT at, kind, summary, source, manual FROM timeline_entry "
                     "WHERE incident_id = ? OR (incident_id IS NULL AND at >= ? AND at <= ?) "
                     "ORDER BY at, id", (incident_id, start, end))
    return [{"at": r["at"], "kind": r["kind"], "summary": r["summary"], "source": r["source"],
             "manual": bool(r["manual"])} for r in rows]


def export(store: Store, incident_id: int) -> dict[str, Any]:
    """The timeline export (consumed by event analysis; keep the shape exactly)."""
    inc = store.one("SELECT * FROM incident WHERE id = ?", (incident_id,))
    if inc is None:
        raise KeyError(incident_id)
    return {
        "incident": {
            "id": inc["id"], "title": inc["title"], "classification": inc["classification"],
            "state": inc["state"], "opened_at": inc["opened_at"], "resolved_at": inc["resolved_at"],
            "affected_systems": json.loads(inc["affected_systems"]),
            "affected_units": json.loads(inc["affected_units"]),
        },
        "timeline": entries(store, incident_id),
    }
