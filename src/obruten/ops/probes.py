"""Probes and the runner that keeps them bounded.

A probe looks at one part of the system and returns findings. Every probe runs in its own
thread with a deadline: a probe that does not answer in time is itself the finding ("down: no
answer for 4.0 s"), so a frozen primary yields an alarm, never a hung ops service. A probe still
hanging from an earlier round is not started again; it is reported down for as long as it hangs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from obruten.ops.findings import Finding

log = logging.getLogger("obruten.ops.probes")


class Probe(Protocol):
    name: str  # the probe's name in findings and rules
    target: str  # the target named when the probe as a whole does not answer
    deadline_s: float  # how long the runner waits for it

    def check(self, now: datetime) -> list[Finding]:
        """Look once; return findings. May raise: the runner reports the error as a finding."""
        ...


@dataclass
class _Run:
    thread: threading.Thread
    started: float
    result: list[Finding] | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class ProbeRunner:
    def __init__(self, probes: Iterable[Probe]) -> None:
        self.probes = list(probes)
        self._runs: dict[str, _Run] = {}

    def run(self, now: datetime) -> list[Finding]:
        """Run every probe at once and wait for each up to its deadline."""
        for probe in self.probes:
            current = self._runs.get(probe.name)
            if current is None or current.done.is_set():
                self._runs[probe.name] = self._start(probe, now)
        findings: list[Finding] = []
        for probe in self.probes:
            run = self._runs[probe.name]
            remaining = probe.deadline_s - (time.monotonic() - run.started)
            run.done.wait(max(0.0, remaining))
            findings.extend(self._collect(probe, run, now))
        return findings

    def _start(self, probe: Probe, now: datetime) -> _Run:
        run: _Run

        def work() -> None:
            try:
                run.result = probe.check(now)
            except Exception as exc:  # reported as a finding below, with the error text
                log.warning("probe %s failed: %s", probe.name, exc, exc_info=True)
                run.error = exc
            finally:
                run.done.set()

        thread = threading.Thread(target=work, name=f"probe-{probe.name}", daemon=True)
        run = _Run(thread=thread, started=time.monotonic())
        thread.start()
        return run

    def _collect(self, probe: Probe, run: _Run, now: datetime) -> list[Finding]:
        if not run.done.is_set():
            waited = time.monotonic() - run.started
            return [Finding(probe.name, probe.target, "down", round(waited * 1000, 1),
                            f"no answer for {waited:.1f} s", now)]
        if run.error is not None:
            return [Finding(probe.name, probe.target, "down", None,
                            f"probe failed: {type(run.error).__name__}: {run.error}", now)]
        return list(run.result or [])
