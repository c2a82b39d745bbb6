"""Logging in: the one path the API (``POST /api/v1/login``) and the login page share."""

from __future__ import annotations

from dataclasses import dataclass

from obruten.platform.auth import Session, TokenSigner
from obruten.platform.errors import Unauthenticated
from obruten.record import staff
from obruten.record.audit import AuditEvent
from obruten.record.service import Journal


@dataclass(frozen=True)
class LoggedIn:
    session: Session
    token: str
    expires_in: int  # seconds


async def log_in(journal: Journal, signer: TokenSigner, node: str, username: str, password: str) -> LoggedIn:
    """Check the password and that the account is active, audit the attempt, issue the session token.
    Raises ``Unauthenticated`` (401) for a wrong username or password or an inactive account."""
    async with journal.pool.connection() as conn:
        session = await staff.authenticate(conn, username, password)
    if session is None:
        await journal.audit.record(AuditEvent(actor=username[:40], action="login_failed", node=node))
        raise Unauthenticated("wrong username or password")
    token = signer.issue(session)
    await journal.audit.record(AuditEvent(actor=session.username, actor_id=session.user_id, action="login", node=node))
    return LoggedIn(session, token, signer.lifetime)
