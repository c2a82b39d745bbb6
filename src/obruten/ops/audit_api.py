"""The audit anchors the ops service took, read-only: ``GET /api/v1/audit/anchors`` (ADR 0041).

Authenticated like every ops API route (``Who``). ``obruten audit verify --anchors URL`` pages
through them with ``after`` (the last row id it got) and checks each signature against a key it
trusts on its own: this route serves the signed documents, never a key to trust.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from obruten.ops import audit_anchors
from obruten.ops.http import Ops, Who

router = APIRouter()
PAGE = 5000


@router.get("/api/v1/audit/anchors")
def anchors(service: Ops, who: Who, after: Annotated[int, Query(ge=0, le=2**62)] = 0,
            limit: Annotated[int, Query(ge=1, le=PAGE)] = PAGE) -> dict[str, object]:
    """Signed checkpoints of the journal's audit chain, oldest first; ``next`` pages on (null at the end)."""
    rows = audit_anchors.listing(service.store, after, limit)
    return {"anchors": [anchor.as_dict() for _, anchor in rows],
            "next": rows[-1][0] if len(rows) == limit else None}
