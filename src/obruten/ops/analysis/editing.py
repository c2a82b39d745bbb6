"""Editing a draft: the event sequence, why-chains, causes and actions.

Each function finds the version its target belongs to and refuses if that version is signed
(``Locked``: amend instead). The change and its log line are one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from obruten.ops.analysis import categories
from obruten.ops.analysis.analyses import insert, locked, log
from obruten.ops.analysis.model import STATUSES, STRENGTHS, AnalysisError, NotFound
from obruten.ops.clock import iso
from obruten.ops.store import Store

_TABLES = {"event": "analysis_event", "why": "analysis_why", "cause": "analysis_cause", "action": "analysis_action"}


class _Target:
    def __init__(self, analysis_id: int, number: int, version_id: int) -> None:
        self.analysis_id, self.number, self.version_id = analysis_id, number, version_id


def _draft_of(db: sqlite3.Connection, what: str, row_id: int) -> _Target:
    row = db.execute(f"SELECT v.id, v.analysis_id, v.number, v.state FROM {_TABLES[what]} x "
                     "JOIN analysis_version v ON v.id = x.version_id WHERE x.id = ?", (row_id,)).fetchone()
    if row is None:
        raise NotFound(f"no {what} {row_id}")
    if row["state"] != "draft":
        raise locked(row["analysis_id"], row["number"])
    return _Target(row["analysis_id"], row["number"], row["id"])


@contextmanager
def _editing(store: Store, what: str, row_id: int) -> Iterator[tuple[sqlite3.Connection, _Target]]:
    """One write transaction on a row of a draft; the draft check is inside it, so a sign-off
    cannot slip in between the check and the change."""
    with store.tx() as db:
        yield db, _draft_of(db, what, row_id)


def _draft_version(db: sqlite3.Connection, analysis_id: int) -> _Target:
    row = db.execute("SELECT id, number, state FROM analysis_version WHERE analysis_id = ? ORDER BY number DESC "
                     "LIMIT 1", (analysis_id,)).fetchone()
    if row is None:
        raise NotFound(f"no analysis {analysis_id}")
    if row["state"] != "draft":
        raise locked(analysis_id, row["number"])
    return _Target(analysis_id, row["number"], row["id"])


MAX_TEXT = 4000


def _text(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise AnalysisError(f"{what} cannot be empty")
    if len(value) > MAX_TEXT:
        raise AnalysisError(f"{what} is {len(value)} characters; shorten it to at most {MAX_TEXT}")
    return value


def _renumber(db: sqlite3.Connection, ordered: list[int]) -> None:
    for position, event_id in enumerate(ordered):
        db.execute("UPDATE analysis_event SET position = ? WHERE id = ?", (position, event_id))


def _order(db: sqlite3.Connection, version_id: int) -> list[int]:
    return [r[0] for r in db.execute("SELECT id FROM analysis_event WHERE version_id = ? ORDER BY position, id",
                                     (version_id,)).fetchall()]


# ---- events ------------------------------------------------------------------------------------
def add_event(store: Store, analysis_id: int, text: str, at: datetime | None, who: str, now: datetime,
              at_end: datetime | None = None, number: int | None = None) -> int:
    """Add an event; at position ``number`` (1-based), else in time order (or last without a time)."""
    text = _text(text, "an event's text")
    with store.tx() as db:
        target = _draft_version(db, analysis_id)
        order = _order(db, target.version_id)
        if number is None and at is not None:
            times = db.execute("SELECT id, at FROM analysis_event WHERE version_id = ? ORDER BY position, id",
                               (target.version_id,)).fetchall()
            later = [i for i, r in enumerate(times) if r["at"] and r["at"] > iso(at)]
            index = later[0] if later else len(order)
        else:
            index = len(order) if number is None else max(0, min(number - 1, len(order)))
        event_id = insert(db, "INSERT INTO analysis_event (version_id, position, at, at_end, text, origin) "
                              "VALUES (?, ?, ?, ?, ?, 'manual')",
                          (target.version_id, index, iso(at) if at else None, iso(at_end) if at_end else None, text))
        order.insert(index, event_id)
        _renumber(db, order)
        log(db, analysis_id, target.number, who, now, "event added", f"event {event_id} as number {index + 1}")
    return event_id


def edit_event(store: Store, event_id: int, who: str, now: datetime, *, text: str | None = None,
               at: datetime | None = None, at_end: datetime | None = None) -> None:
    with _editing(store, "event", event_id) as (db, target):
        if text is not None:
            db.execute("UPDATE analysis_event SET text = ? WHERE id = ?", (_text(text, "an event's text"), event_id))
        if at is not None:
            db.execute("UPDATE analysis_event SET at = ? WHERE id = ?", (iso(at), event_id))
        if at_end is not None:
            db.execute("UPDATE analysis_event SET at_end = ? WHERE id = ?", (iso(at_end), event_id))
        log(db, target.analysis_id, target.number, who, now, "event edited", f"event {event_id}")


def move_event(store: Store, event_id: int, number: int, who: str, now: datetime) -> None:
    """Put an event at position ``number`` (1-based) in the sequence."""
    with _editing(store, "event", event_id) as (db, target):
        order = _order(db, target.version_id)
        if not 1 <= number <= len(order):
            raise AnalysisError(f"position must be between 1 and {len(order)}")
        old = order.index(event_id)
        order.remove(event_id)
        order.insert(number - 1, event_id)
        _renumber(db, order)
        log(db, target.analysis_id, target.number, who, now, "event moved", f"event {event_id}: {old + 1} → {number}")


def merge_events(store: Store, into_id: int, from_id: int, who: str, now: datetime) -> None:
    """Merge event ``from_id`` into ``into_id``: texts joined, the time span widened, its
    why-chains moved; ``from_id`` is removed."""
    if into_id == from_id:
        raise AnalysisError("choose two different events to merge")
    with _editing(store, "event", into_id) as (db, target):
        if _draft_of(db, "event", from_id).version_id != target.version_id:
            raise AnalysisError("both events must belong to the same analysis version")
        a = db.execute("SELECT * FROM analysis_event WHERE id = ?", (into_id,)).fetchone()
        b = db.execute("SELECT * FROM analysis_event WHERE id = ?", (from_id,)).fetchone()
        times = [t for t in (a["at"], a["at_end"], b["at"], b["at_end"]) if t]
        starts = [t for t in (a["at"], b["at"]) if t]
        start = min(starts) if starts else None
        end = max(times) if times else None
        db.execute("UPDATE analysis_event SET text = ?, at = ?, at_end = ?, origin = 'merged' WHERE id = ?",
                   (f"{a['text']} {b['text']}", start, end if end != start else a["at_end"], into_id))
        db.execute("UPDATE analysis_why SET event_id = ? WHERE event_id = ?", (into_id, from_id))
        db.execute("DELETE FROM analysis_event WHERE id = ?", (from_id,))
        _renumber(db, _order(db, target.version_id))
        log(db, target.analysis_id, target.number, who, now, "events merged", f"event {from_id} into {into_id}")


def delete_event(store: Store, event_id: int, who: str, now: datetime) -> None:
    with _editing(store, "event", event_id) as (db, target):
        _delete_tree(db, [r[0] for r in db.execute("SELECT id FROM analysis_why WHERE event_id = ? AND parent_id IS NULL",
                                                   (event_id,)).fetchall()])
        db.execute("DELETE FROM analysis_event WHERE id = ?", (event_id,))
        _renumber(db, _order(db, target.version_id))
        log(db, target.analysis_id, target.number, who, now, "event removed", f"event {event_id}")


# ---- why-chains --------------------------------------------------------------------------------
def ask_why(store: Store, who: str, now: datetime, *, question: str, answer: str = "",
            event_id: int | None = None, parent_id: int | None = None) -> int:
    """A "Varför?" on an event (``event_id``) or on the answer of an earlier step (``parent_id``)."""
    if (event_id is None) == (parent_id is None):
        raise AnalysisError("ask why of an event (event_id) or of an earlier answer (parent_id), one of the two")
    question = _text(question, "the question")
    with store.tx() as db:
        if parent_id is not None:
            target = _draft_of(db, "why", parent_id)
            event_id = int(db.execute("SELECT event_id FROM analysis_why WHERE id = ?", (parent_id,)).fetchone()[0])
        else:
            assert event_id is not None  # exactly one of the two, checked above
            target = _draft_of(db, "event", event_id)
        why_id = insert(db, "INSERT INTO analysis_why (version_id, event_id, parent_id, question, answer) "
                            "VALUES (?, ?, ?, ?, ?)", (target.version_id, event_id, parent_id, question,
                                                       (answer or "").strip()))
        log(db, target.analysis_id, target.number, who, now, "why asked",
            f"why {why_id} on {'why ' + str(parent_id) if parent_id else 'event ' + str(event_id)}")
    return why_id


def edit_why(store: Store, why_id: int, who: str, now: datetime, *, question: str | None = None,
             answer: str | None = None) -> None:
    with _editing(store, "why", why_id) as (db, target):
        if question is not None:
            db.execute("UPDATE analysis_why SET question = ? WHERE id = ?", (_text(question, "the question"), why_id))
        if answer is not None:
            db.execute("UPDATE analysis_why SET answer = ? WHERE id = ?", (answer.strip(), why_id))
        log(db, target.analysis_id, target.number, who, now, "why edited", f"why {why_id}")


def _delete_tree(db: sqlite3.Connection, roots: list[int]) -> int:
    """Delete why-steps with every step below them, their causes and actions; returns how many steps."""
    tree, frontier = list(roots), list(roots)
    while frontier:
        rows = db.execute(f"SELECT id FROM analysis_why WHERE parent_id IN ({','.join('?' * len(frontier))})",
                          frontier).fetchall()
        frontier = [r[0] for r in rows]
        tree.extend(frontier)
    for wid in tree:
        for (cause_id,) in db.execute("SELECT id FROM analysis_cause WHERE why_id = ?", (wid,)).fetchall():
            _delete_cause(db, cause_id)
    for wid in reversed(tree):  # children before their parents
        db.execute("DELETE FROM analysis_why WHERE id = ?", (wid,))
    return len(tree)


def delete_why(store: Store, why_id: int, who: str, now: datetime) -> None:
    """Remove a step with everything below it (deeper steps, their causes and actions)."""
    with _editing(store, "why", why_id) as (db, target):
        removed = _delete_tree(db, [why_id])
        log(db, target.analysis_id, target.number, who, now, "why removed", f"why {why_id} and {removed - 1} below it")


# ---- causes ------------------------------------------------------------------------------------
def add_cause(store: Store, why_id: int, category: str, text: str, who: str, now: datetime) -> int:
    category = categories.check(store, category)
    text = _text(text, "a cause's text")
    with _editing(store, "why", why_id) as (db, target):
        cause_id = insert(db, "INSERT INTO analysis_cause (version_id, why_id, category, text) VALUES (?, ?, ?, ?)",
                          (target.version_id, why_id, category, text))
        log(db, target.analysis_id, target.number, who, now, "cause added", f"cause {cause_id} ({category})")
    return cause_id


def edit_cause(store: Store, cause_id: int, who: str, now: datetime, *, category: str | None = None,
               text: str | None = None) -> None:
    with _editing(store, "cause", cause_id) as (db, target):
        if category is not None:
            db.execute("UPDATE analysis_cause SET category = ? WHERE id = ?", (categories.check(store, category),
                                                                               cause_id))
        if text is not None:
            db.execute("UPDATE analysis_cause SET text = ? WHERE id = ?", (_text(text, "a cause's text"), cause_id))
        log(db, target.analysis_id, target.number, who, now, "cause edited", f"cause {cause_id}")


def _delete_cause(db: sqlite3.Connection, cause_id: int) -> None:
    db.execute("DELETE FROM analysis_action_followup WHERE action_id IN "
               "(SELECT id FROM analysis_action WHERE cause_id = ?)", (cause_id,))
    db.execute("DELETE FROM analysis_action WHERE cause_id = ?", (cause_id,))
    db.execute("DELETE FROM analysis_cause WHERE id = ?", (cause_id,))


def delete_cause(store: Store, cause_id: int, who: str, now: datetime) -> None:
    with _editing(store, "cause", cause_id) as (db, target):
        _delete_cause(db, cause_id)
        log(db, target.analysis_id, target.number, who, now, "cause removed", f"cause {cause_id}")


# ---- actions -----------------------------------------------------------------------------------
def _action_values(description: str, owner: str, deadline: date | str, strength: str, status: str) -> tuple[str, str,
                                                                                                          str]:
    if strength not in STRENGTHS:
        raise AnalysisError(f"strength must be one of {', '.join(STRENGTHS)} (RCA² action hierarchy)")
    if status not in STATUSES:
        raise AnalysisError(f"status must be one of {', '.join(STATUSES)}")
    try:
        when = deadline if isinstance(deadline, date) else date.fromisoformat(str(deadline).strip())
    except ValueError as exc:
        raise AnalysisError(f"deadline {deadline!r} is not a date; write it as YYYY-MM-DD") from exc
    return _text(description, "an action's description"), _text(owner, "an action's owner"), when.isoformat()


def add_action(store: Store, cause_id: int, who: str, now: datetime, *, description: str, owner: str,
               deadline: date | str, strength: str, measure: str = "", status: str = "planned") -> int:
    description, owner, when = _action_values(description, owner, deadline, strength, status)
    with _editing(store, "cause", cause_id) as (db, target):
        action_id = insert(db, "INSERT INTO analysis_action (version_id, cause_id, description, owner, deadline, "
                               "strength, measure, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (target.version_id, cause_id, description, owner, when, strength, measure.strip(), status))
        log(db, target.analysis_id, target.number, who, now, "action added", f"action {action_id} ({strength})")
    return action_id


def edit_action(store: Store, action_id: int, who: str, now: datetime, **fields: object) -> None:
    row = store.one("SELECT * FROM analysis_action WHERE id = ?", (action_id,))
    if row is None:
        raise NotFound(f"no action {action_id}")
    merged: dict[str, Any] = {k: fields[k] if fields.get(k) is not None else row[k]
              for k in ("description", "owner", "deadline", "strength", "measure", "status")}
    unknown = set(fields) - set(merged)
    if unknown:
        raise AnalysisError(f"unknown action field(s) {', '.join(sorted(unknown))}")
    description, owner, when = _action_values(str(merged["description"]), str(merged["owner"]),
                                              merged["deadline"], str(merged["strength"]),
                                              str(merged["status"]))
    with _editing(store, "action", action_id) as (db, target):
        db.execute("UPDATE analysis_action SET description = ?, owner = ?, deadline = ?, strength = ?, measure = ?, "
                   "status = ? WHERE id = ?", (description, owner, when, merged["strength"],
                                               str(merged["measure"]).strip(), merged["status"], action_id))
        log(db, target.analysis_id, target.number, who, now, "action edited", f"action {action_id}")


def delete_action(store: Store, action_id: int, who: str, now: datetime) -> None:
    with _editing(store, "action", action_id) as (db, target):
        db.execute("DELETE FROM analysis_action_followup WHERE action_id = ?", (action_id,))
        db.execute("DELETE FROM analysis_action WHERE id = ?", (action_id,))
        log(db, target.analysis_id, target.number, who, now, "action removed", f"action {action_id}")


def analysis_of(store: Store, what: str, row_id: int) -> int | None:
    """Which analysis an event, why, cause or action belongs to (None if there is no such row)."""
    row = store.one(f"SELECT v.analysis_id FROM {_TABLES[what]} x JOIN analysis_version v ON v.id = x.version_id "
                    "WHERE x.id = ?", (row_id,))
    return row["analysis_id"] if row else None
