"""The life of an event analysis: started from a resolved incident, drafted, signed off by its
commissioner, and amended only as a new version.

Every change is written to ``analysis_change`` with who and when, in the same transaction as the
change. Starting and signing are also system events (``analysis.started``, ``analysis.signed``),
so they appear on the incident's timeline and reach the rest of Obruten.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime
from pathlib import Path

from obruten.ops import incidents, timeline
from obruten.ops.analysis.model import CLOSED_STATUSES, STATUSES, AnalysisError, Locked, NotFound, load
from obruten.ops.clock import iso
from obruten.ops.store import Store

HEADER_FIELDS = ("title", "commissioner", "leader", "team", "scope", "summary", "consequences")


def log(db: sqlite3.Connection, analysis_id: int, version: int, who: str, now: datetime, action: str,
        detail: str = "") -> None:
    db.execute("INSERT INTO analysis_change (analysis_id, version, at, who, action, detail) VALUES (?, ?, ?, ?, ?, ?)",
               (analysis_id, version, iso(now), who, action, detail[:500]))


def insert(db: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> int:
    """An INSERT … RETURNING id (portable to PostgreSQL, unlike ``lastrowid``)."""
    return int(db.execute(sql + " RETURNING id", params).fetchone()[0])


def _known_user(store: Store, username: str) -> str:
    username = username.strip()
    if store.one("SELECT 1 FROM ops_user WHERE username = ? AND active = 1", (username,)) is None:
        raise AnalysisError(f"the commissioner must be an ops console user (username), so they can sign off; "
                            f"{username!r} is not one. Add them with `obruten ops user add` or pick another.")
    return username


def _team(team: list[str] | str) -> str:
    members = team if isinstance(team, list) else team.replace("\n", ",").split(",")
    return json.dumps([m.strip() for m in members if m.strip()], ensure_ascii=False)


def start(store: Store, var_dir: Path | None, *, incident_id: int, commissioner: str, leader: str,
          team: list[str] | str, scope: str, who: str, now: datetime, title: str = "") -> int:
    """A new analysis (version 1, draft) whose event sequence is the incident's timeline."""
    inc = incidents.get(store, incident_id)
    if inc is None:
        raise NotFound(f"no incident {incident_id}")
    if inc.state not in ("resolved", "closed"):
        raise AnalysisError(f"incident {incident_id} is {inc.state}; an analysis starts once it is resolved "
                            f"(change its state to resolved first)")
    commissioner = _known_user(store, commissioner)
    if not leader.strip():
        raise AnalysisError("an analysis needs an analysis leader")
    exported = timeline.export(store, incident_id)
    title = title.strip() or inc.title
    with store.tx() as db:
        analysis_id = insert(db, "INSERT INTO analysis (incident_id, title, created_at, created_by) VALUES (?, ?, ?, ?)",
                             (incident_id, title, iso(now), who))
        version_id = insert(db, "INSERT INTO analysis_version (analysis_id, number, state, commissioner, leader, team, "
                                "scope, created_at, created_by) VALUES (?, 1, 'draft', ?, ?, ?, ?, ?, ?)",
                            (analysis_id, commissioner, leader.strip(), _team(team), scope.strip(), iso(now), who))
        entries = exported["timeline"]
        for position, entry in enumerate(entries):
            db.execute("INSERT INTO analysis_event (version_id, position, at, text, origin) VALUES (?, ?, ?, ?, ?)",
                       (version_id, position, entry["at"], entry["summary"], f"timeline:{entry['kind']}"))
        log(db, analysis_id, 1, who, now, "started",
            f"incident {incident_id}, {len(entries)} events imported from its timeline")
    timeline.record(store, var_dir, "analysis.started",
                    f"Händelseanalys {analysis_id} startad av {who} (uppdragsgivare {commissioner})", now,
                    incident_id, analysis_id=analysis_id)
    return analysis_id


def update(store: Store, analysis_id: int, who: str, now: datetime, **fields: object) -> None:
    """Change the draft's header: commissioner, leader, team, scope, summary, consequences, title."""
    unknown = set(fields) - set(HEADER_FIELDS)
    if unknown:
        raise AnalysisError(f"unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(HEADER_FIELDS)}")
    analysis = load(store, analysis_id)
    version = analysis.version
    if version.signed:
        raise locked(analysis_id, version.number)
    values: dict[str, object] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name == "team":
            values[name] = _team(value if isinstance(value, list) else str(value))
        elif name == "commissioner":
            values[name] = _known_user(store, str(value))
        else:
            values[name] = str(value).strip()
        if name in ("title", "leader") and not values[name]:
            raise AnalysisError(f"{name} cannot be empty")
    if not values:
        return
    with store.tx() as db:
        if db.execute("SELECT state FROM analysis_version WHERE id = ?", (version.id,)).fetchone()[0] != "draft":
            raise locked(analysis_id, version.number)  # signed since we looked
        title = values.pop("title", None)
        if title is not None:
            db.execute("UPDATE analysis SET title = ? WHERE id = ?", (title, analysis_id))
        for name, value in values.items():  # names are from HEADER_FIELDS only
            db.execute(f"UPDATE analysis_version SET {name} = ? WHERE id = ?", (value, version.id))
        log(db, analysis_id, version.number, who, now, "header changed",
            ", ".join(sorted([*values, *(["title"] if title is not None else [])])))


def locked(analysis_id: int, number: int) -> Locked:
    return Locked(f"analysis {analysis_id} version {number} is signed and read-only; "
                  f"amend it (POST /api/v1/analyses/{analysis_id}/amend) to make a new version to edit")


def sign(store: Store, var_dir: Path | None, analysis_id: int, who: str, now: datetime) -> str:
    """The commissioner signs off the newest version; from then on it is read-only."""
    analysis = load(store, analysis_id)
    version = analysis.version
    if version.signed:
        raise locked(analysis_id, version.number)
    if who != version.commissioner:
        raise AnalysisError(f"only the commissioner ({version.commissioner}) signs off analysis {analysis_id}; "
                            f"log in as {version.commissioner} or change the commissioner first")
    if not analysis.events:
        raise AnalysisError("the analysis has no events; add the event sequence before signing off")
    if not version.summary:
        raise AnalysisError("write the summary (sammanfattning) before signing off")
    with store.tx() as db:
        db.execute("UPDATE analysis_version SET state = 'signed', signed_at = ?, signed_by = ? "
                   "WHERE id = ? AND state = 'draft'", (iso(now), who, version.id))
        log(db, analysis_id, version.number, who, now, "signed")
    sentence = f"Händelseanalys {analysis_id} version {version.number} signerad av {who}"
    timeline.record(store, var_dir, "analysis.signed", sentence, now, analysis.incident_id,
                    analysis_id=analysis_id, version=version.number)
    return sentence


def amend(store: Store, analysis_id: int, who: str, now: datetime, reason: str) -> int:
    """Copy the signed newest version into a new draft; returns its number. The signed one stays."""
    analysis = load(store, analysis_id)
    old = analysis.version
    if not old.signed:
        raise AnalysisError(f"version {old.number} of analysis {analysis_id} is a draft; edit it directly")
    if not reason.strip():
        raise AnalysisError("an amendment needs a reason (what is changed and why)")
    number = old.number + 1
    with store.tx() as db:
        newest = db.execute("SELECT MAX(number) FROM analysis_version WHERE analysis_id = ?", (analysis_id,)).fetchone()
        if newest[0] != old.number:
            raise AnalysisError(f"analysis {analysis_id} already has version {newest[0]}; edit that draft instead")
        vid = insert(db, "INSERT INTO analysis_version (analysis_id, number, state, commissioner, leader, team, scope, "
                         "summary, consequences, reason, created_at, created_by) "
                         "VALUES (?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (analysis_id, number, old.commissioner, old.leader, json.dumps(list(old.team), ensure_ascii=False),
                      old.scope, old.summary, old.consequences, reason.strip(), iso(now), who))
        why_ids: dict[int, int] = {}
        cause_ids: dict[int, int] = {}
        for position, event in enumerate(analysis.events):
            eid = insert(db, "INSERT INTO analysis_event (version_id, position, at, at_end, text, origin) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                         (vid, position, iso(event.at) if event.at else None,
                          iso(event.at_end) if event.at_end else None, event.text, event.origin))
            for _, why in event.steps():  # parents come before their children
                why_ids[why.id] = insert(db, "INSERT INTO analysis_why (version_id, event_id, parent_id, question, "
                                             "answer) VALUES (?, ?, ?, ?, ?)",
                                         (vid, eid, why_ids.get(why.parent_id) if why.parent_id else None,
                                          why.question, why.answer))
                for cause in why.causes:
                    cause_ids[cause.id] = insert(db, "INSERT INTO analysis_cause (version_id, why_id, category, text) "
                                                     "VALUES (?, ?, ?, ?)", (vid, why_ids[why.id], cause.category,
                                                                             cause.text))
                    for a in cause.actions:
                        db.execute("INSERT INTO analysis_action (version_id, cause_id, description, owner, deadline, "
                                   "strength, measure, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                   (vid, cause_ids[cause.id], a.description, a.owner, a.deadline.isoformat(),
                                    a.strength, a.measure, a.status))
        log(db, analysis_id, number, who, now, "amended", f"version {number} from signed version {old.number}")
    return number


def follow_up(store: Store, action_id: int, status: str, note: str, who: str, now: datetime) -> None:
    """Record an action's progress; allowed after sign-off (the signed content does not change)."""
    if status not in STATUSES:
        raise AnalysisError(f"status must be one of {', '.join(STATUSES)}")
    row = store.one("SELECT v.analysis_id, v.number FROM analysis_action a JOIN analysis_version v "
                    "ON v.id = a.version_id WHERE a.id = ?", (action_id,))
    if row is None:
        raise NotFound(f"no action {action_id}")
    with store.tx() as db:
        db.execute("INSERT INTO analysis_action_followup (action_id, at, who, status, note) VALUES (?, ?, ?, ?, ?)",
                   (action_id, iso(now), who, status, note.strip()))
        log(db, row["analysis_id"], row["number"], who, now, "action followed up",
            f"action {action_id}: {status}")  # the note stays in the follow-up, not in the log


def listing(store: Store) -> list[dict[str, object]]:
    rows = store.all("SELECT a.id, a.incident_id, a.title, a.created_at, v.number, v.state, v.signed_at "
                     "FROM analysis a JOIN analysis_version v ON v.analysis_id = a.id "
                     "WHERE v.number = (SELECT MAX(number) FROM analysis_version w WHERE w.analysis_id = a.id) "
                     "ORDER BY a.id DESC")
    return [dict(r) for r in rows]


def for_incident(store: Store, incident_id: int) -> list[int]:
    return [r["id"] for r in store.all("SELECT id FROM analysis WHERE incident_id = ? ORDER BY id", (incident_id,))]


def changes(store: Store, analysis_id: int) -> list[dict[str, object]]:
    return [dict(r) for r in store.all("SELECT version, at, who, action, detail FROM analysis_change "
                                       "WHERE analysis_id = ? ORDER BY id", (analysis_id,))]


def overdue(store: Store, today: date) -> list[dict[str, object]]:
    """Actions of each analysis's newest version past their deadline and not done or cancelled."""
    rows = store.all(
        "SELECT a.id, a.description, a.owner, a.deadline, a.status, a.strength, v.analysis_id, v.number, n.title, "
        "(SELECT f.status FROM analysis_action_followup f WHERE f.action_id = a.id ORDER BY f.id DESC LIMIT 1) "
        "AS followed FROM analysis_action a JOIN analysis_version v ON v.id = a.version_id "
        "JOIN analysis n ON n.id = v.analysis_id "
        "WHERE a.deadline < ? AND v.number = (SELECT MAX(number) FROM analysis_version w "
        "WHERE w.analysis_id = v.analysis_id) ORDER BY a.deadline, a.id", (today.isoformat(),))
    found = []
    for r in rows:
        status = r["followed"] or r["status"]
        if status not in CLOSED_STATUSES:
            found.append({"action_id": r["id"], "analysis_id": r["analysis_id"], "version": r["number"],
                          "title": r["title"], "description": r["description"], "owner": r["owner"],
                          "deadline": r["deadline"], "status": status, "strength": r["strength"]})
    return found
