"""A steady write load of real journal entries, read probes on the read copy, and role probes.

Writers insert lab referrals (order numbers from ``next_order_number('lab')``) for a clearly fake
drill patient through the multi-host, read-write connection string, exactly as the journal app
connects. Every acknowledged write goes into the ledger.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from obruten.drill.ledger import Ack, Ledger
from obruten.platform.rows import one

DRILL_PATIENT = "19121212-1212"  # Tolvan Tolvansson: the well-known test personal number

_FIXTURE = """
INSERT INTO hospital (id, name) VALUES ('DRILL', 'Övningssjukhuset (drill)') ON CONFLICT DO NOTHING;
INSERT INTO care_unit (id, hospital_id, name, kind) VALUES ('DRILL-LAB', 'DRILL', 'Övningsavdelning', 'ward')
    ON CONFLICT DO NOTHING;
INSERT INTO staff (username, full_name, role) VALUES ('drill.writer', 'Drill Writer', 'it')
    ON CONFLICT DO NOTHING;
INSERT INTO patient (personal_number, given_name, family_name, birth_date, sex)
    VALUES ('19121212-1212', 'Tolvan', 'Tolvansson (drill)', '1912-12-12', 'M') ON CONFLICT DO NOTHING;
"""


@dataclass(frozen=True)
class Fixture:
    patient_id: int
    unit_id: str
    staff_id: int


def ensure_fixture(url: str) -> Fixture:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_FIXTURE)
        pid = one(conn.execute("SELECT id FROM patient WHERE personal_number = %s", (DRILL_PATIENT,)).fetchone())[0]
        sid = one(conn.execute("SELECT id FROM staff WHERE username = 'drill.writer'").fetchone())[0]
    return Fixture(pid, "DRILL-LAB", sid)


# A member cut off by a partition answers nothing, not even a TCP reset: without these a query on a
# connection opened before the cut waits for the kernel's retransmission limit (~15 min). Data
# unacknowledged for 3 s, or 2 missed keepalives 1 s apart after 2 s idle, end the connection.
DEAD_PEER: dict[str, Any] = {"tcp_user_timeout": 3000, "keepalives": 1, "keepalives_idle": 2,
                             "keepalives_interval": 1, "keepalives_count": 2}

_INSERT = """INSERT INTO referral (entry_id, patient_id, unit_id, order_number, kind, tests, clinical_at, signed_by)
             VALUES (%s, %s, %s, next_order_number('lab'), 'lab', 'drill: Hb, CRP', now(), %s)
             RETURNING order_number, inet_server_port()"""


@dataclass
class Probes:
    """Read probes (the read copy itself, and the journal's read URL) and the primaries each role
    probe saw."""
    reads_ok: int = 0  # the read copy answered
    reads_failed: int = 0
    service_reads_ok: int = 0  # the read URL (read copy first, then the sites) answered
    service_reads_failed: int = 0
    lag_samples: list[float] = field(default_factory=list)
    two_primaries: list[tuple[float, list[int]]] = field(default_factory=list)
    primaries_seen: list[tuple[float, tuple[int, ...]]] = field(default_factory=list)


class Load:
    """Threads: ``writers`` writers at ``rate`` writes/s in total, one read prober, one role prober."""

    def __init__(self, write_url: str, read_copy_url: str, member_urls: dict[int, str], fixture: Fixture,
                 rate: float = 200, writers: int = 2, synchronous_commit: str = "on",
                 read_url: str | None = None) -> None:
        self.write_url, self.read_copy_url, self.member_urls = write_url, read_copy_url, member_urls
        self.read_url = read_url
        self.fixture, self.rate, self.writers, self.sync = fixture, rate, writers, synchronous_commit
        self.ledger = Ledger()
        self.probes = Probes()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        targets = [self._write] * self.writers + [self._read_probe, self._role_probe]
        if self.read_url:
            targets.append(self._service_read_probe)
        for i, target in enumerate(targets):
            t = threading.Thread(target=target, name=f"drill-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

    # ---- writers ---------------------------------------------------------------------------
    def _write(self) -> None:
        interval = self.writers / self.rate if self.rate > 0 else 0
        conn: psycopg.Connection | None = None
        next_at = time.monotonic()
        f = self.fixture
        while not self._stop.is_set():
            if interval:
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_at = time.monotonic()  # behind: do not burst to catch up
            entry = str(uuid.uuid4())
            sent = time.time()
            in_commit = False
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.write_url, autocommit=True, **DEAD_PEER)
                    conn.execute(f"SET synchronous_commit = {self.sync}")
                in_commit = True
                row = one(conn.execute(_INSERT, (entry, f.patient_id, f.unit_id, f.staff_id)).fetchone())
                self.ledger.ack(Ack(entry, row[0], row[1], sent, time.time()))
            except psycopg.Error as exc:
                self.ledger.fail(time.time(), str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__,
                                 in_commit)
                if conn is not None:
                    conn.close()
                conn = None
                self._stop.wait(0.05)
        if conn is not None:
            conn.close()

    # ---- probes ----------------------------------------------------------------------------
    def _read_probe(self) -> None:
        conn: psycopg.Connection | None = None
        while not self._stop.wait(0.1):
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.read_copy_url, autocommit=True, connect_timeout=1, **DEAD_PEER)
                row = conn.execute("""SELECT (SELECT max(id) FROM referral),
                                      extract(epoch FROM pg_last_xact_replay_timestamp())""").fetchone()
                self.probes.reads_ok += 1
                if row is not None and row[1] is not None:
                    self.probes.lag_samples.append(_lag(float(row[1]), self.ledger.last_ack, time.time()))
            except psycopg.Error:
                self.probes.reads_failed += 1
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:  # stopped: the probe's connection goes with it
            conn.close()

    def _service_read_probe(self) -> None:
        """Reads as the journal's read path does them: the read copy first, any site if it is down."""
        conn: psycopg.Connection | None = None
        while not self._stop.wait(0.1):
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.read_url or "", autocommit=True, connect_timeout=1,
                                           **DEAD_PEER)
                conn.execute("SELECT max(id) FROM referral").fetchone()
                self.probes.service_reads_ok += 1
            except psycopg.Error:
                self.probes.service_reads_failed += 1
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def _role_probe(self) -> None:
        conns: dict[int, psycopg.Connection | None] = {port: None for port in self.member_urls}
        while not self._stop.wait(0.2):
            primaries = []
            for port, url in self.member_urls.items():
                try:
                    c = conns[port]
                    if c is None or c.closed:
                        c = conns[port] = psycopg.connect(url, autocommit=True, connect_timeout=1, **DEAD_PEER)
                    if not one(c.execute("SELECT pg_is_in_recovery()").fetchone())[0]:
                        primaries.append(port)
                except psycopg.Error:
                    stale = conns[port]
                    if stale is not None:
                        stale.close()
                    conns[port] = None
            now = time.time()
            if len(primaries) > 1:
                self.probes.two_primaries.append((now, primaries))
            if not self.probes.primaries_seen or self.probes.primaries_seen[-1][1] != tuple(primaries):
                self.probes.primaries_seen.append((now, tuple(primaries)))
        for c in conns.values():
            if c is not None:
                c.close()


def _lag(replayed_at: float, last_ack: float, now: float) -> float:
    """How far the read copy is behind: the newest acknowledged write's time minus the newest commit
    it has replayed (overstates by the commit-to-ack latency; a dead primary does not count as lag)."""
    return max(0.0, min(now, last_ack) - replayed_at)
