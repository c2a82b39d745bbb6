"""Where a service's database is: a PostgreSQL URL, or the embedded instance under var/."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from obruten.platform.config import Config
from obruten.platform.errors import ObrutenError
from obruten.platform.pgserver import DATABASE, PostgresInstance
from obruten.platform.progress import Say

log = logging.getLogger(__name__)


def embedded_instance(config: Config) -> PostgresInstance:
    return PostgresInstance.at(config.var_dir, config.pg_port, config.pg_user)




def start(config: Config, say: Say = print) -> str:
    """Make the database reachable and return its URL: create and start the embedded server if that
    is the configuration, and create the database. Migrations are the caller's (its schema)."""
    if config.embedded:
        pg = embedded_instance(config)
        if pg.moved:
            say(pg.moved[0].upper() + pg.moved[1:] + ".")
        if not pg.initialized:
            say(f"Creating the embedded PostgreSQL in {pg.data_dir} …")
            pg.init()
        if not pg.is_running():
            say(f"Starting PostgreSQL on 127.0.0.1:{pg.port} (log: {pg.log_file}) …")
            pg.start()
        pg.ensure_database(DATABASE)
        url = pg.url()
    else:
        assert config.database_url is not None
        url = config.database_url
    return url


def url_for(config: Config) -> str:
    """The URL to use, without starting anything (the embedded server must already run)."""
    if config.database_url:
        return config.database_url
    return embedded_instance(config).url()


# ---- the journal's connections: leader-aware, health-checked, failing fast (ADR 0050) -------------------
class NoPrimary(ObrutenError, psycopg.OperationalError):
    """No database member accepts writes right now (or none holds the leader lock): the request is
    answered at once with a 503 instead of waiting for a connection that cannot come."""


POLL_S = 0.5  # how often the watch asks Patroni (or, while down, the database) who the primary is
PROBE_TIMEOUT_S = 0.4  # one Patroni REST call; a frozen Patroni does not answer within it
CONNECT_TIMEOUT_S = 2  # libpq's connect_timeout (whole seconds)
POOL_TIMEOUT_S = 1.5  # the longest a request waits for a connection: every answer within 2 s
RETRY_S = 0.1  # between connection attempts while a primary is named (a promotion ending)
CONNECT_PATIENCE_S = 60  # one pool connection attempt keeps trying this long before psycopg_pool's back-off
# keepalives find a dead peer in ~3 s instead of the kernel's 2 h; user timeout bounds unacked sends
SESSION_KWARGS: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT_S, "keepalives": 1, "keepalives_idle": 2, "keepalives_interval": 1,
    "keepalives_count": 2, "tcp_user_timeout": 4000,
}
# lock waits and idle transactions are bounded; statement_timeout is NOT set on the write pool: a
# cancelled COMMIT waiting for the synchronous standby is committed locally and would be
# acknowledged without its replica (PostgreSQL only warns)
SESSION_OPTIONS = "-c lock_timeout=5s -c idle_in_transaction_session_timeout=60s"


def hosts_of(conninfo: str) -> list[tuple[str, str]]:
    """The (host, port) pairs of a possibly multi-host URL, in order."""
    params = conninfo_to_dict(conninfo)
    hosts = str(params.get("host") or "127.0.0.1").split(",")
    ports = str(params.get("port") or "5432").split(",")
    if len(ports) == 1:
        ports = ports * len(hosts)
    return list(zip(hosts, ports, strict=False))


class PrimaryWatch:
    """Knows which member accepts writes, polling every ``POLL_S``.

    With Patroni REST URLs (one per host of the URL, same order): the member whose Patroni answers
    ``GET /leader`` with 200, i.e. holds the leader lock (it takes the lock before it promotes its
    PostgreSQL, so connections are tried, with ``target_session_attrs=read-write``, from the moment
    it does: the first succeeds as soon as the promotion ends); a frozen or partitioned Patroni does not,
    so the journal leaves its PostgreSQL even though that still says read-write. Without them (one
    database, or hosts without Patroni): libpq's ``target_session_attrs=read-write``, probed only
    while the database is down (errors mark it down, ``suspect``)."""

    def __init__(self, conninfo: str, patroni_urls: Sequence[str] = (),
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.conninfo = conninfo
        self.hosts = hosts_of(conninfo)
        if patroni_urls and len(patroni_urls) != len(self.hosts):
            raise ValueError(f"{len(patroni_urls)} Patroni URLs for {len(self.hosts)} database hosts: give one "
                             "Patroni REST URL per host of the database URL, in the same order")
        self.patroni_urls = [u.rstrip("/") for u in patroni_urls]
        self.target: tuple[str, str] | None = None  # where writes go; None: no primary
        self.changed_at = time.monotonic()
        self._up = asyncio.Event()
        self._down = asyncio.Event()
        self._down.set()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self.on_change: Callable[[tuple[str, str] | None], Awaitable[None]] | None = None
        self._transport = transport  # tests: a fake Patroni

    # ---- what the pool asks ---------------------------------------------------------------------------
    @property
    def up(self) -> bool:
        return self.target is not None

    def conninfo_for_target(self) -> str:
        """The URL pinned to the current primary (with Patroni), or the multi-host read-write URL."""
        if not self.patroni_urls or self.target is None:
            return make_conninfo(self.conninfo, target_session_attrs="read-write")
        host, port = self.target
        return make_conninfo(self.conninfo, host=host, port=port, target_session_attrs="read-write")

    def serves(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        """Whether ``conn`` is a connection to the current primary."""
        if self.target is None:
            return False
        if not self.patroni_urls:
            return True
        return (conn.info.host, str(conn.info.port)) == self.target

    async def wait_up(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def wait_down(self) -> None:
        await self._down.wait()

    async def suspect(self) -> None:
        """A connection failed: without Patroni, treat the database as down until a probe connects."""
        if not self.patroni_urls and self.target is not None:
            await self._set(None)

    # ---- running -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.patroni_urls:
            self._client = httpx.AsyncClient(timeout=PROBE_TIMEOUT_S, transport=self._transport)
        await self.poll()
        self._task = asyncio.create_task(self._run(), name="primary-watch")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            try:
                await self.poll()
            except Exception:  # noqa: BLE001 - the watch must outlive any one failed poll
                log.exception("primary watch: poll failed")

    async def poll(self) -> None:
        if self.patroni_urls:
            found = await asyncio.gather(*(self._holds_lock(u) for u in self.patroni_urls))
            leaders = [h for h, ok in zip(self.hosts, found, strict=True) if ok]
            # two members claiming the lock is never trusted: no writes until one is left
            await self._set(leaders[0] if len(leaders) == 1 else None)
        elif self.target is None:
            await self._set(self.hosts[0] if await self._connects() else None)

    async def _holds_lock(self, url: str) -> bool:
        assert self._client is not None
        try:
            response = await self._client.get(url + "/leader")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _connects(self) -> bool:
        try:
            conn = await psycopg.AsyncConnection.connect(self.conninfo_for_target(),
                                                         **{**SESSION_KWARGS, "connect_timeout": 1})
        except psycopg.Error:
            return False
        await conn.close()
        return True

    async def _set(self, target: tuple[str, str] | None) -> None:
        if target == self.target:
            return
        old, self.target, self.changed_at = self.target, target, time.monotonic()
        log.warning("primary: %s -> %s", _where(old), _where(target))
        if target is None:
            self._up.clear()
            self._down.set()
        else:
            self._down.clear()
            self._up.set()
        if self.on_change is not None:
            await self.on_change(target)


def _where(target: tuple[str, str] | None) -> str:
    return f"{target[0]}:{target[1]}" if target else "none"


class PrimaryPool(AsyncConnectionPool[psycopg.AsyncConnection[Any]]):
    """The journal's pool: connections only to the member ``PrimaryWatch`` names.

    * ``getconn`` answers at once with ``NoPrimary`` while there is no primary, and waits at most
      ``POOL_TIMEOUT_S`` otherwise;
    * every connection handed out is checked (``check``): alive and on the current primary;
    * new connections wait for a primary instead of backing off exponentially (psycopg_pool's 1, 2,
      4, 8 … s back-off kept the journal away ~10 s after its database was back);
    * when the primary changes, idle connections are dropped and busy ones to the old primary closed.
    """

    def __init__(self, watch: PrimaryWatch, *, max_size: int, kwargs: dict[str, Any], min_size: int = 2) -> None:
        self.watch = watch
        self._handed: weakref.WeakSet[psycopg.AsyncConnection[Any]] = weakref.WeakSet()
        options = f"{kwargs.get('options', '')} {SESSION_OPTIONS}".strip()
        super().__init__(watch.conninfo_for_target, min_size=min_size, max_size=max_size, open=False,
                         kwargs={**SESSION_KWARGS, **kwargs, "options": options}, check=self._check_conn, timeout=POOL_TIMEOUT_S,
                         reconnect_timeout=3600)
        watch.on_change = self._primary_changed

    async def getconn(self, timeout: float | None = None) -> psycopg.AsyncConnection[Any]:
        if not self.watch.up:
            raise NoPrimary("no database member accepts writes right now")
        # wait for a connection, but no longer than the primary is there: a failed connection
        # attempt or the watch losing the primary answers the request at once
        get = asyncio.ensure_future(super().getconn(min(timeout or POOL_TIMEOUT_S, POOL_TIMEOUT_S)))
        down = asyncio.ensure_future(self.watch.wait_down())
        try:
            await asyncio.wait({get, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            down.cancel()
        if not get.done():
            get.cancel()
            with contextlib.suppress(asyncio.CancelledError, PoolTimeout, psycopg.Error):
                conn = await get
                await self.putconn(conn)  # it came in the same instant: back to the pool
            raise NoPrimary("the primary went away while waiting for a connection")
        try:
            conn = get.result()
        except PoolTimeout as exc:
            await self.watch.suspect()
            raise NoPrimary(f"no connection to the primary within {POOL_TIMEOUT_S} s") from exc
        self._handed.add(conn)
        return conn

    async def putconn(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._handed.discard(conn)
        if conn.broken:
            await self.watch.suspect()
        await super().putconn(conn)

    async def _check_conn(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if conn.closed or conn.broken or not self.watch.serves(conn):
            raise psycopg.OperationalError("connection closed or not to the current primary")
        await self.check_connection(conn)

    async def _connect(self, timeout: float | None = None) -> psycopg.AsyncConnection[Any]:
        # wait for a primary and retry every RETRY_S rather than fail into psycopg_pool's exponential
        # back-off (1, 2, 4 … s), which kept the journal away from a database that was back
        deadline = time.monotonic() + CONNECT_PATIENCE_S
        while True:
            if self.closed:
                raise NoPrimary("pool closed")
            if await self.watch.wait_up(min(1.0, max(0.0, deadline - time.monotonic()))):
                try:
                    return await super()._connect(timeout)
                except psycopg.Error:
                    await self.watch.suspect()
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(RETRY_S)
            elif time.monotonic() > deadline:
                raise NoPrimary(f"no primary for {CONNECT_PATIENCE_S:.0f} s")

    async def _primary_changed(self, target: tuple[str, str] | None) -> None:
        if self.closed or target is None:
            return
        # busy connections to another member are closed under their request (it fails, unacknowledged)
        for conn in list(self._handed):
            if not self.watch.serves(conn) and not conn.closed:
                await conn.close()
        await self.drain()


@contextlib.asynccontextmanager
async def primary_pool(conninfo: str, *, patroni_urls: Sequence[str] = (), max_size: int = 10,
                       kwargs: dict[str, Any] | None = None) -> AsyncIterator[PrimaryPool]:
    """An open ``PrimaryPool`` with its watch running; both stopped on exit. Opening does not wait
    for the database: a journal started while it is down answers 503 until it is back."""
    watch = PrimaryWatch(conninfo, patroni_urls)
    await watch.start()
    pool = PrimaryPool(watch, max_size=max_size, kwargs=kwargs or {})
    await pool.open(wait=False)
    try:
        yield pool
    finally:
        await pool.close(timeout=2)
        await watch.stop()
