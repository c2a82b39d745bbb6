"""Sessions that end before they expire: logout ends one session, deactivation all of a user's.

A session token stays valid by its signature for its whole lifetime, so ending one is a row in
the append-only ``session_revocation`` table of the journal database (schema 0045). Every node
reads that table: the journal's workers directly, a read copy (a streaming standby) once the row
has replicated. Each process keeps what it has read in memory and looks again at most every
``ttl`` seconds (one small query per process, not one per request), so a logout or deactivation
takes effect everywhere within ``ttl`` plus the read copy's replication lag.

On a read copy the database is read-only: a logout there is written to the primary when the read
copy knows one (``primary_url``, the audit shipper's) and it answers within two seconds; it then
reaches every node, every read copy behind a balancer included, like a logout on the journal.
Otherwise (the primary is down: the outage the read copy exists for) it is kept in that process only
(and in the spooled audit, by the caller): other processes and nodes accept the token until it
expires or the user logs out on the journal. This bound is documented in docs/sessions.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from obruten.platform.auth import Session

log = logging.getLogger(__name__)

TTL_SECONDS = 1.0  # how stale a process's view of the revocations may be
_OVERLAP_SECONDS = 60.0  # re-read this far behind the newest row seen: rows commit out of order
_INSERT_LOGOUT = "INSERT INTO session_revocation (sid, user_id, reason, node) VALUES (%s, %s, 'logout', %s)"
_READ_TIMEOUT_SECONDS = 2.0  # waiting longer for a pooled connection: keep what is known, try next time


@dataclass
class Revoked:
    """What one process knows has been ended: sessions by sid, users' sessions up to a time."""

    sids: dict[str, float] = field(default_factory=dict)  # sid -> revoked at (epoch s)
    users: dict[int, float] = field(default_factory=dict)  # user id -> sessions issued up to here are ended

    def ends(self, session: Session) -> bool:
        if session.sid in self.sids:
            return True
        cutoff = self.users.get(session.user_id)
        # issued_at is whole seconds: a session issued in the same second as the cutoff counts as
        # ended (at worst one more login, never a session that outlives its deactivation)
        return cutoff is not None and session.issued_at <= cutoff

    def add(self, sid: str | None, user_id: int, at: float) -> None:
        if sid is not None:
            self.sids[sid] = at
        else:
            self.users[user_id] = max(at, self.users.get(user_id, 0.0))

    def forget_before(self, oldest: float) -> None:
        """Drop revocations of sessions that have expired anyway."""
        self.sids = {s: at for s, at in self.sids.items() if at >= oldest}
        self.users = {u: at for u, at in self.users.items() if at >= oldest}


async def revoke_user(conn: psycopg.AsyncConnection, user_id: int, node: str) -> None:
    """End every session of ``user_id`` issued until now, in the caller's transaction on ``conn``
    (the deactivation that causes it commits with it)."""
    await conn.execute("INSERT INTO session_revocation (sid, user_id, reason, node) VALUES (NULL, %s, 'deactivated', %s)",
                       (user_id, node))


_WARN_EVERY_SECONDS = 60.0  # while the database is unreachable, say so once a minute


class Revocations:
    """One process's view of ``session_revocation``, refreshed at most every ``ttl`` seconds."""

    def __init__(self, pool: AsyncConnectionPool, *, writable: bool, lifetime: int, node: str = "journal",
                 ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic,
                 primary_url: str | None = None) -> None:
        self.pool, self.writable, self.lifetime, self.node = pool, writable, lifetime, node
        self.primary_url = primary_url  # a read copy: where a logout is recorded for every node
        self.ttl, self.clock = ttl, clock
        self.known = Revoked()
        self.local = Revoked()  # logouts this process could not write (a read copy)
        self._loaded_at: float | None = None
        self._newest: float | None = None  # revoked_at of the newest row read (the database's clock)
        self._lock = asyncio.Lock()
        self._failing_since: float | None = None  # one warning per outage, not one per request
        self._warned_at = float("-inf")

    async def ended(self, session: Session) -> bool:
        """Has ``session`` been ended by a logout or a deactivation (that this node knows of)?"""
        if self._stale() and not (self._lock.locked() and self._loaded_at is not None):
            async with self._lock:  # one request re-reads; the others go on with what is known meanwhile
                if self._stale():
                    await self._refresh()
        return self.known.ends(session) or self.local.ends(session)

    async def revoke(self, session: Session) -> bool:
        """End ``session`` (a logout). True when recorded in the database (every node learns it);
        False on a read copy, where only this process knows (see the module's docstring)."""
        self.local.add(session.sid, session.user_id, time.time())
        if not self.writable:
            return await self._revoke_on_primary(session)
        async with self.pool.connection() as conn:
            await conn.execute(_INSERT_LOGOUT, (session.sid, session.user_id, self.node))
        return True

    async def _revoke_on_primary(self, session: Session) -> bool:
        if not self.primary_url:
            return False
        try:
            async with await psycopg.AsyncConnection.connect(self.primary_url, connect_timeout=2,
                                                             autocommit=True) as conn:
                await conn.execute(_INSERT_LOGOUT, (session.sid, session.user_id, self.node))
        except psycopg.Error as exc:  # the primary is down or refuses: this process knows, the others do not
            log.warning("logout of session %s kept on this read-copy process only: the primary did not take "
                        "it (%s)", session.sid, str(exc).strip()[:200])
            return False
        return True

    def _stale(self) -> bool:
        return self._loaded_at is None or self.clock() - self._loaded_at >= self.ttl

    async def _refresh(self) -> None:
        """Read rows newer than the newest seen (less an overlap); on a database error keep what is
        known and try again after ``ttl`` (the request's own queries meet the same error)."""
        try:
            async with self.pool.connection(timeout=_READ_TIMEOUT_SECONDS) as conn:
                if self._newest is None:
                    cur = await conn.execute(
                        "SELECT sid, user_id, extract(epoch FROM revoked_at)::float8 FROM session_revocation"
                        " WHERE revoked_at > now() - make_interval(secs => %s)", (self.lifetime,))
                else:
                    cur = await conn.execute(
                        "SELECT sid, user_id, extract(epoch FROM revoked_at)::float8 FROM session_revocation"
                        " WHERE revoked_at >= to_timestamp(%s)", (self._newest - _OVERLAP_SECONDS,))
                rows = await cur.fetchall()
        except (psycopg.Error, PoolTimeout) as exc:
            now = self.clock()
            if self._failing_since is None:
                self._failing_since = now
            if now - self._warned_at >= _WARN_EVERY_SECONDS:
                self._warned_at = now
                log.warning("could not read session revocations for %.0f s (keeping the %d known): %s",
                            now - self._failing_since, len(self.known.sids) + len(self.known.users), exc)
            self._loaded_at = now
            return
        if self._failing_since is not None:
            log.warning("session revocations readable again after %.0f s", self.clock() - self._failing_since)
            self._failing_since, self._warned_at = None, float("-inf")
        for sid, user_id, at in rows:
            self.known.add(sid, user_id, at)
            self._newest = at if self._newest is None else max(self._newest, at)
        if self._newest is not None:
            self.known.forget_before(self._newest - self.lifetime - _OVERLAP_SECONDS)
        self.local.forget_before(time.time() - self.lifetime)
        self._loaded_at = self.clock()
