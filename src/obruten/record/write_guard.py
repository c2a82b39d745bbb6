"""The operating-mode write guard on ``Journal.write_guard``.

It reads the node's current status document (``obruten.status``): under ``reservrutin`` for the
region or the entry's care unit a write is refused with ``WriteBlocked``, unless a physician or
admin overrides it with a reason, which is audited as ``write_during_reservrutin``. The rules and
the refusal's wording are the status model's (``obruten.status.guard``). A refused write is audited as
``write_refused_reservrutin``; a user's reason goes in the event's detail, never its purpose.

An override write is marked on the entry itself: the guard's audit event carries a one-time token,
and the write's own transaction (``Journal.audit_in`` → ``mark_written``) adds an
``entry_override`` row naming the entry and that audit event (migration 0070), which the entry's
history and the API show ("skriven under reservrutin, med åsidosättande: <reason>").
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from psycopg import AsyncConnection

from obruten.platform.auth import Session
from obruten.platform.errors import Invalid
from obruten.platform.i18n import translator
from obruten.record.audit import AuditEvent
from obruten.status.guard import OVERRIDE_ROLES, WriteBlocked, blocked_message, current_override
from obruten.status.ledger import Ledger


@dataclass(frozen=True)
class OverrideMark:
    """An override the guard let through in this request, waiting for its write."""

    token: str
    reason: str
    status_version: int
    unit_id: str | None


# set by the guard for the request that overrides; read by the write's transaction
pending_override: ContextVar[OverrideMark | None] = ContextVar("obruten_pending_override", default=None)

MARKING_SV = "skriven under reservrutin, med åsidosättande: {reason}"


async def mark_written(conn: AsyncConnection, patient_id: int | None, detail: Mapping[str, object]) -> int | None:
    """In a write's transaction: if this request's write went through by an override, mark the
    entry it wrote (``detail``: the write's audit detail, ``entry`` and ``id``/``order_number``,
    ``version``) and return the override's audit event id (None: no override)."""
    mark = pending_override.get()
    if mark is None or not detail.get("entry"):
        return None
    ref = detail.get("id") or detail.get("order_number")
    cur = await conn.execute("SELECT id FROM audit_event WHERE action = 'write_during_reservrutin' "
                             "AND detail->>'token' = %s ORDER BY id DESC LIMIT 1", (mark.token,))
    row = await cur.fetchone()
    if row is None or ref is None:
        return None
    kind = str(detail["entry"]).partition(":")[0]
    await conn.execute(
        "INSERT INTO entry_override (entry_kind, entry_ref, version, patient_id, unit_id, status_version, reason, "
        "audit_event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (kind, str(ref), int(str(detail.get("version") or 1)), patient_id, mark.unit_id, mark.status_version,
         mark.reason, row[0]))
    return int(row[0])


async def markings(conn: AsyncConnection, entry_ref: str) -> dict[int, dict[str, object]]:
    """The override markings of an entry, by version: reason, audit event id, status version and
    the sentence the history shows."""
    cur = await conn.execute("SELECT version, reason, audit_event_id, status_version, unit_id, at "
                             "FROM entry_override WHERE entry_ref = %s ORDER BY id", (entry_ref,))
    found: dict[int, dict[str, object]] = {}
    for version, reason, event_id, status_version, unit_id, at in await cur.fetchall():
        found[version] = {"reason": reason, "audit_event_id": event_id, "status_version": status_version,
                          "unit_id": unit_id, "at": at.isoformat(), "text": MARKING_SV.format(reason=reason)}
    return found


def write_guard(ledger: Ledger, record: Callable[[AuditEvent], Awaitable[None]], node: str,
                lang: str = "sv") -> Callable[[Session, str | None], Awaitable[None]]:
    """A ``Journal.write_guard`` reading the node's current status document."""
    t = translator(lang)

    async def guard(session: Session, unit_id: str | None) -> None:
        doc = ledger.current()
        if doc is None:
            return
        mode = doc.mode_for(unit_id)
        if mode != "reservrutin":
            return
        override = current_override.get()
        if override is not None and override.sid not in (None, session.sid):
            override = None
        if override is not None and session.role in OVERRIDE_ROLES:
            if len(override.reason.strip()) < 5:
                raise Invalid("an override needs a reason of at least 5 characters")
            token = secrets.token_hex(12)
            reason = override.reason.strip()[:500]
            await record(AuditEvent(actor=session.username, actor_id=session.user_id,
                                    action="write_during_reservrutin", purpose="vård",
                                    detail={"unit": unit_id, "status_version": doc.version, "mode": mode,
                                            "reason": reason, "token": token},
                                    node=node))
            pending_override.set(OverrideMark(token, reason, doc.version, unit_id))
            return
        details = {"unit": unit_id, "routine": doc.routine, "status_version": doc.version, "mode": mode,
                   "headline": doc.headline, "may_override": session.role in OVERRIDE_ROLES}
        # a refused write is audited too: who tried to write where while the unit was on paper
        await record(AuditEvent(actor=session.username, actor_id=session.user_id,
                                action="write_refused_reservrutin", purpose="vård",
                                detail={"unit": unit_id, "status_version": doc.version, "mode": mode},
                                node=node))
        raise WriteBlocked(blocked_message(t, details), **details)

    return guard
