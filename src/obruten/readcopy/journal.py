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

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from obruten.platform.auth import Session
from obruten.platform.errors import Forbidden, NeedsEmergencyAccess, NotFound
from obruten.readcopy.lag import LagTracker
from obruten.readcopy.spool import Position, Spool
from obruten.record import access, medication, patients, ward
from obruten.record.service import Journal, page_of

log = logging.getLogger("obruten.readcopy.journal")
LOCAL_BASIS = "emergency_read_copy"
# The medication list's query windows (administrations of the last 36 h, orders stopped in the last 7
# days) are counted from when it ran: ten minutes later its rows still hold every administration
# of today's dose slots (computed at each read); only the 7-day edge of Utsatta moves by minutes.
LIST_ROWS_SECONDS = 600.0


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


Changed = tuple[int | None, str | None, str | None]  # (patient, unit, table written)
Changes = Callable[[int | None], Awaitable[tuple[int, list[Changed]]]]
CHANGES_HORIZON_S = 600.0  # not looked for this long: drop everything (record_change keeps an hour)
BODY_SECONDS = 60.0  # a body whose content depends on the clock (an age, "the last 72 hours", a dose
#                      now due) is read again after this long even if nothing changed


async def changes_since(pool: AsyncConnectionPool, since: int | None) -> tuple[int, list[Changed]]:
    """The xmin of the standby's snapshot now, and the (patient, unit, table) named by the
    transactions visible in it whose xid is at least ``since`` (the xmin of the previous look):
    every transaction that became visible since then, and a few seen before (dropped twice). One
    statement, so the xmin and the rows come from one snapshot (schema 0080)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text, "
            "(SELECT json_agg(json_build_array(c.patient_id, c.unit_id, c.tbl)) FROM (SELECT DISTINCT patient_id, unit_id, tbl"
            "  FROM record_change WHERE %s::bigint IS NOT NULL AND xid >= %s::text::xid8) c)",
            (since, str(since) if since is not None else None))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0]), [(p, u, t) for p, u, t in (row[1] or [])]


class BodyCache:
    """Bodies (for at most ``BODY_SECONDS``) and recent access decisions. When the standby has
    replayed further (the replay LSN moved), ``changes`` says which patients and units the newly
    visible transactions touched and only their entries are dropped (a unit's entries only for a
    write to one of ``unit_tables``, the tables a ward list reads); without ``changes``, or when it
    fails or names a change not tied to a patient, everything is dropped. ``clock`` ages the
    decisions."""

    def __init__(self, lag: LagTracker, max_entries: int = 20_000,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), changes: Changes | None = None,
                 unit_tables: frozenset[str] = ward.WARD_LIST_TABLES) -> None:
        self.lag = lag
        self.unit_tables = unit_tables
        self.max_entries = max_entries
        self.clock = clock
        self.changes = changes
        self._lsn = ""
        self._xmin: int | None = None      # the snapshot xmin of the last look at the changes
        self._looked = 0.0                 # when (monotonic)
        self._lock = asyncio.Lock()
        # key -> (body, patient, unit, served until: monotonic seconds)
        self._bodies: OrderedDict[tuple[str, object], tuple[object, int | None, str | None, float]] = OrderedDict()
        self._by_patient: dict[int, set[tuple[str, object]]] = {}
        self._by_unit: dict[str, set[tuple[str, object]]] = {}
        self._access: dict[tuple[int, str, tuple[str, ...], int], access.Access] = {}
        self._access_by_patient: dict[int, set[tuple[int, str, tuple[str, ...], int]]] = {}
        self.hits = self.misses = self.kept = self.dropped = 0

    @property
    def entries(self) -> int:
        return len(self._bodies)

    async def _version(self) -> str:
        lsn = self.lag.current().replay_lsn
        if lsn != self._lsn:
            async with self._lock:
                if lsn != self._lsn:
                    await self._catch_up(lsn)
        return self._lsn

    async def _catch_up(self, lsn: str) -> None:
        if not lsn or self.changes is None:  # unknown position (standby unreachable): never cache, forget everything
            self._drop_all()
        else:
            since = self._xmin if time.monotonic() - self._looked < CHANGES_HORIZON_S else None
            try:
                xmin, changed = await self.changes(since)
            except Exception as exc:  # e.g. a journal of the release before (no record_change)
                log.warning("read copy cache: cannot read what changed (%s: %s); dropping it all",
                            type(exc).__name__, exc)
                self._drop_all()
                xmin = None
            else:
                if since is None:
                    self._drop_all()
                else:
                    self._drop(changed)
            self._xmin, self._looked = xmin, time.monotonic()
        self._lsn = lsn

    def _drop_all(self) -> None:
        self.dropped += len(self._bodies)
        self._bodies.clear()
        self._by_patient.clear()
        self._by_unit.clear()
        self._access.clear()
        self._access_by_patient.clear()

    def _drop(self, changed: list[Changed]) -> None:
        if any(patient is None for patient, _, _ in changed):
            self._drop_all()
            return
        before = len(self._bodies)
        for patient, unit, table in changed:
            for key in self._by_patient.pop(patient, ()):  # type: ignore[arg-type]
                self._forget(key)
            if unit and (table is None or table in self.unit_tables):
                for key in self._by_unit.pop(unit, ()):
                    self._forget(key)
            for decision in self._access_by_patient.pop(patient, ()):  # type: ignore[arg-type]
                self._access.pop(decision, None)
        self.dropped += before - len(self._bodies)
        self.kept += len(self._bodies)

    def _forget(self, key: tuple[str, object]) -> None:
        found = self._bodies.pop(key, None)
        if found is None:
            return
        _, patient, unit, _ = found
        if patient is not None:
            self._by_patient.get(patient, set()).discard(key)
        if unit is not None:
            self._by_unit.get(unit, set()).discard(key)

    async def get(self, key: tuple[str, object]) -> tuple[str, Any]:
        """(data version, cached body or None)."""
        version = await self._version()
        found = self._bodies.get(key) if version else None
        if found is None or time.monotonic() > found[3]:
            self.misses += 1
            return version, None
        self.hits += 1
        return version, found[0]

    def put(self, version: str, key: tuple[str, object], body: object, *, patient: int | None = None,
            unit: str | None = None, seconds: float | None = BODY_SECONDS) -> None:
        """Keep ``body``, read at ``version``, under ``key``; ``patient`` and ``unit``: what a change
        must name to drop it (a body with neither is dropped only with everything); ``seconds``:
        how long it may be served at most (None: its content does not depend on the clock)."""
        if not version or version != self._lsn:
            return  # the standby moved on while we queried: the next reader caches the newer version
        self._forget(key)
        self._bodies[key] = (body, patient, unit, math.inf if seconds is None else time.monotonic() + seconds)
        if patient is not None:
            self._by_patient.setdefault(patient, set()).add(key)
        if unit is not None:
            self._by_unit.setdefault(unit, set()).add(key)
        if len(self._bodies) > self.max_entries:
            self._forget(next(iter(self._bodies)))

    async def granted(self, session: Session, patient_id: int) -> access.Access | None:
        """The access this user (with this role and these units) was given to ``patient_id`` at the
        current data version, while it has not lapsed by the clock; None: ask the database."""
        await self._version()
        found = self._access.get((session.user_id, session.role, session.units, patient_id))
        if found is None or (found.until is not None and self.clock() >= found.until):
            return None
        return found

    def grant(self, version: str, session: Session, grant: access.Access) -> None:
        if not version or version != self._lsn:
            return
        if len(self._access) >= self.max_entries:
            self._access.clear()
            self._access_by_patient.clear()
        key = (session.user_id, session.role, session.units, grant.patient_id)
        self._access[key] = grant
        self._access_by_patient.setdefault(grant.patient_id, set()).add(key)


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

    async def _patient_read(self, session: Session, patient_id: int, kind: str,
                            fetch: Callable[[AsyncConnection], Awaitable[Any]],
                            seconds: float | None = BODY_SECONDS) -> tuple[Any, access.Access]:
        """A patient's cached ``kind`` body and the access decision, from the cache where they are
        there, else both from one connection (and cached for the next reader)."""
        assert self.cache is not None
        version, body = await self.cache.get((kind, patient_id))
        grant = await self.cache.granted(session, patient_id)
        if grant is None or body is None:
            async with self.pool.connection() as conn:
                if grant is None:
                    grant = await self._decide(conn, version, session, patient_id)
                if body is None:
                    body = await fetch(conn)
                    self.cache.put(version, (kind, patient_id), body, patient=patient_id, seconds=seconds)
        return body, grant

    async def overview_json(self, session: Session, patient_id: int, purpose: str = "vård") -> str:
        self.event(session, "read", patient_id, purpose, {})  # an unknown purpose is refused before the read
        body, grant = await self._patient_read(session, patient_id, "overview",
                                               lambda conn: patients.overview_json(conn, patient_id))
        await self.audit_action(session, "read", patient_id, purpose, view="overview", basis=grant.basis)
        return str(body)

    async def ward_list_json(self, session: Session, unit_id: str) -> str:
        if unit_id not in session.units:
            raise Forbidden(f"you do not work on unit {unit_id}")
        assert self.cache is not None
        version, body = await self.cache.get(("ward", unit_id))
        if body is None:
            async with self.pool.connection() as conn:
                await ward.unit(conn, unit_id)
                body = await ward.ward_list_json(conn, unit_id)
            self.cache.put(version, ("ward", unit_id), body, unit=unit_id)
        await self.audit_action(session, "read_ward_list", purpose="vård", unit=unit_id)
        return str(body)

    async def medication_list(self, session: Session, patient_id: int) -> dict:
        """The läkemedelslista: its rows cached until a change names the patient (and for at most
        ``LIST_ROWS_SECONDS``: the query's own windows are counted from when it ran), the dose slots
        and their states computed now, for every read."""
        self.event(session, "read", patient_id, "vård", {})
        rows, grant = await self._patient_read(session, patient_id, "medication_list",
                                               lambda conn: medication.list_rows(conn, patient_id), LIST_ROWS_SECONDS)
        found = medication.build_list(rows, datetime.now(UTC))
        await self.audit_action(session, "read", patient_id, "vård", view="medication_list", basis=grant.basis)
        return found

    async def administrations(self, session: Session, order_entry: UUID) -> tuple[dict, list[dict]]:
        """The order and its administrations (the medication page); one round trip at most, none
        when the order and the decision are cached. Readers must not change what they get."""
        assert self.cache is not None
        version, cached = await self.cache.get(("medication", order_entry))
        order, given = cached if cached is not None else (None, None)
        grant = await self.cache.granted(session, order["patient_id"]) if order is not None else None
        if grant is None:
            async with self.pool.connection() as conn:
                if order is None:
                    order = await medication.current_order(conn, order_entry)
                grant = await self._decide(conn, version, session, order["patient_id"], entry=True)
                if given is None:
                    given = await medication.administrations(conn, order_entry)
                    self.cache.put(version, ("medication", order_entry), (order, given), patient=order["patient_id"],
                                   seconds=None)
        assert order is not None and given is not None
        await self.audit_action(session, "read", grant.patient_id, "vård", view="administrations",
                                entry=str(order_entry))
        return order, given

    async def medication_page(self, session: Session, order_entry: UUID) -> dict:
        """The administration page from the same cached parts as the reads above (the order with
        its administrations, the list's rows, the banner); one round trip at most, one audit event."""
        assert self.cache is not None
        version, cached = await self.cache.get(("medication", order_entry))
        order, given = cached if cached is not None else (None, None)
        patient_id = order["patient_id"] if order is not None else None
        rows = (await self.cache.get(("medication_list", patient_id)))[1] if patient_id is not None else None
        banner = (await self.cache.get(("banner", patient_id)))[1] if patient_id is not None else None
        grant = await self.cache.granted(session, patient_id) if patient_id is not None else None
        if grant is None or rows is None or banner is None:
            async with self.pool.connection() as conn:
                if order is None:
                    order = await medication.current_order(conn, order_entry)
                if grant is None:
                    grant = await self._decide(conn, version, session, order["patient_id"], entry=True)
                if given is None:
                    given = await medication.administrations(conn, order_entry)
                    self.cache.put(version, ("medication", order_entry), (order, given), patient=order["patient_id"],
                                   seconds=None)
                if rows is None:
                    rows = await medication.list_rows(conn, grant.patient_id)
                    self.cache.put(version, ("medication_list", grant.patient_id), rows,
                                   patient=grant.patient_id, seconds=LIST_ROWS_SECONDS)
                if banner is None:
                    banner = await patients.banner(conn, grant.patient_id)
                    self.cache.put(version, ("banner", grant.patient_id), banner, patient=grant.patient_id)
        assert order is not None and given is not None
        await self.audit_action(session, "read", grant.patient_id, "vård", view="medication_page",
                                entry=str(order_entry), basis=grant.basis)
        return page_of(order, given, rows, banner)

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
