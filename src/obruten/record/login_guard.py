"""Login throttling per account and per client address, with back-off.

``decide`` is the rule, a pure function of the recent attempts: after ``failures`` wrong passwords
within ``window`` seconds (for an account: since its last successful login) further attempts are
refused for ``base_delay`` seconds after the last failure, doubling with every further failure up
to ``max_delay``. A client address has a higher threshold than an account (one ward's computers
may share an address). A refused attempt never reaches the password check, so a correct password
does not end a lock-out, and is not counted, so a lock-out does not prolong itself.

Attempts are rows in ``login_attempt`` (schema 0045), counted across workers and nodes. On a read
copy (read-only database) the process adds its own attempts in memory to what has replicated.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from obruten.platform.errors import DomainError
from obruten.platform.i18n import local_time, translator


@dataclass(frozen=True)
class Limit:
    failures: int  # wrong passwords within the window before attempts are refused
    window: float  # seconds
    base_delay: float  # seconds refused after reaching ``failures``
    max_delay: float  # seconds, the back-off's ceiling

    def delay(self, failures: int) -> float:
        """Seconds refused after the last of ``failures`` wrong passwords (0: not locked)."""
        if failures < self.failures:
            return 0.0
        return min(self.base_delay * 2 ** min(failures - self.failures, 32), self.max_delay)


ACCOUNT = Limit(failures=5, window=15 * 60, base_delay=60, max_delay=15 * 60)
CLIENT = Limit(failures=30, window=15 * 60, base_delay=60, max_delay=15 * 60)


@dataclass(frozen=True)
class Attempt:
    at: float  # epoch seconds
    ok: bool
    username: str = ""
    client: str = ""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # seconds, when refused
    by: str = ""  # "account" or "client", when refused
    failures: int = 0  # the failures that caused the refusal
    sentence: str = ""


def failures_counted(attempts: Iterable[Attempt], limit: Limit, now: float, reset_by_success: bool) -> list[float]:
    """Times of the failures that count: within the window and (for an account) after its last success."""
    recent = sorted((a for a in attempts if now - limit.window < a.at <= now), key=lambda a: a.at)
    if reset_by_success:
        last_ok = max((i for i, a in enumerate(recent) if a.ok), default=-1)
        recent = recent[last_ok + 1:]
    return [a.at for a in recent if not a.ok]


def _locked(times: list[float], limit: Limit, now: float) -> float:
    """Seconds left of the lock-out these failures cause (0: none)."""
    if not times:
        return 0.0
    return max(0.0, times[-1] + limit.delay(len(times)) - now)


def decide(account: Sequence[Attempt], client: Sequence[Attempt], now: float,
           account_limit: Limit = ACCOUNT, client_limit: Limit = CLIENT) -> Verdict:
    """May one more login be tried for this account from this client now? The attempts are the
    recent ones of this account (from any client) and of this client (for any account)."""
    by_account = failures_counted(account, account_limit, now, reset_by_success=True)
    by_client = failures_counted(client, client_limit, now, reset_by_success=False)
    wait_account, wait_client = _locked(by_account, account_limit, now), _locked(by_client, client_limit, now)
    if wait_account <= 0 and wait_client <= 0:
        return Verdict(True, sentence=f"allowed: {len(by_account)} recent failures for the account, "
                                      f"{len(by_client)} from the client")
    if wait_account >= wait_client:
        by, failures, wait = "account", len(by_account), wait_account
    else:
        by, failures, wait = "client", len(by_client), wait_client
    retry = math.ceil(wait)
    return Verdict(False, retry, by, failures,
                   f"refused: {failures} recent failures for the {by}; try again in {retry} s")


@dataclass(frozen=True)
class Throttle:
    """One account or client address that is refused right now (for the admin page)."""

    by: str  # "account" or "client"
    key: str  # the username or address
    failures: int
    retry_after: int  # seconds
    until: float  # epoch seconds


def throttled_now(attempts: Iterable[Attempt], now: float, account_limit: Limit = ACCOUNT,
                  client_limit: Limit = CLIENT) -> list[Throttle]:
    """Every account and client address locked out at ``now``, longest lock first."""
    by_user: dict[str, list[Attempt]] = {}
    by_client: dict[str, list[Attempt]] = {}
    for a in attempts:
        by_user.setdefault(a.username, []).append(a)
        by_client.setdefault(a.client, []).append(a)
    found: list[Throttle] = []
    for by, groups, limit, reset in (("account", by_user, account_limit, True),
                                     ("client", by_client, client_limit, False)):
        for key, rows in groups.items():
            times = failures_counted(rows, limit, now, reset)
            wait = _locked(times, limit, now)
            if wait > 0:
                found.append(Throttle(by, key, len(times), math.ceil(wait), now + wait))
    return sorted(found, key=lambda t: (-t.until, t.by, t.key))


class Throttled(DomainError):
    """Too many failed logins: 429 with ``Retry-After``; the message (in ``lang``) says when to try
    again and to call IT support if it was not the user."""

    status = 429

    def __init__(self, verdict: Verdict, lang: str = "sv", now: float | None = None) -> None:
        until = local_time(datetime.fromtimestamp((now or time.time()) + verdict.retry_after, UTC), "%H:%M")
        minutes = max(1, math.ceil(verdict.retry_after / 60))
        super().__init__(translator(lang)("login.throttled", minutes=minutes, until=until),
                         retry_after=verdict.retry_after, until=until)
        self.verdict = verdict
        self.headers = {"Retry-After": str(verdict.retry_after)}


def normalise(username: str) -> str:
    return username.strip().lower()[:64]


def client_key(address: str | None) -> str:
    return (address or "unknown")[:64]


@dataclass
class AttemptLog:
    """Login attempts: ``login_attempt`` in the database, plus (on a read copy, which cannot write)
    this process's own in memory."""

    pool: AsyncConnectionPool
    writable: bool
    node: str = "journal"
    memory: list[Attempt] = field(default_factory=list)

    async def recent(self, username: str, client: str, since: float) -> tuple[list[Attempt], list[Attempt]]:
        """This account's and this client's attempts since ``since`` (epoch s)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT extract(epoch FROM at)::float8, ok, username, client FROM login_attempt"
                " WHERE (username = %s OR client = %s) AND at > to_timestamp(%s)", (username, client, since))
            rows = [Attempt(at, ok, u, c) for at, ok, u, c in await cur.fetchall()]
        rows += [a for a in self.memory if a.at > since and (a.username == username or a.client == client)]
        return [a for a in rows if a.username == username], [a for a in rows if a.client == client]

    async def everything_since(self, since: float) -> list[Attempt]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT extract(epoch FROM at)::float8, ok, username, client FROM login_attempt"
                " WHERE at > to_timestamp(%s)", (since,))
            rows = [Attempt(at, ok, u, c) for at, ok, u, c in await cur.fetchall()]
        return rows + [a for a in self.memory if a.at > since]

    async def add(self, attempt: Attempt) -> None:
        if not self.writable:
            self.memory.append(attempt)
            self.memory = [a for a in self.memory if a.at > attempt.at - 24 * 3600]
            return
        async with self.pool.connection() as conn:
            await conn.execute("INSERT INTO login_attempt (at, username, client, ok, node)"
                               " VALUES (to_timestamp(%s), %s, %s, %s, %s)",
                               (attempt.at, attempt.username, attempt.client, attempt.ok, self.node))


_AUDITED_MAX = 10_000  # lock-outs remembered as audited (then forgotten: at worst one more event each)


class LoginGuard:
    """The throttle around the password check: ``check`` before it, ``record`` after it."""

    def __init__(self, log: AttemptLog, account_limit: Limit = ACCOUNT, client_limit: Limit = CLIENT,
                 clock: Callable[[], float] = time.time) -> None:
        self.log, self.account_limit, self.client_limit, self.clock = log, account_limit, client_limit, clock
        self._audited: set[tuple[str, str, int]] = set()
        self._locked: dict[tuple[str, str], tuple[float, int]] = {}  # (by, key) -> (until, failures)

    @property
    def _window(self) -> float:
        return max(self.account_limit.window, self.client_limit.window)

    async def check(self, username: str, client: str) -> Verdict:
        now = self.clock()
        keys = (("account", normalise(username)), ("client", client_key(client)))
        for key in keys:  # a lock-out this process already found: refused without a query (a flood
            held = self._locked.get(key)  # against one account costs no database round trip each)
            if held is not None and now < held[0]:
                retry = math.ceil(held[0] - now)
                return Verdict(False, retry, key[0], held[1],
                               f"refused: {held[1]} recent failures for the {key[0]}; try again in {retry} s")
        account, by_client = await self.log.recent(keys[0][1], keys[1][1], now - self._window)
        verdict = decide(account, by_client, now, self.account_limit, self.client_limit)
        if not verdict.allowed:
            if len(self._locked) >= _AUDITED_MAX:
                self._locked.clear()
            key = keys[0] if verdict.by == "account" else keys[1]
            self._locked[key] = (now + verdict.retry_after, verdict.failures)
        return verdict

    async def record(self, username: str, client: str, ok: bool) -> None:
        await self.log.add(Attempt(self.clock(), ok, normalise(username), client_key(client)))

    def first_refusal(self, username: str, client: str, verdict: Verdict) -> bool:
        """Is this the first refusal (in this process) of the lock-out ``verdict`` describes? Only
        that one is audited: an attacker hammering a locked account must not flood the audit log
        (refusals are not counted, so a lock-out keeps its failure count until it ends)."""
        key = (verdict.by, normalise(username) if verdict.by == "account" else client_key(client), verdict.failures)
        if key in self._audited:
            return False
        if len(self._audited) >= _AUDITED_MAX:
            self._audited.clear()
        self._audited.add(key)
        return True

    async def throttled(self) -> list[Throttle]:
        now = self.clock()
        return throttled_now(await self.log.everything_since(now - self._window), now,
                             self.account_limit, self.client_limit)
