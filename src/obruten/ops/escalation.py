"""Escalation by function: a chain of on-call roles, each given N minutes to acknowledge.

``decide`` looks at a snapshot of one alarm and returns what to do and a plain sentence saying
it; the service applies the decision (notifications, the alarm's step) and logs the sentence.
A role that nobody holds right now is skipped at once (F1: the on-call list was called until the
8th person answered). A chain repeats from the top until someone acknowledges. Escalation waits
for daytime only when the alarm's rule says so explicitly (F4: a "B-alarm" read only in daytime).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from obruten.ops.alarms import Alarm
from obruten.platform.i18n import STOCKHOLM, local_time


@dataclass(frozen=True)
class Step:
    role: str
    wait_min: float


@dataclass(frozen=True)
class Chain:
    name: str
    steps: tuple[Step, ...]
    repeat: bool = True

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError(f"escalation chain {self.name!r} has no steps")


@dataclass(frozen=True)
class Decision:
    action: str  # notify | wait | hold | stop | exhausted
    sentence: str
    step: int = -1
    round: int = 0
    role: str | None = None  # None with "notify": nobody holds any role; generic channels only
    until: datetime | None = None


def is_daytime(now: datetime, start_hour: int = 7, end_hour: int = 17) -> bool:
    local = now.astimezone(STOCKHOLM)
    return local.weekday() < 5 and start_hour <= local.hour < end_hour


def decide(alarm: Alarm, chain: Chain, now: datetime, staffed: Callable[[str], bool],
           daytime: Callable[[datetime], bool] = is_daytime) -> Decision:
    if alarm.state != "firing":
        who = alarm.acked_by or alarm.resolved_by or "?"
        return Decision("stop", f"alarm {alarm.id} is {alarm.state} by {who}; chain {chain.name} stopped")
    if alarm.daytime_only and not daytime(now):
        return Decision("hold", f"alarm {alarm.id} is daytime-only by its rule; escalation held until daytime",
                        alarm.step, alarm.round)
    if alarm.step >= 0 and alarm.step_until is not None and now < alarm.step_until:
        role = chain.steps[min(alarm.step, len(chain.steps) - 1)].role
        return Decision("wait", f"waiting for {role} to acknowledge alarm {alarm.id} until "
                                f"{local_time(alarm.step_until, '%H:%M:%S')}", alarm.step, alarm.round, role,
                        alarm.step_until)
    step, round_ = (0, 0) if alarm.step < 0 else (alarm.step + 1, alarm.round)
    skipped: list[str] = []
    for _ in range(len(chain.steps)):
        if step >= len(chain.steps):
            if not chain.repeat:
                return Decision("exhausted", f"chain {chain.name} ran out for alarm {alarm.id} without an "
                                             "acknowledgement; the alarm stays firing", alarm.step, alarm.round)
            step, round_ = 0, round_ + 1
        current = chain.steps[step]
        if staffed(current.role):
            until = now + timedelta(minutes=current.wait_min)
            note = f" (nobody holds {', '.join(skipped)})" if skipped else ""
            return Decision("notify", f"notified {current.role} (step {step + 1} of chain {chain.name}, round "
                                      f"{round_ + 1}) for alarm {alarm.id}{note}; escalates at "
                                      f"{local_time(until, '%H:%M:%S')} unless acknowledged",
                            step, round_, current.role, until)
        skipped.append(current.role)
        step += 1
    first = chain.steps[0]
    return Decision("notify", f"nobody holds any role of chain {chain.name} for alarm {alarm.id}; "
                              "sent to generic channels only", 0, round_ + 1, None,
                    now + timedelta(minutes=first.wait_min))
