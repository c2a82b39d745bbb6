"""Logging in and out: the one path the API (``POST /api/v1/login``, ``/logout``) and the pages share."""

from __future__ import annotations

from dataclasses import dataclass

from obruten.platform.auth import Session, TokenSigner
from obruten.platform.errors import Unauthenticated
from obruten.record import staff
from obruten.record.audit import AuditEvent
from obruten.record.login_guard import LoginGuard, Throttled, client_key
from obruten.record.revocation import Revocations
from obruten.record.service import Journal


@dataclass(frozen=True)
class LoggedIn:
    session: Session
    token: str
    expires_in: int  # seconds


def _actor(username: str) -> str:
    """The typed username as an audit actor: printable characters only, at most 40."""
    return "".join(ch for ch in username if ch.isprintable())[:40]


async def log_in(journal: Journal, signer: TokenSigner, node: str, username: str, password: str, *,
                 guard: LoginGuard, client: str | None, lang: str = "sv") -> LoggedIn:
    """Refuse while the account or client address is throttled (``Throttled``, 429, audited as
    ``login_throttled``; the password is not checked, so a correct one does not end a lock-out);
    else check the password and that the account is active, count and audit the attempt, and issue
    the session token. A lock-out is audited at its first refusal (per process), not at every one.
    Raises ``Unauthenticated`` (401) for a wrong username or password or an
    inactive account."""
    address = client_key(client)
    verdict = await guard.check(username, address)
    if not verdict.allowed:
        if guard.first_refusal(username, address, verdict):  # once per lock-out, not per hammered attempt
            await journal.audit.record(AuditEvent(
                actor=_actor(username), action="login_throttled", node=node,
                detail={"by": verdict.by, "client": address, "failures": verdict.failures,
                        "retry_after": verdict.retry_after}))
        raise Throttled(verdict, lang)
    session = await staff.authenticate_in(journal.pool, username, password)
    await guard.record(username, address, ok=session is not None)
    if session is None:
        await journal.audit.record(AuditEvent(actor=_actor(username), action="login_failed", node=node,
                                              detail={"client": address}))
        raise Unauthenticated("wrong username or password")
    token = signer.issue(session)
    await journal.audit.record(AuditEvent(actor=session.username, actor_id=session.user_id, action="login", node=node,
                                          detail={"client": address}))
    return LoggedIn(session, token, signer.lifetime)


async def log_out(journal: Journal, revocations: Revocations, session: Session, node: str) -> bool:
    """End ``session`` on every node (``Revocations.revoke``) and audit it. True when every node
    learns it; False on a read copy, where it is ended in this process and in the spooled audit only."""
    everywhere = await revocations.revoke(session)
    await journal.audit.record(AuditEvent(actor=session.username, actor_id=session.user_id, action="logout",
                                          node=node, detail={"sid": session.sid, "everywhere": everywhere}))
    return everywhere
