"""The one row of a query that always returns one (``SELECT count(*)``, ``SELECT pg_is_in_recovery()``).

psycopg types ``fetchone()`` as ``Row | None``; ``one(cur.fetchone())`` says that no row here is a
bug and fails with a message instead of ``'NoneType' object is not subscriptable``.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def one(row: T | None) -> T:
    """``row``, or ``LookupError`` when the query returned none."""
    if row is None:
        raise LookupError("the query returned no row where one was expected")
    return row
