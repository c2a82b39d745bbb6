"""The operating-mode write guard (the ``Journal.write_guard`` seam).

Under ``reservrutin`` for the region or for the entry's care unit, new clinical writes are
refused with a message naming the routine to follow (HTTP 423), so documentation is never split
between paper and system (F3). A physician or admin may override by giving a reason for the
request (API header ``X-Override-Reason``, or the override form in the UI, which allows that
user's writes for ``OVERRIDE_MINUTES``); every such write is audited as
``write_during_reservrutin`` with the reason. ``storning`` and ``efterregistrering`` allow writes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass

from obruten.platform.auth import Session
from obruten.platform.errors import DomainError, Invalid
from obruten.platform.i18n import translator
from obruten.record.audit import AuditEvent
from obruten.status.ledger import Ledger

OVERRIDE_ROLES = ("physician", "admin")
OVERRIDE_MINUTES = 10
OVERRIDE_HEADER = "x-override-reason"


class WriteBlocked(DomainError):
    """Reserve routines are in force: the write belongs on paper (423 Locked)."""

    status = 423


@dataclass(frozen=True)
class Override:
    reason: str
    sid: str | None = None  # from the UI form: only for that login session; None: this request


# set per request by the status middleware (header or signed cookie)
current_override: ContextVar[Override | None] = ContextVar("obruten_status_override", default=None)


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


def blocked_message(t: Callable[..., str], details: dict[str, object]) -> str:
    """The refusal in the reader's language: which unit, which routine to follow, which message."""
    message = t("status.blocked", unit=details.get("unit") or "-", routine=details.get("routine") or "-",
                version=details.get("status_version"), headline=details.get("headline", ""))
    return message + (" " + t("status.blocked_override") if details.get("may_override") else "")
