"""The journal on a read copy: the same reads, audited to the spool; local emergency access; bodies
cached per data version.

Emergency access (see docs/adr/0022-read-copy-emergency-access.md): a standby cannot insert into
``emergency_access``, so the grant is an audit event in the spool (reason, expiry, ``local``) and
the read copy honours it until it expires. Every worker process of the node finds grants made by
the others by reading the spool's new lines. Shipped to the primary, the grant is in the access log
(and reviewed there) but gives no access on the primary.

Cache: the overview and ward-list JSON cannot change until the standby replays more WAL, so they
are cached under (key, replay LSN). The access check and the audit event still happen for every
read; only the body query is saved.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from psycopg import AsyncConnection

from obruten.platform.auth import Session
from obruten.platform.errors import Forbidden, NeedsEmergencyAccess, NotFound
from obruten.readcopy.lag import LagTracker
from obruten.readcopy.spool import Position, Spool
from obruten.record import access, patients, ward
from obruten.record.service import Journal

LOCAL_BASIS = "emergency_read_copy"


class LocalGrants:
    """Emergency accesses granted on this node, found in the spool (shared by its worker processes)."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._until: dict[tuple[int, int], datetime] = {}
        self._seen = Position()

    def _scan(self) -> None:
        for spooled in self.spool.events(self._seen):
            e = spooled.event
            if e.action == "emergency_access" and e.detail.get("local") and e.actor_id and e.patient_id:
                expires = datetime.fromisoformat(str(e.detail["expires_at"]))
                key = (e.actor_id, e.patient_id)
                self._until[key] = max(expires, self._until.get(key, expires))
            self._seen = spooled.end

    def active(self, user_id: int, patient_id: int, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        if self._until.get((user_id, patient_id), now) > now:
            return True
        self._scan()
        return self._until.get((user_id, patient_id), now) > now


class BodyCache:
    """JSON bodies keyed by (key, replay LSN); emptied whenever the standby replays further."""

    def __init__(self, lag: LagTracker, max_entries: int = 20_000) -> None:
        self.lag = lag
        self.max_entries = max_entries
        self._lsn = ""
        self._bodies: OrderedDict[tuple[str, object], str] = OrderedDict()
        self.hits = self.misses = 0

    def _version(self) -> str:
        lsn = self.lag.current().replay_lsn
        if lsn != self._lsn:
            self._bodies.clear()
            self._lsn = lsn
        return lsn

    def get(self, key: tuple[str, object]) -> tuple[str, str | None]:
        """(data version, cached body or None)."""
        version = self._version()
        body = self._bodies.get(key) if version else None
        if body is None:
            self.misses += 1
        else:
            self.hits += 1
        return version, body

    def put(self, version: str, key: tuple[str, object], body: str) -> None:
        if not version or version != self._lsn:
            return  # the standby moved on while we queried: the next reader caches the newer version
        self._bodies[key] = body
        if len(self._bodies) > self.max_entries:
            self._bodies.popitem(last=False)


@dataclass
class ReadCopyJournal(Journal):
    grants: LocalGrants | None = None
    cache: BodyCache | None = None
    _unit_ids: set[str] = field(default_factory=set)

    async def _require_read(self, conn: AsyncConnection, session: Session, patient_id: int) -> access.Access:
        try:
            return await super()._require_read(conn, session, patient_id)
        except NeedsEmergencyAccess:
            if self.grants is not None and self.grants.active(session.user_id, patient_id):
                return access.Access(patient_id, LOCAL_BASIS)
            raise

    async def overview_json(self, session: Session, patient_id: int, purpose: str = "vård") -> str:
        self.event(session, "read", patient_id, purpose, {})  # an unknown purpose is refused before the read
        assert self.cache is not None
        version, body = self.cache.get(("overview", patient_id))
        async with self.pool.connection() as conn:
            grant = await self._require_read(conn, session, patient_id)
            if body is None:
                body = await patients.overview_json(conn, patient_id)
                self.cache.put(version, ("overview", patient_id), body)
        await self.audit_action(session, "read", patient_id, purpose, view="overview", basis=grant.basis)
        return body

    async def ward_list_json(self, session: Session, unit_id: str) -> str:
        if unit_id not in session.units:
            raise Forbidden(f"you do not work on unit {unit_id}")
        assert self.cache is not None
        version, body = self.cache.get(("ward", unit_id))
        if body is None:
            async with self.pool.connection() as conn:
                await ward.unit(conn, unit_id)
                body = await ward.ward_list_json(conn, unit_id)
            self.cache.put(version, ("ward", unit_id), body)
        await self.audit_action(session, "read_ward_list", purpose="vård", unit=unit_id)
        return body

    async def grant_emergency(self, session: Session, patient_id: int, reason: str) -> dict:
        reason = access.emergency_reason(session, reason)
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT 1 FROM patient WHERE id = %s", (patient_id,))
            if await cur.fetchone() is None:
                raise NotFound(f"no patient {patient_id}")
        now = datetime.now(UTC)
        expires = now + timedelta(hours=self.emergency_hours)
        # the spooled event IS the grant: durable before the record opens, shipped with the other reads
        await self.audit_action(session, "emergency_access", patient_id, "nödåtkomst", reason=reason,
                                expires_at=expires.isoformat(), local=True)
        return {"staff_id": session.user_id, "patient_id": patient_id, "reason": reason, "granted_at": now,
                "expires_at": expires, "granted_on": self.node, "local": True}
