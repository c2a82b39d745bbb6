"""The constrained values every model takes its text, ids and times from: one rule, one place.

A pydantic model (or a FastAPI path or query parameter) that says ``Text``, ``Line``, ``Id``,
``ClinicalTime``, ``Moment`` or ``TimeOfDay`` refuses what the database or a page could not hold,
with 422 and a problem naming the field, before any handler or SQL runs:

- ``Text``: free text; no control characters (NUL and the other C0 characters, DEL, lone
  surrogates) except tab and line breaks. ``Line``: the same on one line (names, ids, codes).
- ``Id``: a database id, 1 … 2^63-1 (PostgreSQL ``bigint``, SQLite ``INTEGER``).
- ``Moment``: a time with its UTC offset (within ±14 h, the range of real time zones), between
  1900 and 2200, so every page can show it in local time.
- ``ClinicalTime``: a ``Moment`` that has happened: at most ``FUTURE_SLACK`` ahead of the clock
  (clock skew between a ward PC and the server). Whether it is after the patient's birth needs the
  database: the journal's services check that (``record.service``).
- ``TimeOfDay``: a wall-clock time on the ward, without a time zone.

The JSON schema of ``Text`` and ``Line`` carries the same rule as a pattern, so the published
OpenAPI says what is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from annotated_types import Ge, Le
from pydantic import AfterValidator, AwareDatetime, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

BIGINT_MAX = 2**63 - 1
MAX_UTC_OFFSET = timedelta(hours=14)
FUTURE_SLACK = timedelta(minutes=5)
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

_TEXT_REFUSED = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f"
_LINE_REFUSED = "\\u0000-\\u001f\\u007f"
_TEXT = re.compile(f"[{_TEXT_REFUSED}\\ud800-\\udfff]")
_LINE = re.compile(f"[{_LINE_REFUSED}\\ud800-\\udfff]")


def _text(value: str) -> str:
    if _TEXT.search(value):
        raise PydanticCustomError("control_characters",
                                  "must not contain control characters (such as NUL); tab and line breaks are allowed")
    return value


def _line(value: str) -> str:
    if _LINE.search(value):
        raise PydanticCustomError("control_characters_line",
                                  "must be one line without control characters (such as NUL, tab or line breaks)")
    return value


def _moment(value: datetime) -> datetime:
    offset = value.utcoffset()
    if offset is None:  # AwareDatetime has refused it already; kept for direct callers
        raise PydanticCustomError("timezone_aware", "needs a time zone (an offset such as +01:00, or Z)")
    if abs(offset) > MAX_UTC_OFFSET:
        raise PydanticCustomError("utc_offset", "the UTC offset must be within ±14:00")
    if not EARLIEST <= value <= LATEST:
        raise PydanticCustomError("time_range", "must be between 1900 and 2200")
    return value


def _has_happened(value: datetime) -> datetime:
    if value > datetime.now(UTC) + FUTURE_SLACK:
        raise PydanticCustomError("time_future", "must not be in the future (more than a few minutes ahead)")
    return value


def _time_of_day(value: time) -> time:
    if value.tzinfo is not None:
        raise PydanticCustomError("time_of_day", "a time of day on the ward, without a time zone (HH:MM)")
    return value


@dataclass(frozen=True)
class _Documented:
    """Adds the rule a validator enforces to the JSON schema, as a pattern (validation stays with
    the validator, whose message says what is wrong)."""

    pattern: str

    def __get_pydantic_json_schema__(self, core: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core)
        schema.setdefault("pattern", self.pattern)  # a stricter pattern of the field itself wins
        return schema


Text = Annotated[str, AfterValidator(_text), _Documented(f"^[^{_TEXT_REFUSED}]*$")]
Line = Annotated[str, AfterValidator(_line), _Documented(f"^[^{_LINE_REFUSED}]*$")]
Id = Annotated[int, Ge(1), Le(BIGINT_MAX)]
Moment = Annotated[AwareDatetime, AfterValidator(_moment)]
ClinicalTime = Annotated[AwareDatetime, AfterValidator(_moment), AfterValidator(_has_happened)]
TimeOfDay = Annotated[time, AfterValidator(_time_of_day)]
