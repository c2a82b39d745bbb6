"""Feature flags: every behaviour change staff or operators would notice ships behind a named flag,
off on upgrade until someone switches it on, per region or per unit.

This module is the mechanism (no domain): a ``Flag`` says what it does in Swedish and English and
in which release it came; a ``Switch`` is one recorded decision (on/off, region-wide or for one
unit, by whom, why). The newest switch for a unit wins over the newest region-wide one; with no
switch a flag is off. Each domain lists its flags in its own catalogue (``record/flags.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

REGION = ""  # the scope of a region-wide switch


@dataclass(frozen=True)
class Flag:
    name: str
    release: str  # the release that introduced it, e.g. "2026.12"
    sv: str  # what switching it on changes, for staff and operators
    en: str

    def describe(self, language: str) -> str:
        return self.sv if language == "sv" else self.en


@dataclass(frozen=True)
class Switch:
    flag: str
    unit: str  # REGION for region-wide
    on: bool
    at: datetime
    by: str
    reason: str


def state(switches: Iterable[Switch], flag: str, unit: str | None = None) -> bool:
    """Is ``flag`` on for ``unit`` (or region-wide when None)? ``switches`` in any order."""
    region: Switch | None = None
    local: Switch | None = None
    for s in switches:
        if s.flag != flag:
            continue
        if s.unit == REGION and (region is None or s.at >= region.at):
            region = s
        elif unit is not None and s.unit == unit and (local is None or s.at >= local.at):
            local = s
    chosen = local or region
    return bool(chosen and chosen.on)


class FlagCache:
    """Switches read at most every ``ttl`` seconds (a switch takes effect within that), so asking is
    free on a request path. ``load`` reads all switches; if it fails the last known ones stay."""

    def __init__(self, load: Callable[[], Sequence[Switch]], ttl: float = 5.0) -> None:
        self._load, self.ttl = load, ttl
        self._switches: Sequence[Switch] = ()
        self._read_at = float("-inf")

    @property
    def switches(self) -> Sequence[Switch]:
        return self._switches

    def set(self, switches: Sequence[Switch]) -> None:
        """Take switches read elsewhere (an async reader: ``record.flags.following``)."""
        self._switches = tuple(switches)
        self._read_at = time.monotonic()

    def refresh(self) -> None:
        self._switches = self._load()
        self._read_at = time.monotonic()

    def on(self, flag: str, unit: str | None = None) -> bool:
        if time.monotonic() - self._read_at > self.ttl:
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a database hiccup keeps the last known state
                self._read_at = time.monotonic()
        return state(self._switches, flag, unit)
