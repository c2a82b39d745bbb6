"""Cause categories: configurable, with the national method's list as the default.

A cause keeps its category's name as text, so renaming or retiring a category later never changes
a signed analysis.
"""

from __future__ import annotations

from obruten.ops.store import Store
from obruten.platform.errors import ObrutenError

DEFAULTS = (
    "Kommunikation & information",
    "Utbildning & kompetens",
    "Procedurer, rutiner & riktlinjer",
    "Teknik, utrustning & apparatur",
    "Omgivning & organisation",
    "Barriärer",
)


class CategoryError(ObrutenError, ValueError):
    pass


def seed_defaults(store: Store) -> None:
    if store.one("SELECT 1 FROM analysis_category") is not None:
        return
    with store.tx() as db:
        for position, name in enumerate(DEFAULTS):
            db.execute("INSERT INTO analysis_category (name, position, active) VALUES (?, ?, 1)", (name, position))


def active(store: Store) -> list[str]:
    return [r["name"] for r in store.all("SELECT name FROM analysis_category WHERE active = 1 ORDER BY position, id")]


def add(store: Store, name: str) -> None:
    name = name.strip()
    if not name:
        raise CategoryError("a category needs a name")
    row = store.one("SELECT id FROM analysis_category WHERE name = ?", (name,))
    if row is not None:
        store.execute("UPDATE analysis_category SET active = 1 WHERE id = ?", (row["id"],))
        return
    last = store.one("SELECT MAX(position) AS p FROM analysis_category")
    position = (last["p"] if last and last["p"] is not None else -1) + 1
    store.execute("INSERT INTO analysis_category (name, position, active) VALUES (?, ?, 1)", (name, position))


def retire(store: Store, name: str) -> None:
    """Stop offering a category for new causes (causes that use it keep it)."""
    if store.one("SELECT 1 FROM analysis_category WHERE name = ? AND active = 1", (name,)) is None:
        raise CategoryError(f"no active category {name!r}; active: {', '.join(active(store))}")
    store.execute("UPDATE analysis_category SET active = 0 WHERE name = ?", (name,))


def check(store: Store, name: str) -> str:
    name = name.strip()
    known = active(store)
    if name not in known:
        raise CategoryError(f"unknown cause category {name!r}; choose one of: {'; '.join(known)}")
    return name
