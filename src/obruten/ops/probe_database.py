"""Probes that talk to PostgreSQL and Patroni: the journal's write path, the read copy, the cluster.

Every connection has a connect timeout and server-side statement and lock timeouts; the runner's
deadline covers what those cannot (a frozen server process, a commit waiting for a lost standby).
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime

import psycopg

from obruten.ops.findings import Finding
from obruten.platform import http


def _connect(url: str, timeout_s: float) -> psycopg.Connection:
    ms = int(timeout_s * 1000)
    return psycopg.connect(url, autocommit=True, connect_timeout=max(2, int(timeout_s)),
                           application_name="obruten-ops-probe",
                           options=f"-c statement_timeout={ms} -c lock_timeout={ms}")


class JournalWriteProbe:
    """A synthetic write-and-read through the primary, into ``ops_probe`` (never a patient
    record), made ``samples`` times a ``spacing_s`` apart on one connection. The finding's value is
    the *slowest* round trip in milliseconds: staff feel the tail, and storage that stalls now and
    then (a throttled or failing SAN) makes one write in three slow, which a single sample
    misses half the time. Above ``slow_ms`` it is *slow*; on error or timeout it is *down*."""

    name = "journal_write"
    target = "primary"

    def __init__(self, url: str, prober: str = "ops", slow_ms: float = 500, timeout_s: float = 3.0,
                 samples: int = 3, spacing_s: float = 0.25) -> None:
        self.url, self.prober, self.slow_ms, self.timeout_s = url, prober, slow_ms, timeout_s
        self.samples, self.spacing_s = max(1, samples), spacing_s
        self.deadline_s = timeout_s + (self.samples - 1) * (spacing_s + slow_ms / 1000) + 1.0

    def check(self, now: datetime) -> list[Finding]:
        times: list[float] = []
        start = time.monotonic()
        try:
            with _connect(self.url, self.timeout_s) as conn:
                for n in range(self.samples):
                    if n:
                        time.sleep(self.spacing_s)
                        start = time.monotonic()
                    token = secrets.token_hex(8)
                    conn.execute("INSERT INTO ops_probe (prober, token, written_at) VALUES (%s, %s, now()) "
                                 "ON CONFLICT (prober) DO UPDATE SET token = excluded.token, "
                                 "written_at = excluded.written_at", (self.prober, token))
                    row = conn.execute("SELECT token FROM ops_probe WHERE prober = %s", (self.prober,)).fetchone()
                    times.append(round((time.monotonic() - start) * 1000, 1))  # the first includes connecting
                    if row is None or row[0] != token:
                        return [Finding(self.name, self.target, "down", times[-1],
                                        "read back a different value than written", now)]
        except psycopg.Error as exc:
            ms = (time.monotonic() - start) * 1000
            return [Finding(self.name, self.target, "down", round(ms, 1), _first_line(exc), now)]
        slowest = max(times)
        status = "slow" if slowest > self.slow_ms else "ok"
        detail = (f"write and read in {slowest:.0f} ms" if len(times) == 1 else
                  f"slowest of {len(times)} writes and reads {slowest:.0f} ms (fastest {min(times):.0f} ms)")
        return [Finding(self.name, self.target, status, slowest, detail, now)]


class ReadCopyProbe:
    """The read copy answers, and how far its replay is behind (seconds; 0 when it has replayed
    everything it received). Behind, the lag is the age of the last transaction it replayed, or,
    when it has replayed none since it started, the time since it started (not 0: a copy whose
    replay stopped right after a restart is still behind)."""

    name = "read_copy"
    target = "read_copy"

    def __init__(self, url: str, lag_warn_s: float = 10, lag_down_s: float = 60, timeout_s: float = 3.0) -> None:
        self.url, self.lag_warn_s, self.lag_down_s, self.timeout_s = url, lag_warn_s, lag_down_s, timeout_s
        self.deadline_s = timeout_s + 1.0

    def check(self, now: datetime) -> list[Finding]:
        try:
            with _connect(self.url, self.timeout_s) as conn:
                row = conn.execute(
                    "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() "
                    "THEN 0 ELSE EXTRACT(EPOCH FROM now() - COALESCE(pg_last_xact_replay_timestamp(), "
                    "pg_postmaster_start_time())) END::float8").fetchone()
        except psycopg.Error as exc:
            return [Finding(self.name, self.target, "down", None, _first_line(exc), now)]
        assert row is not None
        in_recovery, lag = bool(row[0]), float(row[1] or 0)
        if not in_recovery:
            return [Finding(self.name, self.target, "warn", 0.0, "answers, but is not a standby", now)]
        status = "down" if lag >= self.lag_down_s else "slow" if lag >= self.lag_warn_s else "ok"
        return [Finding(self.name, self.target, status, round(lag, 1), f"replay lag {lag:.1f} s", now)]


class ClusterProbe:
    """Member roles, sync state and lag from Patroni's REST API (``GET /cluster``), asking each
    given member until one answers.

    Findings: ``patroni`` (someone answers), ``leader``, ``sync`` (a ``sync_standby`` or, in
    quorum mode, a ``quorum_standby``), and ``member:NAME`` for every member: *down* unless
    running/streaming (a replica replaying from the archive counts as healthy), *slow* when its lag
    is over ``lag_warn_mb`` or unknown. A member tagged ``nofailover`` (the lagged copy) lags by
    design: its lag is reported, not judged. A member that was in the cluster and no longer is
    (Patroni drops a dead member once its key expires) is *down*."""

    name = "cluster"
    target = "patroni"
    HEALTHY = ("running", "streaming", "in archive recovery")

    def __init__(self, patroni_urls: list[str], lag_warn_mb: float = 16, expect_sync: bool = True,
                 timeout_s: float = 2.0) -> None:
        self.urls, self.lag_warn_mb, self.expect_sync, self.timeout_s = patroni_urls, lag_warn_mb, expect_sync, timeout_s
        self.deadline_s = timeout_s * max(1, len(patroni_urls)) + 1.0
        self._known: set[str] = set()

    def check(self, now: datetime) -> list[Finding]:
        errors = []
        for url in self.urls:
            try:
                with http.client(self.timeout_s) as client:
                    response = client.get(url.rstrip("/") + "/cluster").raise_for_status()
                body = json.loads(response.content)
            except http.failures(ValueError) as exc:
                errors.append(f"{url}: {http.reason(exc)}")
                continue
            return [Finding(self.name, self.target, "ok", float(len(body.get("members") or [])),
                            f"answered by {url}", now), *self._judge(body, now)]
        return [Finding(self.name, self.target, "down", None, "no Patroni member answers: " + "; ".join(errors), now)]

    def _judge(self, cluster: dict[str, object], now: datetime) -> list[Finding]:
        members = cluster.get("members") or []
        assert isinstance(members, list)
        findings = []
        leaders = [m for m in members if m.get("role") in ("leader", "standby_leader")]
        syncs = [m for m in members if m.get("role") in ("sync_standby", "quorum_standby")]  # ADR 0011
        findings.append(Finding(self.name, "leader", "ok" if leaders else "down", float(len(leaders)),
                                f"leader: {leaders[0]['name']}" if leaders else "no leader", now))
        if self.expect_sync:
            findings.append(Finding(self.name, "sync", "ok" if syncs else "down", float(len(syncs)),
                                    f"sync standby: {', '.join(m['name'] for m in syncs) or 'none'}", now))
        for m in members:
            state, role = str(m.get("state", "")), str(m.get("role", ""))
            lag = m.get("lag", 0)
            lag_mb = float(lag) / 1_048_576 if isinstance(lag, int | float) else float("nan")
            by_design = bool((m.get("tags") or {}).get("nofailover"))
            if state not in self.HEALTHY:
                status = "down"
            elif role not in ("leader", "standby_leader") and not by_design and not lag_mb <= self.lag_warn_mb:
                status = "slow"
            else:
                status = "ok"
            findings.append(Finding(self.name, f"member:{m.get('name')}", status,
                                    0.0 if role == "leader" else round(lag_mb, 2),
                                    f"{role}, {state}, lag {lag} bytes{' (delayed by design)' if by_design else ''}",
                                    now))
        present = {str(m.get("name")) for m in members}
        for gone in sorted(self._known - present):
            findings.append(Finding(self.name, f"member:{gone}", "down", None,
                                    "no longer in the cluster (Patroni lost it)", now))
        self._known |= present
        return findings


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
