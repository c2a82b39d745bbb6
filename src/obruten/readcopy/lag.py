"""How far behind the primary the read copy is, refreshed at most once a second per process.

The rule (also in docs/operations.md, "Läskopian"):

* The copy is **current** when its WAL receiver is streaming and everything it has received is
  replayed (``pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()``). An idle primary writes
  nothing, so the last replayed commit may be an hour old while the copy misses nothing: then the
  data is "as of now", lag 0.
* Otherwise the data is as of the later of the last replayed commit
  (``pg_last_xact_replay_timestamp()``) and the last moment this process saw the copy current;
  the lag is the time since then. So when the primary dies (no receiver), the lag grows from the
  moment the copy last knew it was complete -- we cannot know what the primary wrote after that.
* A database that is not in recovery (a promoted copy, or pointed at a primary) is current.
* If the copy cannot be asked at all, the last answer is kept and its age is added to the lag.

``stale`` is lag > ``stale_after`` seconds; the banner turns red.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from obruten.platform.rows import one

_QUERY = """
SELECT pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text,
       pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(),
       pg_last_xact_replay_timestamp(),
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'),
       now()
"""


@dataclass(frozen=True)
class Lag:
    as_of: datetime
    lag_seconds: float
    stale: bool
    replay_lsn: str  # the data version: bodies cached under it cannot change until it moves
    streaming: bool
    reachable: bool = True

    def as_json(self) -> dict[str, object]:
        return {"as_of": self.as_of.isoformat(), "lag_seconds": round(self.lag_seconds, 1), "stale": self.stale,
                "replay_lsn": self.replay_lsn, "streaming": self.streaming, "reachable": self.reachable}


def decide(recovery: bool, caught_up: bool | None, replay_ts: datetime | None, streaming: bool, now: datetime,
           last_current: datetime | None) -> tuple[datetime, bool]:
    """(as_of, copy is current now) from one observation; see the module docstring."""
    if not recovery or (streaming and caught_up):
        return now, True
    candidates = [t for t in (replay_ts, last_current) if t is not None]
    return (max(candidates) if candidates else datetime.fromtimestamp(0, UTC)), False


class LagTracker:
    def __init__(self, pool: AsyncConnectionPool, stale_after: float = 60.0, every: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pool = pool
        self.stale_after = stale_after
        self.every = every
        self.clock = clock
        self._last: Lag | None = None
        self._observed_at = 0.0
        self._last_current: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._refreshing: asyncio.Future[Lag] | None = None

    async def refresh(self) -> Lag:
        """Ask the standby now (concurrent callers share one query)."""
        if self._refreshing is not None:
            return await asyncio.shield(self._refreshing)
        self._refreshing = asyncio.get_running_loop().create_future()
        try:
            lag = await self._observe()
            self._refreshing.set_result(lag)
            return lag
        except BaseException as exc:
            self._refreshing.set_exception(exc)
            self._refreshing.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            self._refreshing = None

    async def _observe(self) -> Lag:
        try:
            async with self.pool.connection(timeout=2) as conn:
                cur = await conn.execute(_QUERY)
                recovery, lsn, caught_up, replay_ts, streaming, now = one(await cur.fetchone())
        except Exception:  # noqa: BLE001 - the standby itself is unreachable: age the last answer
            return self._unreachable()
        as_of, current = decide(recovery, caught_up, replay_ts, streaming, now, self._last_current)
        if current:
            self._last_current = now
        lag_seconds = max(0.0, (now - as_of).total_seconds())
        self._last = Lag(as_of, lag_seconds, lag_seconds > self.stale_after, lsn or "", bool(streaming))
        self._observed_at = self.clock()
        return self._last

    def _unreachable(self) -> Lag:
        if self._last is None:
            return Lag(datetime.fromtimestamp(0, UTC), float("inf"), True, "", False, reachable=False)
        age = self.clock() - self._observed_at
        lag = self._last.lag_seconds + age
        return Lag(self._last.as_of, lag, lag > self.stale_after, self._last.replay_lsn, False, reachable=False)

    def current(self) -> Lag:
        """The latest answer, aged by the time since it was taken (never queries)."""
        if self._last is None:
            return self._unreachable()
        age = max(0.0, self.clock() - self._observed_at)
        if age <= self.every * 2:
            return self._last
        lag = self._last.lag_seconds + age  # the refresher stalled: do not pretend the answer is fresh
        return Lag(self._last.as_of, lag, lag > self.stale_after, self._last.replay_lsn, self._last.streaming,
                   self._last.reachable)

    async def _loop(self) -> None:
        while True:
            await self.refresh()  # never raises for an unreachable standby: that is an aged answer
            await asyncio.sleep(self.every)

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
