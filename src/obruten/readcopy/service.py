"""What a read-copy process runs besides the web app: the lag tracker, the audit spool and the shipper.

``running(config, pool)`` starts them and stops them again (an async context manager, entered on the
app's ``AsyncExitStack``); the ``ReadCopy`` it yields provides the journal's collaborators: the audit
sink (the spool) and ``journal(...)``, the read-only journal built whole with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

from psycopg_pool import AsyncConnectionPool

from obruten.platform import events
from obruten.platform.config import Config
from obruten.readcopy import node_name
from obruten.readcopy.journal import BodyCache, LocalGrants, ReadCopyJournal, changes_since
from obruten.readcopy.lag import LagTracker
from obruten.readcopy.shipper import ship_forever
from obruten.readcopy.spool import Spool, SpoolSink, spool_dir
from obruten.record.audit import AuditWriter
from obruten.record.service import WriteGuard

log = logging.getLogger("obruten.readcopy")


@dataclass
class ReadCopy:
    config: Config
    node: str
    lag: LagTracker
    spool: Spool
    shipper: asyncio.Task[None] | None = None

    def say(self, sentence: str) -> None:
        print(f"read copy {self.node}: {sentence}", file=sys.stderr, flush=True)
        log.info(sentence)
        events.emit(self.config.var_dir, "readcopy.audit_shipping", sentence, self.node)

    def audit_sink(self) -> SpoolSink:
        """Reads are audited to the local spool (shipped to the primary by the shipper)."""
        return SpoolSink(self.spool)

    def journal(self, pool: AsyncConnectionPool, audit: AuditWriter, write_guard: WriteGuard) -> ReadCopyJournal:
        """The read copy's journal: local emergency access from the spool, bodies cached until the
        standby replays a change that names them (schema 0080)."""
        return ReadCopyJournal(pool=pool, audit=audit, node=self.node, emergency_hours=self.config.emergency_access_hours,
                               write_guard=write_guard, grants=LocalGrants(self.spool),
                               cache=BodyCache(self.lag, changes=partial(changes_since, pool)))

    async def stop(self) -> None:
        if self.shipper is not None:
            self.shipper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.shipper
        await self.lag.stop()
        self.spool.close()


@contextlib.asynccontextmanager
async def running(config: Config, pool: AsyncConnectionPool) -> AsyncIterator[ReadCopy]:
    """The read copy's services on ``pool`` (a hot standby), from start to stop."""
    node = node_name(config)
    lag = LagTracker(pool, stale_after=config.read_copy_stale_seconds)
    await lag.start()
    try:
        rc = ReadCopy(config, node, lag, Spool(spool_dir(config.var_dir.resolve(), node), node))
    except BaseException:
        await lag.stop()
        raise
    try:
        if config.primary_url:
            rc.shipper = asyncio.create_task(ship_forever(rc.spool.directory, config.primary_url, rc.say))
        else:
            rc.say("no primary_url set: audit events stay in the spool until `obruten audit ship` is run")
        yield rc
    finally:
        await rc.stop()
