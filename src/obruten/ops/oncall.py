"""On-call: who holds which role (function) when. Alarms go to roles, never to a named person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from obruten.ops import timeline
from obruten.ops.clock import iso, parse, parse_required
from obruten.ops.store import Row, Store
from obruten.platform.errors import ObrutenError
from obruten.platform.i18n import STOCKHOLM, local_time

# the default on-call roles, lowest first; titles are shown in the console (Swedish terms)
ROLES: dict[str, str] = {
    "it1": "IT-jour nivå 1",
    "it2": "IT-jour nivå 2",
    "sysf": "Systemförvaltare",
    "tib": "TIB (tjänsteman i beredskap)",
    "kib": "KiB (kommunikatör i beredskap)",
}


@dataclass(frozen=True)
class Holder:
    user_id: int
    username: str
    full_name: str
    email: str | None
    phone: str | None


def add_shift(store: Store, role: str, user_id: int, starts_at: datetime, ends_at: datetime | None = None) -> int:
    if role not in ROLES:
        raise ValueError(f"unknown on-call role {role!r}; known: {', '.join(ROLES)}")
    if ends_at is not None and ends_at <= starts_at:
        raise ValueError("a shift must end after it starts")
    return store.execute("INSERT INTO oncall_shift (role, user_id, starts_at, ends_at) VALUES (?, ?, ?, ?)",
                         (role, user_id, iso(starts_at), iso(ends_at) if ends_at else None))


def holders(store: Store, role: str, at: datetime) -> list[Holder]:
    """Everyone who holds ``role`` at ``at`` (active users only)."""
    t = iso(at)
    rows = store.all("SELECT DISTINCT u.id, u.username, u.full_name, u.email, u.phone FROM oncall_shift s "
                     "JOIN ops_user u ON u.id = s.user_id WHERE s.role = ? AND u.active = 1 "
                     "AND s.starts_at <= ? AND (s.ends_at IS NULL OR s.ends_at > ?) ORDER BY u.id",
                     (role, t, t))
    return [Holder(r["id"], r["username"], r["full_name"], r["email"], r["phone"]) for r in rows]


def roster(store: Store, at: datetime) -> dict[str, list[Holder]]:
    return {role: holders(store, role, at) for role in ROLES}


# ---- editing the rota (the console's on-call page) ----------------------------------------------
# Each function keeps its own rota: IT operations (console role ``it``) the IT on-call levels and
# the system administrator, the officer on duty (``tib``) the preparedness roles.
EDITORS: dict[str, str] = {"it1": "it", "it2": "it", "sysf": "it", "tib": "tib", "kib": "tib"}
PLAN_DAYS = 14


class ShiftError(ObrutenError, ValueError):
    """A shift that cannot be saved as given; the message says what to change. Nothing was written.

    ``key`` and ``values`` let the console say it in the reader's language
    (``ops.oncall.err.<key>``); ``str()`` is the English sentence."""

    def __init__(self, key: str, message: str, **values: object) -> None:
        super().__init__(message)
        self.key, self.values = key, values


@dataclass(frozen=True)
class Shift:
    id: int
    role: str
    user_id: int
    full_name: str
    starts_at: datetime
    ends_at: datetime | None

    def holds(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.ends_at is None or self.ends_at > at)


def may_edit(console_role: str, role: str) -> bool:
    return EDITORS.get(role) == console_role


def _shift(r: Row) -> Shift:
    return Shift(r["id"], r["role"], r["user_id"], r["full_name"], parse_required(r["starts_at"]),
                 parse(r["ends_at"]))


def plan(store: Store, now: datetime, days: int = PLAN_DAYS) -> dict[str, list[Shift]]:
    """Every role's shifts that hold at some time from ``now`` to ``days`` ahead, by start."""
    rows = store.all("SELECT s.id, s.role, s.user_id, u.full_name, s.starts_at, s.ends_at FROM oncall_shift s "
                     "JOIN ops_user u ON u.id = s.user_id WHERE s.starts_at < ? AND (s.ends_at IS NULL OR s.ends_at > ?) "
                     "ORDER BY s.starts_at, s.id", (iso(now + timedelta(days=days)), iso(now)))
    found: dict[str, list[Shift]] = {role: [] for role in ROLES}
    for r in rows:
        found.setdefault(r["role"], []).append(_shift(r))
    return found


def get_shift(store: Store, shift_id: int) -> Shift | None:
    r = store.one("SELECT s.id, s.role, s.user_id, u.full_name, s.starts_at, s.ends_at FROM oncall_shift s "
                  "JOIN ops_user u ON u.id = s.user_id WHERE s.id = ?", (shift_id,))
    return _shift(r) if r else None


def _overlapping(db: Any, role: str, starts_at: datetime, ends_at: datetime | None) -> list[Row]:
    return db.execute("SELECT s.id, s.user_id, u.full_name, s.starts_at, s.ends_at FROM oncall_shift s "
                      "JOIN ops_user u ON u.id = s.user_id WHERE s.role = ? AND s.starts_at < ? "
                      "AND (s.ends_at IS NULL OR s.ends_at > ?) ORDER BY s.starts_at",
                      (role, iso(ends_at) if ends_at else "9999", iso(starts_at))).fetchall()


def _record(db: Any, now: datetime, who: str, action: str, shift_id: int, role: str, user_id: int,
            starts_at: datetime, ends_at: datetime | None) -> None:
    db.execute("INSERT INTO oncall_change (at, who, action, shift_id, role, user_id, starts_at, ends_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (iso(now), who, action, shift_id, role, user_id, iso(starts_at),
                                                   iso(ends_at) if ends_at else None))


def _when(value: datetime | None) -> str:
    return local_time(value) if value else "tills vidare"


def add(store: Store, var_dir: Path | None, *, role: str, user_id: int, starts_at: datetime,
        ends_at: datetime | None, who: str, now: datetime, allow_overlap: bool = False) -> int:
    """Add a shift after checking it; records the change (``oncall_change``, timeline). A shift
    overlapping another of the same role is refused unless ``allow_overlap`` (two people holding a
    role is allowed, but must be meant); the same person twice in one role never is."""
    if role not in ROLES:
        raise ShiftError("unknown_role", f"unknown on-call role {role!r}; choose one of {', '.join(ROLES)}",
                         role=role, roles=", ".join(ROLES))
    if ends_at is not None and ends_at <= starts_at:
        raise ShiftError("end_before_start", "the shift must end after it starts; correct the end time")
    if (ends_at or starts_at + timedelta(seconds=1)) <= now:
        raise ShiftError("in_past", "the shift lies wholly in the past; on-call history is not rewritten")
    with store.tx() as db:
        user = db.execute("SELECT full_name FROM ops_user WHERE id = ? AND active = 1", (user_id,)).fetchone()
        if user is None:
            raise ShiftError("no_user", f"no active ops user with id {user_id}; choose someone from the list",
                             id=user_id)
        overlap = _overlapping(db, role, starts_at, ends_at)
        if any(r["user_id"] == user_id for r in overlap):
            raise ShiftError("same_person", f"{user['full_name']} already holds {ROLES[role]} during part of that time",
                             name=user["full_name"], role=ROLES[role])
        if overlap and not allow_overlap:
            names = "; ".join(f"{r['full_name']} {_when(parse(r['starts_at']))}–{_when(parse(r['ends_at']))}"
                              for r in overlap)
            raise ShiftError("overlap", f"overlaps another {ROLES[role]} shift ({names}); tick 'both hold the role' "
                             "if two people should hold it at once, or change the times",
                             role=ROLES[role], shifts=names)
        shift_id = db.execute("INSERT INTO oncall_shift (role, user_id, starts_at, ends_at) VALUES (?, ?, ?, ?)",
                              (role, user_id, iso(starts_at), iso(ends_at) if ends_at else None)).lastrowid
        _record(db, now, who, "added", shift_id, role, user_id, starts_at, ends_at)
    timeline.record(store, var_dir, "oncall.shift_added",
                    f"Jourpass {shift_id}: {user['full_name']} som {ROLES[role]} {_when(starts_at)}–{_when(ends_at)} "
                    f"(lagt av {who})", now, shift_id=shift_id, role=role, who=who)
    return shift_id


def end(store: Store, var_dir: Path | None, shift_id: int, *, at: datetime, who: str, now: datetime) -> str:
    """End a shift at ``at`` (not before now: history is not rewritten); a shift that has not begun
    by then is cancelled instead. Returns what was done, recorded like ``add``."""
    if at < now - timedelta(minutes=1):
        raise ShiftError("end_in_past", "a shift cannot be ended in the past; give a time from now on")
    with store.tx() as db:
        row = db.execute("SELECT s.role, s.user_id, u.full_name, s.starts_at, s.ends_at FROM oncall_shift s "
                         "JOIN ops_user u ON u.id = s.user_id WHERE s.id = ?", (shift_id,)).fetchone()
        if row is None:
            raise ShiftError("no_shift", f"no shift {shift_id}; reload the page", id=shift_id)
        starts_at, ends_at = parse(row["starts_at"]), parse(row["ends_at"])
        assert starts_at is not None
        if ends_at is not None and ends_at <= at:
            raise ShiftError("already_ends", f"shift {shift_id} already ends {_when(ends_at)}", id=shift_id,
                             at=_when(ends_at))
        if at <= starts_at:
            db.execute("DELETE FROM oncall_shift WHERE id = ?", (shift_id,))
            action = "cancelled"
        else:
            db.execute("UPDATE oncall_shift SET ends_at = ? WHERE id = ?", (iso(at), shift_id))
            action = "ended"
        _record(db, now, who, action, shift_id, row["role"], row["user_id"], starts_at, at)
    summary = (f"Jourpass {shift_id} ({row['full_name']}, {ROLES[row['role']]}) "
               f"{'struket' if action == 'cancelled' else 'avslutat ' + _when(at)} av {who}")
    timeline.record(store, var_dir, f"oncall.shift_{action}", summary, now, shift_id=shift_id, role=row["role"],
                    who=who)
    return action


def changes(store: Store, limit: int = 20) -> list[Row]:
    return store.all("SELECT c.*, u.full_name FROM oncall_change c JOIN ops_user u ON u.id = c.user_id "
                     "ORDER BY c.id DESC LIMIT ?", (limit,))


def parse_local(text: str) -> datetime:
    """A time typed in the console (``2025-01-15T08:00``, Swedish local time) as aware UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ShiftError("bad_time", f"{text!r} is not a date and time (YYYY-MM-DD HH:MM)", text=text) from exc
    return (value if value.tzinfo else value.replace(tzinfo=STOCKHOLM)).astimezone(UTC)
