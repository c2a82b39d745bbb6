"""The operating-mode write guard's rules: what is refused, who may override, and the refusal.

Under ``reservrutin`` for the region or for the entry's care unit, new clinical writes are
refused with a message naming the routine to follow (HTTP 423), so documentation is never split
between paper and system (F3). A physician or admin may override by giving a reason for the
request (API header ``X-Override-Reason``, or the override form in the UI, which allows that
user's writes for ``OVERRIDE_MINUTES``); every such write is audited as
``write_during_reservrutin`` with the reason. ``storning`` and ``efterregistrering`` allow writes.

The guard itself, plugged into ``Journal.write_guard``, is ``obruten.record.write_guard``: it reads
the node's ledger and writes overrides to the journal's audit log. This module, shared by every UI,
imports no UI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from obruten.platform.errors import DomainError

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


def blocked_message(t: Callable[..., str], details: Mapping[str, object]) -> str:
    """The refusal in the reader's language: which unit, which routine to follow, which message."""
    message = t("status.blocked", unit=details.get("unit") or "-", routine=details.get("routine") or "-",
                version=details.get("status_version"), headline=details.get("headline", ""))
    return message + (" " + t("status.blocked_override") if details.get("may_override") else "")
