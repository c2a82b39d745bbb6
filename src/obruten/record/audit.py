"""The audit log: who read or changed which patient's record, when and why.

A write and its audit event are one transaction: ``append_chained`` links the event into the chain
inside the write's own transaction, so an acknowledged write always has its event and a write
whose event cannot be written leaves nothing. Reads (and logins) go through one writer with
pluggable sinks: ``AuditWriter.record`` returns only once the event is durable, so a record is
never shown without its read being logged (fail closed). Concurrent events are grouped into one
batch per write (group commit); when a batch fails, its events are retried one by one, so one
request's event can never fail another request's audit. The database sink chains every event to the previous
one: ``hash = sha256(prev_hash || canonical(event))``; ``verify`` recomputes the chain. A later
sink writes a local spool file on a read-only node (same event, same chain rule).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool

from obruten.platform.errors import ObrutenError

GENESIS = b"\x00" * 32

# Why a record was opened or changed: an enumerated value, never free text (a reason given by the
# user, e.g. for emergency access or a reserve-routine override, goes in ``detail["reason"]``).
PURPOSES = {
    "vård": "care of the patient",
    "nödåtkomst": "emergency access (a stated reason is in detail)",
    "administration": "administration of accounts, units and the system",
    "tillsyn": "review of access logs",
    "efterregistrering": "registration of downtime documentation",
    "system": "events of the system and its agents (logins, deliveries)",
}
_CHAIN_LOCK = 0x0B5C_A0D1  # advisory lock held while a batch is linked into the chain


@dataclass(frozen=True)
class AuditEvent:
    actor: str
    action: str  # read, emergency_access, write, login, login_failed, read_access_log …
    actor_id: int | None = None
    patient_id: int | None = None
    purpose: str = "system"
    detail: dict[str, str | int | bool | None] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    node: str = "journal"
    source_seq: int | None = None

    def canonical(self) -> bytes:
        """The bytes the chain hashes: stable across a round trip through the database."""
        body = {
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "node": self.node, "source_seq": self.source_seq, "actor_id": self.actor_id,
            "actor": self.actor, "action": self.action, "patient_id": self.patient_id,
            "purpose": self.purpose, "detail": self.detail,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: bytes, event: AuditEvent) -> bytes:
    return hashlib.sha256(prev_hash + event.canonical()).digest()


class AuditSink(Protocol):
    """Makes a batch of events durable, in order, chained; raises if it cannot."""

    async def append(self, events: Sequence[AuditEvent]) -> None: ...


def check_purpose(purpose: str) -> str:
    """``purpose`` if it is one of ``PURPOSES``; raises ValueError naming the allowed ones."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of: {', '.join(PURPOSES)}")
    return purpose


async def append_chained(conn: psycopg.AsyncConnection, events: Sequence[AuditEvent]) -> None:
    """Link ``events`` into the chain inside the caller's transaction: they commit with it or not
    at all. Takes the chain lock until that transaction ends, so call it last, just before commit."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CHAIN_LOCK,))
    cur = await conn.execute("SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1")
    row = await cur.fetchone()
    prev = bytes(row[0]) if row else GENESIS
    rows = []
    for event in events:
        digest = link(prev, event)
        rows.append((event.at, event.node, event.source_seq, event.actor_id, event.actor,
                     event.action, event.patient_id, event.purpose, json.dumps(event.detail),
                     prev, digest))
        prev = digest
    async with conn.cursor() as cur2:
        await cur2.executemany(
            "INSERT INTO audit_event (at, node, source_seq, actor_id, actor, action, patient_id,"
            " purpose, detail, prev_hash, hash) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows)


class DatabaseSink:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def append(self, events: Sequence[AuditEvent]) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await append_chained(conn, events)


class AuditWriter:
    """Group commit: events recorded while a batch is being written go into the next batch."""

    def __init__(self, sink: AuditSink, max_batch: int = 1000) -> None:
        self.sink = sink
        self.max_batch = max_batch
        self._pending: list[tuple[AuditEvent, asyncio.Future[None]]] = []
        self._flushing = False

    @property
    def queued(self) -> int:
        """Events waiting for the next flush (a figure for /metrics)."""
        return len(self._pending)

    async def record(self, event: AuditEvent) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((event, future))
        if not self._flushing:
            self._flushing = True
            asyncio.ensure_future(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
                try:
                    await self.sink.append([event for event, _ in batch])
                except Exception as exc:
                    if len(batch) == 1:  # the waiting request learns the log failed
                        _settle(batch[0][1], AuditUnavailable(str(exc)))
                        continue
                    # one event's data (or a passing fault) must not fail the others: one by one
                    for event, future in batch:
                        try:
                            await self.sink.append([event])
                        except Exception as single:
                            _settle(future, AuditUnavailable(str(single)))
                        else:
                            _settle(future, None)
                    continue
                for _, future in batch:
                    _settle(future, None)
        finally:
            self._flushing = False


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class AuditUnavailable(ObrutenError, RuntimeError):
    """The audit log could not be written, so the read is refused (fail closed)."""


@dataclass
class VerifyResult:
    events: int
    ok: bool
    first_bad_id: int | None = None
    problem: str = ""
    last_id: int | None = None  # the newest event verified
    last_at: datetime | None = None
    hashes: dict[int, bytes] = field(default_factory=dict)  # of the ids asked for that exist


def verify_rows(rows: Iterable[tuple], watch: Collection[int] = ()) -> VerifyResult:
    """Rows: (id, at, node, source_seq, actor_id, actor, action, patient_id, purpose, detail, prev, hash).
    The hashes of the ids in ``watch`` are kept (for checking anchors, ``record.audit_anchor``)."""
    prev = GENESIS
    count = 0
    hashes: dict[int, bytes] = {}
    last_id: int | None = None
    last_at: datetime | None = None
    for (row_id, at, node, source_seq, actor_id, actor, action, patient_id, purpose, detail,
         prev_hash, digest) in rows:
        count += 1
        event = AuditEvent(actor=actor, action=action, actor_id=actor_id, patient_id=patient_id,
                           purpose=purpose, detail=detail, at=at, node=node, source_seq=source_seq)
        if bytes(prev_hash) != prev:
            return VerifyResult(count, False, row_id, "link to the previous event is broken "
                                "(an event was removed or inserted)", last_id, last_at, hashes)
        if link(prev, event) != bytes(digest):
            return VerifyResult(count, False, row_id, "event content does not match its hash (it was altered)",
                                last_id, last_at, hashes)
        prev = bytes(digest)
        last_id, last_at = row_id, at
        if row_id in watch:
            hashes[row_id] = prev
    return VerifyResult(count, True, last_id=last_id, last_at=last_at, hashes=hashes)


def verify(url: str, watch: Collection[int] = ()) -> VerifyResult:
    """Recompute the whole chain from the database (streams; constant memory beyond ``watch``)."""
    with psycopg.connect(url) as conn, conn.cursor(name="audit_verify") as cur:
        cur.itersize = 5000
        cur.execute("SELECT id, at, node, source_seq, actor_id, actor, action, patient_id, purpose,"
                    " detail, prev_hash, hash FROM audit_event ORDER BY id")
        return verify_rows(cur, watch)
