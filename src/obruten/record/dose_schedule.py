"""The dose schedule of a medication order: which doses (slots) fall on a day, what state each is
in, and the rules a signing must pass (the slot exists, it is not signed twice, a PRN order stays
within its maximum per 24 h, the time given is plausible). Pure functions: no database, no clock
of their own (the caller passes ``now``), so they are unit-tested directly.

Times of day are Europe/Stockholm wall-clock times; slots are returned as aware UTC datetimes.
A slot is *due* from ``DUE_BEFORE`` before its time until ``OVERDUE_AFTER`` after it, *overdue*
after that while unsigned, *planned* before; *given* / *not given* once signed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from obruten.platform.i18n import STOCKHOLM

DUE_BEFORE = timedelta(minutes=60)
OVERDUE_AFTER = timedelta(minutes=60)
# the time given, entered on the form: at most this far in the future (clock skew, a nurse signing
# at the bedside just before) and at most this far back (a dose signed later in the same shift)
GIVEN_AT_FUTURE = timedelta(minutes=5)
GIVEN_AT_PAST = timedelta(hours=12)
# a slot can be signed from 2 h before to 24 h after its time (yesterday evening's dose after midnight)
SLOT_EARLY = timedelta(hours=2)
SLOT_LATE = timedelta(hours=24)

_TIMES_PER_DAY = re.compile(r"(?:^|\s|\d)x\s*(\d{1,2})\b|\b(\d{1,2})\s*(?:ggr|gånger|times)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Broken:
    """One rule a request breaks: the form field it belongs to, a catalogue key, its values."""

    field: str
    key: str
    values: Mapping[str, object] = dataclasses.field(default_factory=dict)


def times_per_day(frequency: str) -> int | None:
    """N of a frequency written "x N" / "1 x N" / "N ggr" (None if it does not say)."""
    found = _TIMES_PER_DAY.search(frequency)
    if not found:
        return None
    return int(found.group(1) or found.group(2))


def order_rules(*, frequency: str, times: Sequence[time], as_needed: bool, prn_max: int | None,
                start_at: datetime | None, stop_at: datetime | None) -> list[Broken]:
    """What is wrong with an order's schedule (empty: nothing)."""
    broken: list[Broken] = []
    if len(set(times)) != len(times):
        broken.append(Broken("times", "med.error.times_repeated"))
    if as_needed:
        if prn_max is None:
            broken.append(Broken("prn_max_per_24h", "med.error.prn_max_needed"))
        if times:
            broken.append(Broken("times", "med.error.prn_no_times"))
    else:
        if prn_max is not None:
            broken.append(Broken("prn_max_per_24h", "med.error.prn_max_only_prn"))
        n = times_per_day(frequency)
        if not times:
            broken.append(Broken("times", "med.error.times_needed"))
        elif n is None:
            broken.append(Broken("frequency", "med.error.frequency_form"))
        elif n != len(set(times)):
            broken.append(Broken("times", "med.error.times_mismatch", {"n": n, "count": len(set(times))}))
    if start_at and stop_at and stop_at <= start_at:
        broken.append(Broken("stop_at", "med.error.stop_before_start"))
    return broken


def _as_time(value: time | str) -> time:
    return value if isinstance(value, time) else time.fromisoformat(str(value))


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def slots_on(day: date, times: Iterable[time | str], start_at: datetime | str,
             stop_at: datetime | str | None) -> list[datetime]:
    """The order's slots on a Stockholm calendar day (UTC), within its start and stop."""
    start, stop = _as_datetime(start_at), _as_datetime(stop_at)
    out = []
    for t in sorted(_as_time(x) for x in times):
        at = datetime.combine(day, t.replace(tzinfo=None), tzinfo=STOCKHOLM).astimezone(UTC)
        if start is not None and at < start:
            continue
        if stop is not None and at >= stop:
            continue
        out.append(at)
    return out


def today(now: datetime) -> date:
    return now.astimezone(STOCKHOLM).date()


def is_slot(order: Mapping[str, Any], slot: datetime) -> bool:
    """Is ``slot`` one of the order's scheduled doses (right time of day, within start and stop)?"""
    if order.get("as_needed"):
        return False
    return slot.astimezone(UTC) in slots_on(slot.astimezone(STOCKHOLM).date(), order.get("times") or [],
                                            order["start_at"], order.get("stop_at"))


def slot_state(slot: datetime, signed: Sequence[Mapping[str, Any]], now: datetime) -> str:
    """given / not_given (the latest signing of the slot), else overdue / due / planned by the clock."""
    if signed:
        latest = max(signed, key=lambda a: str(a.get("signed_at") or a.get("clinical_at")))
        return "given" if latest["outcome"] == "given" else "not_given"
    if now > slot + OVERDUE_AFTER:
        return "overdue"
    if now >= slot - DUE_BEFORE:
        return "due"
    return "planned"


def day_slots(order: Mapping[str, Any], administrations: Sequence[Mapping[str, Any]], now: datetime) -> list[dict]:
    """Today's slots of a scheduled order, each with its state and its signings (oldest first)."""
    if order.get("as_needed"):
        return []
    out = []
    for slot in slots_on(today(now), order.get("times") or [], order["start_at"], order.get("stop_at")):
        signed = [a for a in administrations if _as_datetime(a.get("slot_at")) == slot]
        out.append({"slot_at": slot, "state": slot_state(slot, signed, now), "signed": signed})
    return out


def prn_given_in_24h(administrations: Iterable[Mapping[str, Any]], at: datetime) -> int:
    """Doses given in the 24 h up to and including ``at``."""
    since = at - timedelta(hours=24)
    return sum(1 for a in administrations
               if a["outcome"] == "given" and since < (_as_datetime(a["clinical_at"]) or at) <= at)


def signing_rules(order: Mapping[str, Any], administrations: Sequence[Mapping[str, Any]], *, outcome: str,
                  slot: datetime | None, given_at: datetime, now: datetime, confirm_reason: str | None,
                  bounded: bool = True) -> list[Broken]:
    """What stands in the way of signing a dose. ``bounded``: the time given was entered by a
    person now (not a downtime record being post-registered), so it must be plausible."""
    broken: list[Broken] = []
    if bounded and given_at > now + GIVEN_AT_FUTURE:
        broken.append(Broken("clinical_at", "med.error.given_in_future", {"minutes": 5}))
    if bounded and given_at < now - GIVEN_AT_PAST:
        broken.append(Broken("clinical_at", "med.error.given_too_early", {"hours": 12}))
    confirmed = bool(confirm_reason and len(confirm_reason.strip()) >= 3)
    if order.get("as_needed"):
        if slot is not None:
            broken.append(Broken("slot_at", "med.error.prn_no_slot"))
        limit = order.get("prn_max_per_24h")
        if outcome == "given" and limit and not confirmed:
            count = prn_given_in_24h(administrations, given_at)
            if count >= limit:
                broken.append(Broken("confirm_reason", "med.confirm.prn_max", {"count": count, "max": limit}))
        return broken
    if slot is None:
        if bounded:
            broken.append(Broken("slot_at", "med.error.slot_needed"))
        return broken
    if not is_slot(order, slot):
        broken.append(Broken("slot_at", "med.error.not_a_slot"))
        return broken
    if bounded and not (now - SLOT_LATE <= slot <= now + SLOT_EARLY):
        broken.append(Broken("slot_at", "med.error.slot_not_near"))
    already = [a for a in administrations if _as_datetime(a.get("slot_at")) == slot]
    if already and not confirmed:
        first = already[0]
        broken.append(Broken("confirm_reason", "med.confirm.slot_signed",
                             {"slot": slot, "at": _as_datetime(first["clinical_at"]),
                              "by": first.get("signed_by_name", "")}))
    return broken
