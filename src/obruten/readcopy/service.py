"""What a read-copy process runs besides the web app: the lag tracker, the audit spool and the shipper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from dataclasses import dataclass

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from obruten.platform import events
from obruten.platform.config import Config
from obruten.readcopy import node_name
from obruten.readcopy.journal import BodyCache, LocalGrants, ReadCopyJournal
from obruten.readcopy.lag import LagTracker
from obruten.readcopy.shipper import ship_forever
from obruten.readcopy.spool import Spool, SpoolSink, spool_dir
from obruten.record.audit import AuditWriter

log = logging.getLogger("obruten.readcopy")


@dataclass
class ReadCopy:
    config: Config
    node: str
    lag: LagTracker
    spool: Spool
    journal: ReadCopyJournal
    shipper: asyncio.Task[None] | None = None

    def say(self, sentence: str) -> None:
        print(f"read copy {self.node}: {sentence}", file=sys.stderr, flush=True)
        log.info(sentence)
        events.emit(self.config.var_dir, "readcopy.audit_shipping", sentence, self.node)

    async def stop(self) -> None:
        if self.shipper is not None:
            self.shipper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.shipper
        await self.lag.stop()
        self.spool.close()


async def start_read_copy(app: FastAPI, config: Config, pool: AsyncConnectionPool) -> ReadCopyJournal:
    """Start the read copy's services on ``app`` (``app.state.read_copy``); return its journal."""
    node = node_name(config)
    lag = LagTracker(pool, stale_after=config.read_copy_stale_seconds)
    await lag.start()
    spool = Spool(spool_dir(config.var_dir.resolve(), node), node)
    journal = ReadCopyJournal(pool=pool, audit=AuditWriter(SpoolSink(spool)), node=node,
                              emergency_hours=config.emergency_access_hours, grants=LocalGrants(spool),
                              cache=BodyCache(lag))
    rc = ReadCopy(config, node, lag, spool, journal)
    if config.primary_url:
        rc.shipper = asyncio.create_task(ship_forever(spool.directory, config.primary_url, rc.say))
    else:
        rc.say("no primary_url set: audit events stay in the spool until `obruten audit ship` is run")
    app.state.read_copy = rc
    return journal
