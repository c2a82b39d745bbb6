"""The journal on a read copy: the same reads, audited to the spool; local emergency access; bodies
cached per data version.

Emergency access (see docs/adr/0022-read-copy-emergency-access.md): a standby cannot insert into
``emergency_access``, so the grant is an audit event in the spool (reason, expiry, ``local``) and
the read copy honours it until it expires. Every worker process of the node finds grants made by
the others by reading the spool's new lines. Shipped to the primary, the grant is in the access log
(and reviewed there) but gives no access on the primary.

Cache: the overview and ward-list JSON and a medication order with its administrations cannot
change until the standby replays more WAL, so they are cached under (key, replay LSN): nothing is
served older than the replay position the banner shows. Every read is still access-checked and
audited before it is answered. The access decision (this user, role and units for this patient) is
a function of the data and the clock: it is kept at one replay position until the moment it would
lapse by the clock alone (``Access.until``: 30 days after the discharge, the emergency access's
expiry), so it is exactly what the database would answer. A refusal is never kept. A read whose
body and decision are both known costs no database round trip, only the audit event's
group-committed fsync.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from obruten.platform.auth import Session
from obruten.platform.errors import Forbidden, NeedsEmergencyAccess, NotFound
from obruten.readcopy.lag import LagTracker
from obruten.readcopy.spool import Position, Spool
from obruten.record import access, medication, patients, ward
from obruten.record.service import Journal

LOCAL_BASIS = "emergency_read_copy"
LIST_ROWS_SECONDS = 60.0  # the medication list's query windows (36 h, 7 days) are counted from its run


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
        return self.until(user_id, patient_id, now) is not None

    def until(self, user_id: int, patient_id: int, now: datetime | None = None) -> datetime | None:
        """When this user's local emergency access to the patient expires; None: it has none now."""
        now = now or datetime.now(UTC)
        if self._until.get((user_id, patient_id), now) <= now:
            self._scan()
        expires = self._until.get((user_id, patient_id), now)
        return expires if expires > now else None


class BodyCache:
    """Bodies keyed by (key, replay LSN) and recent access decisions; emptied whenever the standby
    replays further. ``clock`` (monotonic seconds) ages the decisions."""

    def __init__(self, lag: LagTracker, max_entries: int = 20_000,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.lag = lag
        self.max_entries = max_entries
        self.clock = clock
        self._lsn = ""
        self._bodies: OrderedDict[tuple[str, object], object] = OrderedDict()
        self._access: dict[tuple[int, str, tuple[str, ...], int], access.Access] = {}
        self.hits = self.misses = 0

    def _version(self) -> str:
        lsn = self.lag.current().replay_lsn
        if lsn != self._lsn:
            self._bodies.clear()
            self._access.clear()
            self._lsn = lsn
        return lsn

    def get(self, key: tuple[str, object]) -> tuple[str, Any]:
        """(data version, cached body or None)."""
        version = self._version()
        body = self._bodies.get(key) if version else None
        if body is None:
            self.misses += 1
        else:
            self.hits += 1
        return version, body

    def put(self, version: str, key: tuple[str, object], body: object) -> None:
        if not version or version != self._lsn:
            return  # the standby moved on while we queried: the next reader caches the newer version
        self._bodies[key] = body
        if len(self._bodies) > self.max_entries:
            self._bodies.popitem(last=False)

    def granted(self, session: Session, patient_id: int) -> access.Access | None:
        """The access this user (with this role and these units) was given to ``patient_id`` at the
        current replay position, while it has not lapsed by the clock; None: ask the database."""
        self._version()
        found = self._access.get((session.user_id, session.role, session.units, patient_id))
        if found is None or (found.until is not None and self.clock() >= found.until):
            return None
        return found

    def grant(self, version: str, session: Session, grant: access.Access) -> None:
        if not version or version != self._lsn:
            return
        if len(self._access) >= self.max_entries:
            self._access.clear()
        self._access[(session.user_id, session.role, session.units, grant.patient_id)] = grant


@dataclass
class ReadCopyJournal(Journal):
    grants: LocalGrants | None = None
    cache: BodyCache | None = None
    _unit_ids: set[str] = field(default_factory=set)

    async def _require_read(self, conn: AsyncConnection, session: Session, patient_id: int) -> access.Access:
        try:
            return await super()._require_read(conn, session, patient_id)
        except NeedsEmergencyAccess:
            expires = self.grants.until(session.user_id, patient_id) if self.grants is not None else None
            if expires is not None:
                return access.Access(patient_id, LOCAL_BASIS, expires)
            raise

    async def _decide(self, conn: AsyncConnection, version: str, session: Session, patient_id: int,
                      entry: bool = False) -> access.Access:
        grant = await (self._require_read_entry if entry else self._require_read)(conn, session, patient_id)
        assert self.cache is not None
        self.cache.grant(version, session, grant)
        return grant

    async def overview_json(self, session: Session, patient_id: int, purpose: str = "vård") -> str:
        self.event(session, "read", patient_id, purpose, {})  # an unknown purpose is refused before the read
        assert self.cache is not None
        version, body = self.cache.get(("overview", patient_id))
        grant = self.cache.granted(session, patient_id)
        if grant is None or body is None:
            async with self.pool.connection() as conn:
                if grant is None:
                    grant = await self._decide(conn, version, session, patient_id)
                if body is None:
                    body = await patients.overview_json(conn, patient_id)
                    self.cache.put(version, ("overview", patient_id), body)
        await self.audit_action(session, "read", patient_id, purpose, view="overview", basis=grant.basis)
        return str(body)

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
        return str(body)

    async def medication_list(self, session: Session, patient_id: int) -> dict:
        """The läkemedelslista: its rows cached per replay position (for at most
        ``LIST_ROWS_SECONDS``: the query's own windows are counted from when it ran), the dose slots
        and their states computed now, for every read."""
        self.event(session, "read", patient_id, "vård", {})
        assert self.cache is not None
        version, cached = self.cache.get(("medication_list", patient_id))
        rows = cached[1] if cached is not None and time.monotonic() - cached[0] < LIST_ROWS_SECONDS else None
        grant = self.cache.granted(session, patient_id)
        if grant is None or rows is None:
            async with self.pool.connection() as conn:
                if grant is None:
                    grant = await self._decide(conn, version, session, patient_id)
                if rows is None:
                    rows = await medication.list_rows(conn, patient_id)
                    self.cache.put(version, ("medication_list", patient_id), (time.monotonic(), rows))
        found = medication.build_list(rows, datetime.now(UTC))
        await self.audit_action(session, "read", patient_id, "vård", view="medication_list", basis=grant.basis)
        return found

    async def administrations(self, session: Session, order_entry: UUID) -> tuple[dict, list[dict]]:
        """The order and its administrations (the medication page); one round trip at most, none
        when the order and the decision are cached. Readers must not change what they get."""
        assert self.cache is not None
        version, cached = self.cache.get(("medication", order_entry))
        order, given = cached if cached is not None else (None, None)
        grant = self.cache.granted(session, order["patient_id"]) if order is not None else None
        if grant is None:
            async with self.pool.connection() as conn:
                if order is None:
                    order = await medication.current_order(conn, order_entry)
                grant = await self._decide(conn, version, session, order["patient_id"], entry=True)
                if given is None:
                    given = await medication.administrations(conn, order_entry)
                    self.cache.put(version, ("medication", order_entry), (order, given))
        assert order is not None and given is not None
        await self.audit_action(session, "read", grant.patient_id, "vård", view="administrations",
                                entry=str(order_entry))
        return order, given

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
