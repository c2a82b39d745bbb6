"""Translations (Swedish default, English) and how times are shown (Europe/Stockholm, 24 h).

Strings live in ``locale/<area>.<lang>.json``; every area's files are merged, so each part of
the UI keeps its own file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

LANGUAGES = ("sv", "en")
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def pick_language(chosen: str | None, default: str = "sv") -> str:
    """The reader's language: what they chose (cookie, query) if we have it, else the configured
    default if we have that, else Swedish. The one resolver every UI uses."""
    if chosen and chosen in LANGUAGES:
        return chosen
    return default if default in LANGUAGES else "sv"


@cache
def catalog(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for entry in sorted(resources.files("obruten.platform").joinpath("locale").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(f".{lang}.json"):
            merged.update(json.loads(entry.read_text(encoding="utf-8")))
    return merged


def translator(lang: str) -> Callable[..., str]:
    lang = lang if lang in LANGUAGES else "sv"
    primary, fallback = catalog(lang), catalog("sv")

    def t(key: str, **values: object) -> str:
        text = primary.get(key) or fallback.get(key) or key
        return text.format(**values) if values else text

    return t


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC (or any aware) time as Europe/Stockholm, 24-hour clock; never fails on a stored value."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(STOCKHOLM).strftime(fmt)
    except (OverflowError, ValueError):  # a stored time at the edge of the calendar (year 1, 9999): shown as stored
        return value.isoformat()
