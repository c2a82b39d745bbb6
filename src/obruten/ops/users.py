"""The ops service's own users: on-call staff, kept in the ops store (never the journal's).

Console roles: ``it`` (IT operations) and ``tib`` (officer on duty; may change the preparedness
level). Which on-call function someone holds, and when, is the schedule's business.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from obruten.ops import oncall as schedule
from obruten.ops.store import Store
from obruten.platform.auth import Session, check_password, hash_password

CONSOLE_ROLES = ("it", "tib")


def add_user(store: Store, username: str, full_name: str, console_role: str, password: str | None,
             email: str | None = None, phone: str | None = None) -> int:
    if console_role not in CONSOLE_ROLES:
        raise ValueError(f"console role must be one of {CONSOLE_ROLES}")
    return store.execute("INSERT INTO ops_user (username, full_name, console_role, password_hash, email, phone) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (username, full_name, console_role, hash_password(password) if password else None,
                          email, phone))


def authenticate(store: Store, username: str, password: str) -> Session | None:
    row = store.one("SELECT * FROM ops_user WHERE username = ? AND active = 1", (username,))
    if not check_password(row["password_hash"] if row else None, password) or row is None:
        return None
    return Session(row["id"], row["username"], row["full_name"], row["console_role"], ())


def by_id(store: Store, user_id: int) -> dict[str, object] | None:
    row = store.one("SELECT id, username, full_name, console_role, email, phone FROM ops_user WHERE id = ?",
                    (user_id,))
    return dict(row) if row else None


# demo on-call staff: (username, name, console role, on-call role, password)
_DEMO = (
    ("it", "Ida Jour", "it", "it1", "demo"),
    ("it2", "Olof Andrelinje", "it", "it2", "demo"),
    ("sysf", "Sara Förvaltare", "it", "sysf", "demo"),
    ("tib", "Tove Beredskap", "tib", "tib", "demo"),
    ("kib", "Karl Kommunikatör", "tib", "kib", "demo"),
)


def seed_demo(store: Store, now: datetime) -> list[str]:
    """Demo users (password ``demo``), each holding one on-call role until further notice."""
    made: list[str] = []
    for username, name, console_role, role, password in _DEMO:
        if store.one("SELECT 1 FROM ops_user WHERE username = ?", (username,)):
            continue
        user_id = add_user(store, username, name, console_role, password, email=f"{username}@ops.localhost",
                           phone=f"+4670000000{len(made)}")
        schedule.add_shift(store, role, user_id, now - timedelta(days=1))
        made.append(f"{username} ({schedule.ROLES[role]})")
    return made
