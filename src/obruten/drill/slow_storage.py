"""Drill ``slow-storage``: freeze or throttle the primary's I/O under write load and measure the
time from onset to alarm (goal ≤ 60 s), then from the end of the fault to the alarm's resolution.

The fault stops the postmaster and all its children (SIGSTOP), as a SAN that stops answering
does to every process waiting on it (F1); ``throttle`` alternates SIGSTOP and SIGCONT so the
server still answers, slowly. The drill watches the ops store for the write-path alarm; give it
``tick`` to drive an ops service in-process, or leave it None when the service runs on its own.
The drill runner registers ``run`` under the name ``slow-storage``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from obruten.drill.report import write_pair
from obruten.ops.clock import SystemClock, iso
from obruten.ops.store import Store
from obruten.platform import events
from obruten.platform.pgserver import PostgresInstance, children_of

NAME = "slow-storage"
GOAL_S = 60.0
_WATCH_S = 0.05  # throttle: how often new backends are looked for while the server is stopped


@dataclass
class SlowStorageReport:
    mode: str
    detected: bool
    detect_s: float | None  # onset → alarm fired
    incident_s: float | None  # onset → incident opened
    recovered_s: float | None  # fault ended → alarm resolved
    alarm_id: int | None
    incident_id: int | None
    writes_before: int
    writes_during: int
    goal_s: float = GOAL_S
    notes: list[str] = field(default_factory=list)
    started_at: str = ""

    @property
    def passed(self) -> bool:
        return self.detected and self.detect_s is not None and self.detect_s <= self.goal_s

    def sentence(self) -> str:
        if not self.detected:
            return f"slow-storage ({self.mode}): no alarm within the drill's limit; goal {self.goal_s:.0f} s NOT met"
        return (f"slow-storage ({self.mode}): alarm {self.alarm_id} {self.detect_s:.1f} s after onset "
                f"(goal {self.goal_s:.0f} s {'met' if self.passed else 'NOT met'}), incident {self.incident_id} "
                f"after {self.incident_s or 0:.1f} s; resolved {self.recovered_s or 0:.1f} s after the fault ended")

    def as_dict(self) -> dict[str, object]:
        return {"scenario": NAME, **asdict(self), "passed": self.passed, "sentence": self.sentence()}

    def to_markdown(self) -> str:
        def s(v: float | None) -> str:
            return "–" if v is None else f"{v:.1f} s"

        rows = [("Fault", "primary frozen (SIGSTOP of the postmaster and every backend)" if self.mode == "freeze"
                 else "primary throttled (SIGSTOP/SIGCONT duty cycle, ~90 % stopped)"),
                ("Onset → alarm (goal ≤ 60 s)", s(self.detect_s)),
                ("Onset → incident opened", s(self.incident_s)),
                ("Fault ended → alarm resolved", s(self.recovered_s)),
                ("Alarm / incident", f"{self.alarm_id or '–'} / {self.incident_id or '–'}"),
                ("Writes in the second before the fault", str(self.writes_before)),
                ("Writes that got through during the fault", str(self.writes_during))]
        lines = [f"# Drill `{NAME}` ({self.mode}) — {'PASSED' if self.passed else 'FAILED'}", "",
                 f"Started {self.started_at}.", "", "| measure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in rows]
        lines += ["", "## Steps", "", *[f"1. {x}" for x in self.notes], ""]
        return "\n".join(lines)

    def write(self, directory: Path) -> tuple[Path, Path]:
        """``<stamp>-slow-storage-<mode>.json`` and ``.md`` in ``directory`` (as the cluster drills)."""
        return write_pair(directory, self.started_at, f"{NAME}-{self.mode}",
                          json.dumps(self.as_dict(), indent=2, ensure_ascii=False), self.to_markdown())


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # a backend that ended meanwhile
            os.kill(pid, sig)


def thaw(pg: PostgresInstance) -> None:
    """SIGCONT the postmaster and its children (safe to call any time; tests call it in finally)."""
    pid = pg.postmaster_pid()
    if pid is not None:
        _signal_all([pid, *children_of(pid)], signal.SIGCONT)


class _Fault:
    """SIGSTOP the postmaster and its children (freeze), or do so in a duty cycle (throttle)."""

    def __init__(self, pg: PostgresInstance, mode: str, stopped_fraction: float = 0.9, period_s: float = 1.0) -> None:
        pid = pg.postmaster_pid()
        if pid is None:
            raise RuntimeError("the primary is not running; start it before the drill")
        self.pids = [pid, *children_of(pid)]
        self.mode, self.fraction, self.period = mode, stopped_fraction, period_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.mode == "freeze":
            _signal_all(self.pids, signal.SIGSTOP)
            return
        def cycle() -> None:
            while not self._stop.is_set():
                # backends forked since the last cycle (new connections) are slowed down too
                self.pids = [self.pids[0], *children_of(self.pids[0])]
                # jittered, so that a probe on a fixed cadence cannot lock onto the fast moments
                jitter = random.uniform(0.5, 1.5)
                _signal_all(self.pids, signal.SIGSTOP)
                stop_until = time.monotonic() + self.period * self.fraction * jitter
                while not self._stop.wait(min(_WATCH_S, max(0.0, stop_until - time.monotonic()))):
                    # a backend forked in the running moment must not run free through the stop
                    # (slow storage slows every process); catch it within _WATCH_S
                    fresh = [p for p in children_of(self.pids[0]) if p not in self.pids]
                    _signal_all(fresh, signal.SIGSTOP)
                    self.pids += fresh
                    if time.monotonic() >= stop_until:
                        break
                _signal_all(self.pids, signal.SIGCONT)
                self._stop.wait(self.period * (1 - self.fraction) * jitter)
        self._thread = threading.Thread(target=cycle, name="drill-throttle", daemon=True)
        self._thread.start()

    def end(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        _signal_all(self.pids, signal.SIGCONT)


class _WriteLoad:
    """A few writers upserting into the probe table (no patient data) as fast as they can."""

    def __init__(self, url: str, writers: int = 2) -> None:
        self.url, self.writers, self.count = url, writers, 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._write, args=(i,), daemon=True, name=f"drill-load-{i}")
                         for i in range(writers)]

    def _write(self, i: int) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    while not self._stop.is_set():
                        conn.execute("INSERT INTO ops_probe (prober, token, written_at) VALUES (%s, 'load', now()) "
                                     "ON CONFLICT (prober) DO UPDATE SET written_at = now()", (f"drill-load-{i}",))
                        with self._lock:
                            self.count += 1
                        self._stop.wait(0.01)
            except psycopg.Error:
                self._stop.wait(0.5)

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)


def _alarm(store: Store, rule: str, since: str) -> tuple[int, int | None] | None:
    row = store.one("SELECT id, incident_id FROM alarm WHERE rule = ? AND opened_at >= ? ORDER BY id LIMIT 1",
                    (rule, since))
    return (row["id"], row["incident_id"]) if row else None


def run(pg: PostgresInstance, store: Store, *, var_dir: Path, mode: str = "freeze", rule: str = "journal-write",
        tick: Callable[[], object] | None = None, limit_s: float = 120.0, recover_limit_s: float = 60.0,
        writers: int = 2, every_s: float = 1.0, say: Callable[[str], None] | None = None,
        period_s: float = 1.0) -> SlowStorageReport:
    """Inject the fault, wait for the alarm (at most ``limit_s``), end the fault, wait for the
    alarm to resolve. The fault is always ended, whatever happens. With ``tick`` the drill drives
    the ops loop itself, one round every ``every_s`` seconds (evenly spaced, as the service does:
    back-to-back rounds would sample a throttled server mostly in its fast moments). ``say`` gets
    each step as a sentence (progress; they also go into the report's notes)."""
    if mode not in ("freeze", "throttle"):
        raise ValueError("mode must be 'freeze' or 'throttle'")
    clock = SystemClock()
    notes: list[str] = []

    def note(sentence: str) -> None:
        notes.append(sentence)
        if say is not None:
            say(sentence)

    events.emit(var_dir, "drill.started", f"Övning {NAME} ({mode}) startad", "drill", drill=NAME, mode=mode)
    load = _WriteLoad(pg.url(), writers)
    load.start()
    time.sleep(1.0)  # let the load reach a steady pace before the fault (not an assertion)
    writes_before = load.count
    fault = _Fault(pg, mode, period_s=period_s)  # throttle: ~90 % of each (jittered) period stopped
    onset_iso, onset = iso(clock.now()), time.monotonic()
    report = SlowStorageReport(mode, False, None, None, None, None, None, writes_before, 0, notes=notes,
                               started_at=onset_iso)
    fault.start()
    note(f"{'froze' if mode == 'freeze' else 'throttled'} the primary (postmaster pid {fault.pids[0]}) under "
         f"write load ({writes_before} writes in the second before); waiting up to {limit_s:.0f} s for the alarm")
    shown = 0
    events.emit(var_dir, "drill.fault_injected", f"Primärens I/O {'fryst' if mode == 'freeze' else 'strypt'}",
                "drill", drill=NAME)
    try:
        while time.monotonic() - onset < limit_s:
            if tick is not None:
                tick()
            found = _alarm(store, rule, onset_iso)
            if found and report.alarm_id is None:
                report.alarm_id, report.detected = found[0], True
                report.detect_s = round(time.monotonic() - onset, 1)
                note(f"alarm {found[0]} ({rule}) {report.detect_s:.1f} s after onset")
            if found and found[1] is not None:
                report.incident_id, report.incident_s = found[1], round(time.monotonic() - onset, 1)
                note(f"incident {found[1]} opened {report.incident_s:.1f} s after onset")
                break
            if time.monotonic() - onset >= shown + 10:
                shown += 10
                note(f"{shown} s since onset, no alarm yet")
            time.sleep(every_s if tick is not None else 0.5)
    finally:
        fault.end()
        report.writes_during = load.count - writes_before
    ended = time.monotonic()
    note(f"ended the fault after {ended - onset:.1f} s; waiting up to {recover_limit_s:.0f} s for the alarm to resolve")
    events.emit(var_dir, "drill.fault_ended", "Primärens I/O åter normal", "drill", drill=NAME)
    while report.alarm_id is not None and time.monotonic() - ended < recover_limit_s:
        if tick is not None:
            tick()
        row = store.one("SELECT state FROM alarm WHERE id = ?", (report.alarm_id,))
        if row and row["state"] == "resolved":
            report.recovered_s = round(time.monotonic() - ended, 1)
            note(f"alarm {report.alarm_id} resolved {report.recovered_s:.1f} s after the fault ended")
            break
        time.sleep(every_s if tick is not None else 0.5)
    load.stop()
    note(report.sentence())
    events.emit(var_dir, "drill.finished", report.sentence(), "drill", drill=NAME, **{
        k: v for k, v in report.as_dict().items() if k in ("detect_s", "incident_s", "recovered_s", "passed")})
    return report
