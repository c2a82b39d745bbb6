"""The event analysis tables: migration 0002 of the ops store (``obruten.ops.schema``).

Portable SQL on purpose (the ops store may also run on PostgreSQL): ``INTEGER PRIMARY KEY`` ids,
ISO-8601 UTC text for times, JSON as text, no engine-specific functions.

An analysis (``analysis``) is a case opened from one incident; its content lives in numbered
versions (``analysis_version``). Only a draft version can change; signing freezes it, and an
amendment copies it into the next draft. Events, why-chains, causes and actions all belong to
one version, so a signed version stays exactly as it was signed.
"""

from __future__ import annotations

from obruten.ops.analysis import categories
from obruten.ops.store import Store


def ensure(store: Store) -> None:
    """Seed the default cause categories on first use (the tables are migration 0002 of the ops
    store, ``obruten.ops.schema``)."""
    categories.seed_defaults(store)
