"""The writer's ledger: every write the database acknowledged, and every failed attempt.

A write counts as acknowledged only when COMMIT returned; a write whose outcome is unknown (the
connection broke during COMMIT) is counted separately and never as lost.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Ack:
    entry_id: str
    order_number: str
    port: int  # the member that acknowledged it
    sent: float  # time.time() when the write was sent
    acked: float


@dataclass
class Ledger:
    acks: list[Ack] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)
    unknown: int = 0
    last_ack: float = 0.0
    latencies: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ack(self, a: Ack) -> None:
        with self._lock:
            self.acks.append(a)
            self.last_ack = max(self.last_ack, a.acked)
            self.latencies.append(a.acked - a.sent)

    def fail(self, at: float, error: str, in_commit: bool = False) -> None:
        with self._lock:
            self.failures.append((at, error))
            if in_commit:
                self.unknown += 1

    def ack_times(self) -> list[float]:
        with self._lock:
            return sorted(a.acked for a in self.acks)

    def snapshot(self) -> list[Ack]:
        with self._lock:
            return list(self.acks)


def write_gap(ack_times: list[float], fault_at: float) -> tuple[float, float] | None:
    """The longest pause between acknowledged writes that is under way at or after the fault.

    Returns (start, end) of that pause; ``end - fault_at`` is the time until writes were accepted
    again (RTO). None if no write was acknowledged after the fault.
    """
    after = [t for t in ack_times if t >= fault_at]
    if not after:
        return None
    before = [t for t in ack_times if t < fault_at]
    points = ([before[-1]] if before else [fault_at]) + after
    best = max(zip(points, points[1:], strict=False), key=lambda p: p[1] - p[0], default=(fault_at, after[0]))
    return best


def writer_runs(acks: list[Ack]) -> list[tuple[int, float, float]]:
    """Acknowledged writes in time order, grouped into runs by the member that took them.

    With one primary at a time there is one run per primary; writes from two members that
    interleave (A, B, A, B) show up as more runs than there were changes of primary.
    """
    runs: list[tuple[int, float, float]] = []
    for a in sorted(acks, key=lambda a: a.acked):
        if runs and runs[-1][0] == a.port:
            runs[-1] = (a.port, runs[-1][1], a.acked)
        else:
            runs.append((a.port, a.acked, a.acked))
    return runs
