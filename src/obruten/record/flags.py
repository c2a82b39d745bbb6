"""The journal's feature flags: the catalogue of this release's switchable behaviour, and the
switches recorded in ``feature_flag_switch`` (schema 0075).

A switch is audited in the same transaction (action ``flag_switch``, purpose ``administration``)
and reported as a system event (``flag.switched``), so it appears on the incident timeline of any
incident open at the time. Whoever adds a behaviour staff or operators would notice adds its flag
here (off on upgrade) and asks ``FlagCache.on(name, unit)`` where the behaviour starts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

from obruten.platform import events
from obruten.platform.errors import ObrutenError
from obruten.platform.flags import REGION, Flag, FlagCache, Switch, state
from obruten.record.audit import AuditEvent, append_chained

RELEASE = "2026.12"
STRUCTURED_ORDERS = "structured_orders"

CATALOGUE: tuple[Flag, ...] = (
    Flag("kit_mar_grid", RELEASE,
         "Reservkitets PDF visar läkemedlen som signeringslista (en ruta per dos kommande 24 h, rutor för vid behov) "
         "i stället för läkemedelstabellen.",
         "The downtime kit's PDF shows medications as a signing grid (one box per dose for the next 24 h, boxes for "
         "as-needed) instead of the medication table."),
    Flag(STRUCTURED_ORDERS, RELEASE,
         "En ordination kräver substans och läkemedelsform utöver produktnamn (tider, max vid behov och "
         "allergikontroll gäller alltid).",
         "An order requires the substance and pharmaceutical form besides the product name (times, the PRN "
         "maximum and the allergy check always apply)."),
)
BY_NAME = {f.name: f for f in CATALOGUE}


TTL_S = 5.0  # a switch takes effect in the app within this


@contextlib.asynccontextmanager
async def following(pool: AsyncConnectionPool, ttl: float | None = None) -> AsyncIterator[FlagCache]:
    """The app's flag cache, re-read from ``pool`` every ``ttl`` seconds in the background (a failed
    read keeps the last known switches: a database hiccup switches nothing)."""
    every = TTL_S if ttl is None else ttl
    cache = FlagCache(lambda: cache.switches, ttl=float("inf"))  # never read on a request path

    async def read() -> None:
        try:
            async with pool.connection(timeout=every) as conn:
                cache.set(await switches(conn))
        except Exception:  # noqa: BLE001 - keep the last known state
            pass

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            await read()

    await read()
    task = asyncio.create_task(loop())
    try:
        yield cache
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class UnknownFlag(ObrutenError, ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no flag named {name!r}; `obruten flags list` shows them")


async def switches(conn: psycopg.AsyncConnection) -> list[Switch]:
    """Every recorded switch (a few hundred at most: one row per decision)."""
    cur = await conn.execute("SELECT to_regclass('feature_flag_switch') IS NOT NULL")
    exists = await cur.fetchone()
    if not exists or not exists[0]:
        return []
    cur = await conn.execute(
        "SELECT flag, unit_id, enabled, switched_at, switched_by, reason FROM feature_flag_switch ORDER BY id")
    return [Switch(*row) for row in await cur.fetchall()]


async def switch(conn: psycopg.AsyncConnection, name: str, on: bool, *, unit: str | None, by: str, reason: str,
                 var_dir: Path | None = None) -> Switch:
    """Record one switch and its audit event in one transaction; then report it as a system event."""
    if name not in BY_NAME:
        raise UnknownFlag(name)
    if len(reason.strip()) < 3:
        raise ValueError("say why (at least 3 characters): the reason is on the record")
    scope = unit or REGION
    async with conn.transaction():
        if unit is not None:
            cur = await conn.execute("SELECT 1 FROM care_unit WHERE id = %s", (unit,))
            if await cur.fetchone() is None:
                raise ValueError(f"no care unit {unit!r}")
        cur = await conn.execute(
            "INSERT INTO feature_flag_switch (flag, unit_id, enabled, switched_by, reason) VALUES (%s, %s, %s, %s, %s)"
            " RETURNING switched_at", (name, scope, on, by, reason.strip()))
        row = await cur.fetchone()
        assert row is not None
        at: datetime = row[0]
        await append_chained(conn, [AuditEvent(actor=by, action="flag_switch", purpose="administration",
                                               detail={"flag": name, "unit": scope or None, "on": on,
                                                       "reason": reason.strip()})])
    where = f"enhet {unit}" if unit else "hela regionen"
    if var_dir is not None:
        events.emit(var_dir, "flag.switched", f"Funktionsflaggan {name} {'PÅ' if on else 'AV'} för {where} "
                    f"({by}: {reason.strip()})", "journal", flag=name, unit=scope, on=on)
    return Switch(name, scope, on, at, by, reason.strip())


INSTALLATION = "installation"  # who switched the flags of a new installation on


async def install_defaults(conn: psycopg.AsyncConnection, var_dir: Path | None = None) -> list[Switch]:
    """A new installation (empty database) gets every catalogue flag on region-wide, recorded as by
    "installation"; an upgrade of an existing database never calls this, so its new flags stay off."""
    return [await switch(conn, f.name, True, unit=None, by=INSTALLATION, reason="ny installation: allt på",
                         var_dir=var_dir) for f in CATALOGUE]


def effective(all_switches: Sequence[Switch], units: Sequence[str]) -> dict[str, dict[str, bool]]:
    """Per flag: region-wide state and each given unit's state (for ``flags list``)."""
    return {f.name: {REGION: state(all_switches, f.name), **{u: state(all_switches, f.name, u) for u in units}}
            for f in CATALOGUE}
