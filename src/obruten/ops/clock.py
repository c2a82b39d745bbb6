"""Time for the ops service: an injectable clock, and one text form for stored times."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock the tests move by hand (escalation runs on it)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2025, 1, 15, 2, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0, minutes: float = 0) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, minutes=minutes)
            return self._now


def iso(value: datetime) -> str:
    """Stored form: UTC, microseconds always present, so text order is time order."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_required(text: str) -> datetime:
    """A stored time that is always there (a NOT NULL column)."""
    value = parse(text)
    if value is None:
        raise ValueError("a stored time is empty")
    return value
