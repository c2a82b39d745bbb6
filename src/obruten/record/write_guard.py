"""The operating-mode write guard on ``Journal.write_guard``.

It reads the node's current status document (``obruten.status``): under ``reservrutin`` for the
region or the entry's care unit a write is refused with ``WriteBlocked``, unless a physician or
admin overrides it with a reason, which is audited as ``write_during_reservrutin``. The rules and
the refusal's wording are the status model's (``obruten.status.guard``). A refused write is audited as
``write_refused_reservrutin``; a user's reason goes in the event's detail, never its purpose.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from obruten.platform.auth import Session
from obruten.platform.errors import Invalid
from obruten.platform.i18n import translator
from obruten.record.audit import AuditEvent
from obruten.status.guard import OVERRIDE_ROLES, WriteBlocked, blocked_message, current_override
from obruten.status.ledger import Ledger


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
            await record(AuditEvent(actor=session.username, actor_id=session.user_id,
                                    action="write_during_reservrutin", purpose="vård",
                                    detail={"unit": unit_id, "status_version": doc.version, "mode": mode,
                                            "reason": override.reason.strip()[:500]},
                                    node=node))
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
