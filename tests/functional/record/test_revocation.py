"""Revocations and login attempts in the journal database, as the app role (real PostgreSQL).

Two ``Revocations`` over one database stand for two worker processes (or the journal and a read
copy, whose pool is read-only): what one records, the other honours within its TTL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from psycopg import errors
from psycopg_pool import AsyncConnectionPool

from obruten.platform.auth import Session
from obruten.record import staff
from obruten.record.audit import AuditWriter, DatabaseSink
from obruten.record.login_guard import Attempt, AttemptLog, Limit, LoginGuard
from obruten.record.revocation import Revocations
from obruten.record.schema import app_url
from obruten.record.service import Journal
from pgtools import fresh_database

T = TypeVar("T")
ADMIN = Session(user_id=1, username="admin", full_name="Admin", role="admin", units=())


@pytest.fixture(scope="module")
def app(pg, tmp_path_factory: pytest.TempPathFactory) -> str:  # type: ignore[no-untyped-def]
    url = fresh_database(pg, "sessions")
    return app_url(url, Path(tmp_path_factory.mktemp("app")) / "app-password")


def run(app_url_: str, body: Callable[[AsyncConnectionPool, AsyncConnectionPool], Awaitable[T]]) -> T:
    """``body(writable pool, read-only pool)`` on the app role's connections."""
    async def main() -> T:
        async with AsyncConnectionPool(app_url_, min_size=1, max_size=2, open=False) as rw, \
                AsyncConnectionPool(app_url_, min_size=1, max_size=2, open=False, kwargs={
                    "options": "-c default_transaction_read_only=on", "autocommit": True}) as ro:
            return await body(rw, ro)
    return asyncio.run(main())


def user(user_id: int, issued_at: int | None = None) -> Session:
    return Session(user_id=user_id, username=f"u{user_id}", full_name="U", role="nurse", units=(),
                   issued_at=issued_at or int(time.time()))


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> float:
    """Seconds until ``check()`` is true (polled), or fail at the deadline."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < seconds, "not within the deadline"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def test_a_logout_is_honoured_by_another_process_and_a_read_only_one(app: str) -> None:
    async def body(rw: AsyncConnectionPool, ro: AsyncConnectionPool) -> tuple[float, float]:
        worker1 = Revocations(rw, writable=True, lifetime=3600)
        worker2 = Revocations(rw, writable=True, lifetime=3600)
        read_copy = Revocations(ro, writable=False, lifetime=3600)
        session, other = user(101), user(101)
        for r in (worker1, worker2, read_copy):
            assert not await r.ended(session)
        assert await worker1.revoke(session) is True
        assert await worker1.ended(session)  # at once in the process that logged out
        took2 = await until(lambda: worker2.ended(session))
        took_rc = await until(lambda: read_copy.ended(session))
        assert not await worker2.ended(other) and not await read_copy.ended(other)  # only that session
        return took2, took_rc

    took2, took_rc = run(app, body)
    assert took2 <= 1.5 and took_rc <= 1.5, (took2, took_rc)


def test_a_read_copy_logout_stays_in_its_process(app: str) -> None:
    async def body(rw: AsyncConnectionPool, ro: AsyncConnectionPool) -> None:
        read_copy = Revocations(ro, writable=False, lifetime=3600)
        journal = Revocations(rw, writable=True, lifetime=3600, ttl=0)
        session = user(102)
        assert await read_copy.revoke(session) is False
        assert await read_copy.ended(session)
        assert not await journal.ended(session)  # the documented gap
    run(app, body)


def test_deactivation_ends_every_earlier_session_of_the_user(app: str) -> None:
    async def body(rw: AsyncConnectionPool, ro: AsyncConnectionPool) -> None:
        async with rw.connection() as conn:
            user_id = await staff.create(conn, f"deact{int(time.time() * 1000) % 10**9}", "D", "nurse", "pw-1234", [])
        journal = Journal(pool=rw, audit=AuditWriter(DatabaseSink(rw)))
        read_copy = Revocations(ro, writable=False, lifetime=3600)
        before, someone_else = user(user_id, int(time.time()) - 5), user(user_id + 10_000, int(time.time()) - 5)
        assert not await read_copy.ended(before)
        await journal.set_user_active(ADMIN, user_id, False)
        await until(lambda: read_copy.ended(before))
        assert not await read_copy.ended(someone_else)
        later = user(user_id, int(time.time()) + 5)  # issued after (a reactivated account logging in again)
        assert not await read_copy.ended(later)
    run(app, body)


def test_the_app_role_cannot_take_a_revocation_back(app: str) -> None:
    run(app, lambda rw, ro: Revocations(rw, writable=True, lifetime=60).revoke(user(103)))
    with psycopg.connect(app, autocommit=True) as c:
        for sql in ["DELETE FROM session_revocation", "UPDATE session_revocation SET sid = 'x' || sid",
                    "TRUNCATE session_revocation", "DELETE FROM login_attempt", "UPDATE login_attempt SET ok = true"]:
            with pytest.raises(errors.InsufficientPrivilege):
                c.execute(sql)
        assert c.execute("SELECT count(*) FROM session_revocation WHERE user_id = 103").fetchone()[0] == 1


def test_failures_are_counted_across_processes_and_a_read_copy_adds_its_own(app: str) -> None:
    limit = Limit(failures=3, window=600, base_delay=30, max_delay=300)

    async def body(rw: AsyncConnectionPool, ro: AsyncConnectionPool) -> None:
        a = LoginGuard(AttemptLog(rw, writable=True), account_limit=limit, client_limit=limit)
        b = LoginGuard(AttemptLog(rw, writable=True), account_limit=limit, client_limit=limit)
        rc = LoginGuard(AttemptLog(ro, writable=False), account_limit=limit, client_limit=limit)
        name = f"target{int(time.time() * 1000) % 10**9}"
        await a.record(name, "10.1.0.1", ok=False)
        await b.record(name, "10.1.0.2", ok=False)
        assert (await a.check(name, "10.1.0.3")).allowed
        assert (await rc.check(name, "10.1.0.3")).allowed
        await rc.record(name, "10.1.0.3", ok=False)  # only the read copy's process knows this one
        assert not (await rc.check(name, "10.1.0.3")).allowed
        assert (await b.check(name, "10.1.0.3")).allowed
        await b.record(name, "10.1.0.4", ok=False)
        verdict = await a.check(name.upper() + " ", "10.1.0.5")  # the same account, however typed
        assert not verdict.allowed and verdict.by == "account" and 0 < verdict.retry_after <= 30
        assert ("account", name) in {(t.by, t.key) for t in await b.throttled()}
        assert await rc.log.everything_since(time.time() - 60) != []
        assert isinstance((await rc.log.recent(name, "x", 0))[0][0], Attempt)
    run(app, body)


class _Cursor:
    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows

    async def fetchall(self) -> list[tuple]:
        return self.rows


class _Conn:
    def __init__(self, pool: _FakePool) -> None:
        self.pool = pool

    async def execute(self, sql: str, params: tuple) -> _Cursor:
        await self.pool.gate.wait()
        if self.pool.fail:
            raise psycopg.OperationalError("connection refused")
        self.pool.reads += 1
        return _Cursor(self.pool.rows)


class _FakePool:
    """Stands in for the pool: rows to return, a gate that holds a read, or a failure."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False
        self.reads = 0

    def connection(self, timeout: float | None = None):  # type: ignore[no-untyped-def]
        pool = self

        class _Ctx:
            async def __aenter__(self) -> _Conn:
                return _Conn(pool)

            async def __aexit__(self, *exc: object) -> None:
                return None

        return _Ctx()


def test_one_request_rereads_while_the_others_go_on_and_a_failed_read_keeps_what_is_known() -> None:
    async def body() -> None:
        now = [0.0]
        pool = _FakePool()
        revoked = user(201, issued_at=int(time.time()) - 10)
        pool.rows = [(revoked.sid, 201, time.time())]
        r = Revocations(pool, writable=True, lifetime=3600, clock=lambda: now[0])  # type: ignore[arg-type]
        assert await r.ended(revoked) and pool.reads == 1
        assert await r.ended(revoked) and pool.reads == 1  # within the TTL: no query
        now[0] = 5.0
        pool.gate.clear()  # the next read hangs
        slow = asyncio.create_task(r.ended(revoked))
        await asyncio.sleep(0.01)
        assert await asyncio.wait_for(r.ended(user(202)), 1) is False  # not held up by the slow read
        assert await asyncio.wait_for(r.ended(revoked), 1) is True
        pool.gate.set()
        assert await slow and pool.reads == 2
        now[0] = 10.0
        pool.fail = True
        assert await r.ended(revoked)  # the database is away: what was known still holds
        assert r._loaded_at == 10.0  # and it is not asked again before the TTL
    asyncio.run(body())
