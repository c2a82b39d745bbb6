"""On-call: who holds which role (function) when. Alarms go to roles, never to a named person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from obruten.ops.clock import iso
from obruten.ops.store import Store

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
