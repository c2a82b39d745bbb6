"""Ship a read copy's spooled audit events into the primary's ``audit_event``, exactly once.

One shipping pass:

1. take ``ship.lock`` in the spool directory (one shipper per node, whatever runs it);
2. ask the primary for its high-water mark ``max(source_seq)`` for this node -- the primary is the
   truth; the local cursor (``shipped.json``) only saves re-reading the file from the start;
3. read the spool from the cursor, checking its chain (a tampered spool is never shipped);
4. insert events above the high-water mark in batches through ``DatabaseSink`` -- each batch is one
   transaction under the chain lock, linked into the primary's own hash chain;
5. after each commit, durably move the cursor.

A crash anywhere leaves either a committed batch (the next pass sees it in the high-water mark and
skips it) or none. Two shippers racing past the lock would still collide on
``UNIQUE (node, source_seq)``: the losing batch rolls back whole, and the pass re-reads the mark.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from obruten.platform.progress import Say
from obruten.platform.rows import one
from obruten.readcopy.spool import SPOOL_FILE, Position, SpoolError, load_cursor, read_events, save_cursor
from obruten.record.audit import DatabaseSink

LOCK_FILE = "ship.lock"


class PrimaryNotWritable(SpoolError):
    """The primary is unreachable or still a standby; shipping waits."""


class ShipperBusy(SpoolError):
    """Another process is shipping this spool right now."""


@dataclass(frozen=True)
class ShipResult:
    node: str
    shipped: int
    skipped: int  # already in the primary (shipped before a crash moved the cursor)
    last_seq: int

    @property
    def sentence(self) -> str:
        if not self.shipped and not self.skipped:
            return f"audit spool {self.node}: nothing to ship (up to event {self.last_seq} is in the primary)"
        return (f"audit spool {self.node}: shipped {self.shipped} events to the primary"
                + (f", skipped {self.skipped} already there" if self.skipped else "")
                + f"; the primary has every event up to {self.last_seq}")


class _ShipLock:
    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self.fd = -1

    def __enter__(self) -> _ShipLock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self.fd)
            raise ShipperBusy(f"another shipper is already shipping {self.path.parent}; "
                             "wait for it to finish") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


async def _high_water(pool: AsyncConnectionPool, node: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT pg_is_in_recovery(), (SELECT max(source_seq) FROM audit_event"
                                 " WHERE node = %s)", (node,))
        recovery, mark = one(await cur.fetchone())
    if recovery:
        raise PrimaryNotWritable("the primary URL points at a standby (in recovery); ship when it is promoted "
                                 "or point --primary-url at the writable primary")
    return int(mark or 0)


async def ship(directory: Path, primary_url: str, batch: int = 500, say: Say = lambda _: None,
               pause: float = 0.0) -> ShipResult:
    """One pass: ship everything in ``directory``'s spool the primary lacks. ``pause`` (seconds between
    batches) is for tests that kill the shipper mid-pass."""
    node = directory.name
    if not (directory / SPOOL_FILE).exists():
        raise SpoolError(f"no audit spool in {directory}; give the spool directory of a read copy "
                         "(var_dir/spool/<node>)")
    with _ShipLock(directory):
        try:
            pool = AsyncConnectionPool(primary_url, min_size=1, max_size=1, open=False,
                                       kwargs={"options": "-c TimeZone=UTC", "connect_timeout": 5})
            await pool.open(wait=True, timeout=10)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise PrimaryNotWritable(f"cannot reach the primary ({type(exc).__name__}); the spool keeps "
                                     "every event until it can") from exc
        try:
            return await _ship(directory, node, pool, batch, say, pause)
        except psycopg.OperationalError as exc:
            raise PrimaryNotWritable(f"lost the primary while shipping ({exc}); shipping resumes from the "
                                     "primary's high-water mark next time") from exc
        finally:
            await pool.close()


async def _ship(directory: Path, node: str, pool: AsyncConnectionPool, batch: int, say: Say,
                pause: float) -> ShipResult:
    sink = DatabaseSink(pool)
    mark = await _high_water(pool, node)
    cursor = load_cursor(directory)
    if cursor.seq > mark:  # the primary lost shipped events (restored from a backup?): start over
        say(f"the primary has events up to {mark} but the cursor says {cursor.seq}; re-reading the spool")
        cursor = Position()
    shipped = skipped = 0
    pending: list = []
    position = cursor
    for spooled in read_events(directory / SPOOL_FILE, cursor, node):
        if spooled.seq <= mark:
            skipped += 1
            position = spooled.end
            continue
        pending.append(spooled)
        if len(pending) >= batch:
            position, mark, n = await _commit(sink, pool, directory, node, pending, position, mark)
            shipped += n
            say(f"shipped up to event {position.seq}")
            pending = []
            if pause:
                await asyncio.sleep(pause)
    if pending:
        position, mark, n = await _commit(sink, pool, directory, node, pending, position, mark)
        shipped += n
    if position != cursor:
        save_cursor(directory, position)
    return ShipResult(node, shipped, skipped, max(mark, position.seq))


async def _commit(sink: DatabaseSink, pool: AsyncConnectionPool, directory: Path, node: str, pending: list,
                  position: Position, mark: int) -> tuple[Position, int, int]:
    try:
        await sink.append([s.event for s in pending])
    except psycopg.errors.UniqueViolation:
        mark = await _high_water(pool, node)  # someone else shipped part of it: keep only the rest
        rest = [s for s in pending if s.seq > mark]
        if rest:
            await sink.append([s.event for s in rest])
        position = pending[-1].end
        save_cursor(directory, position)
        return position, max(mark, position.seq), len(rest)
    position = pending[-1].end
    save_cursor(directory, position)
    return position, position.seq, len(pending)


async def ship_forever(directory: Path, primary_url: str, say: Say, interval: float = 5.0) -> None:
    """The read copy's background shipper: a pass every ``interval`` seconds. It says what it shipped,
    and says a failure once (not every pass) until the failure changes."""
    last_failure = ""
    while True:
        failure = ""
        try:
            if (directory / SPOOL_FILE).exists():
                result = await ship(directory, primary_url)
                if result.shipped:
                    say(result.sentence)
        except ShipperBusy:
            failure = last_failure  # another worker process of this node ships this pass
        except SpoolError as exc:
            failure = str(exc)
        except Exception as exc:  # noqa: BLE001 - unknown failure: report it and keep looping
            failure = f"audit shipping failed unexpectedly ({type(exc).__name__}: {exc}); retrying"
        if failure and failure != last_failure:
            say(failure)
        elif last_failure and not failure:
            say(f"audit shipping of {directory.name} works again")
        last_failure = failure
        await asyncio.sleep(interval)
