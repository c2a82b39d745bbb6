"""Kits fresh within a minute: rebuild a unit's kit when something in it changes.

Every write that changes what a unit's kit holds notifies ``obruten_kit`` with the unit id (a
statement trigger on each table a kit reads, migration 0060: one place, every write path). The
``Rebuilder`` LISTENs on the primary (a standby cannot LISTEN), gathers the units named within
``debounce_s`` of the first notification, and rebuilds just those (in this process, or on ``workers`` processes when several are due), from the read
URL (the read copy when there is one: it first waits, at most ``replay_wait_s``, until the read copy
has replayed what the primary had written when the notifications arrived). A connection lost is
retried every few seconds; the periodic full rebuild (``wardkit run``) catches anything missed
while the listener was away.

The region's status message is printed on every page of every kit, and it lives in this node's
status ledger, not in the database: the listener looks at the ledger (a stat, re-read only when the
file changed) each second, and a new version rebuilds every unit (``only``, when given).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from obruten.platform.signing import SigningKey
from obruten.status.ledger import Ledger
from obruten.wardkit import content
from obruten.wardkit.build import KEEP_PER_UNIT, Built, _build_chunk, _init_worker, build_unit, signing_key

CHANNEL = "obruten_kit"
log = logging.getLogger("obruten.wardkit.listen")


@dataclass
class Rebuilder:
    listen_url: str
    read_url: str
    var_dir: Path
    keep: int = KEEP_PER_UNIT
    debounce_s: float = 1.0
    replay_wait_s: float = 5.0
    retry_s: float = 3.0
    on_built: Callable[[Built | tuple[str, str]], None] | None = None
    only: frozenset[str] | None = None   # rebuild only these units (``wardkit run --unit``)
    workers: int = 1                      # > 1: a batch of several units is built on that many processes
    rebuilt: int = 0
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    status_rebuilds: int = 0              # times a new status message rebuilt every unit
    _key: SigningKey | None = None
    _pool: ProcessPoolExecutor | None = None
    _ledger: Ledger | None = None
    _status_version: int | None = None
    _status_due: bool = False

    async def run(self, stop: asyncio.Event) -> None:
        """Listen and rebuild until ``stop`` is set; reconnect after a lost connection."""
        self._key = signing_key(self.var_dir)
        self._ledger = Ledger(self.var_dir)
        self._status_version = self._status_now()
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("forkserver"),
                                             initializer=_init_worker,
                                             initargs=(self.read_url, str(self.var_dir), self.keep))
        try:
            while not stop.is_set():
                try:
                    await self._session(stop)
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    self.listening.clear()
                    log.warning("kit listener lost its database connection (%s); retrying in %.0f s; the periodic "
                                "rebuild keeps the kits fresh meanwhile", exc, self.retry_s)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.retry_s)
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None

    async def _session(self, stop: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(self.listen_url, autocommit=True, connect_timeout=10) as lc, \
                await psycopg.AsyncConnection.connect(self.read_url, autocommit=True, connect_timeout=10) as rc:
            await lc.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            while not stop.is_set():
                units = await self._gather(lc, stop)
                if self._status_due:
                    self._status_due = False
                    self.status_rebuilds += 1
                    every = await content.unit_ids(rc)
                    units |= {u for u in every if self.only is None or u in self.only}
                    log.info("status message version %s: rebuilding %d kits", self._status_version, len(units))
                if units:
                    await self._wait_for_replay(lc, rc)
                    await self._rebuild(rc, sorted(units))

    async def _gather(self, conn: psycopg.AsyncConnection, stop: asyncio.Event) -> set[str]:
        """The units named from the first notification until ``debounce_s`` after it (or none, after
        a second of quiet, so ``stop`` is looked at)."""
        units: set[str] = set()
        deadline: float | None = None
        while not stop.is_set():
            timeout = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            async for note in conn.notifies(timeout=timeout):
                if self.only is None or note.payload in self.only:
                    units.add(note.payload)
                if deadline is None and units:
                    deadline = time.monotonic() + self.debounce_s
                if deadline is not None and time.monotonic() >= deadline:
                    break
            if self._status_changed() and deadline is None:
                deadline = time.monotonic() + self.debounce_s
            if deadline is None or time.monotonic() >= deadline:
                return units
        return units

    def _status_now(self) -> int | None:
        try:
            doc = self._ledger.current() if self._ledger else None
        except (OSError, ValueError):
            return self._status_version
        return doc.version if doc else None

    def _status_changed(self) -> bool:
        """A new status message in this node's ledger since last looked (it is on every kit page)."""
        version = self._status_now()
        if version == self._status_version:
            return False
        self._status_version, self._status_due = version, True
        return True

    async def _wait_for_replay(self, listen: psycopg.AsyncConnection, read: psycopg.AsyncConnection) -> None:
        if self.listen_url == self.read_url:
            return
        cur = await listen.execute("SELECT pg_current_wal_lsn()::text")
        row = await cur.fetchone()
        lsn = row[0] if row else None
        deadline = time.monotonic() + self.replay_wait_s
        while lsn and time.monotonic() < deadline:
            cur = await read.execute("SELECT NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))
            done = await cur.fetchone()
            if done and done[0]:
                return
            await asyncio.sleep(0.05)

    async def _rebuild(self, conn: psycopg.AsyncConnection, units: list[str]) -> None:
        assert self._key is not None
        if self._pool is not None and len(units) > 1:   # several units: on the pool, a share per process
            loop = asyncio.get_running_loop()
            shares = [units[i::self.workers] for i in range(self.workers) if units[i::self.workers]]
            for done in await asyncio.gather(*(loop.run_in_executor(self._pool, _build_chunk, share)
                                               for share in shares)):
                for result in done:
                    self.rebuilt += not isinstance(result, tuple)
                    if self.on_built:
                        self.on_built(result)
            return
        for unit in units:
            item: Built | tuple[str, str]
            try:
                item = await build_unit(conn, unit, self.var_dir, self._key, keep=self.keep)
                self.rebuilt += 1
            except psycopg.OperationalError:
                raise
            except Exception as exc:  # one unit's failure must not stop the others
                log.warning("kit of %s not rebuilt: %s: %s", unit, type(exc).__name__, exc)
                item = (unit, f"{type(exc).__name__}: {exc}")
            if self.on_built:
                self.on_built(item)
