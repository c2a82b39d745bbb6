"""The constrained values of ``platform.fields``, each rule on its own, and the JSON schema that
tells a client (and the fuzzer) what is refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import BaseModel, Field, ValidationError

from obruten.platform.fields import BIGINT_MAX, ClinicalTime, Id, Line, Moment, Text, TimeOfDay
from obruten.platform.problems import problems_of


class Sample(BaseModel):
    text: Text = ""
    line: Line = Field("", max_length=20)
    id: Id | None = None
    moment: Moment | None = None
    clinical: ClinicalTime | None = None
    times: list[TimeOfDay] = []


def refusal(**values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        Sample(**values)
    (error,) = caught.value.errors()
    return str(error["type"])


@pytest.mark.parametrize("value", ["\x00", "a\x01b", "\x08", "\x0b", "\x0c", "\x1b[31m", "\x7f", "\ud800"])
def test_text_refuses_control_characters(value: str) -> None:
    assert refusal(text=value) in ("control_characters", "string_unicode")


def test_text_keeps_tab_and_line_breaks_and_any_letter() -> None:
    assert Sample(text="Rad\tett\r\nrad två: åäö ÅÄÖ é ß 中 🙂").text.startswith("Rad\tett")


@pytest.mark.parametrize("value", ["två\nrader", "tab\there", "\r", "\x00"])
def test_a_line_is_one_line(value: str) -> None:
    assert refusal(line=value) == "control_characters_line"


@pytest.mark.parametrize("value, refused", [(0, "greater_than_equal"), (BIGINT_MAX + 1, "less_than_equal"),
                                            (-(2**70), "greater_than_equal")])
def test_ids_stay_within_bigint(value: int, refused: str) -> None:
    assert refusal(id=value) == refused
    assert Sample(id=BIGINT_MAX).id == BIGINT_MAX


@pytest.mark.parametrize("value, refused", [
    ("2026-01-01T10:00:00+14:01", "utc_offset"), ("2026-01-01T10:00:00-15:00", "utc_offset"),
    ("2026-01-01T10:00:00", "timezone_aware"), ("1899-12-31T23:00:00Z", "time_range"),
    ("9999-12-31T23:59:59Z", "time_range"),
])
def test_a_moment_is_aware_with_a_real_offset_in_a_showable_range(value: str, refused: str) -> None:
    assert refusal(moment=value) == refused
    assert Sample(moment="2026-01-01T10:00:00+14:00").moment is not None


def test_a_clinical_time_has_happened_give_or_take_clock_skew() -> None:
    now = datetime.now(UTC)
    assert Sample(clinical=now + timedelta(minutes=2)).clinical is not None
    assert refusal(clinical=now + timedelta(minutes=30)) == "time_future"
    assert refusal(clinical="2026-01-01T10:00:00+16:00") == "utc_offset"


def test_a_time_of_day_has_no_time_zone() -> None:
    assert Sample(times=["08:00", "20:30"]).times == [time(8), time(20, 30)]
    assert refusal(times=["08:00+01:00"]) == "time_of_day"


def test_the_json_schema_says_what_is_refused() -> None:
    schema = Sample.model_json_schema()["properties"]
    text, line = re.compile(schema["text"]["pattern"]), re.compile(schema["line"]["pattern"])
    assert text.fullmatch("a\tb\nc") and not text.fullmatch("a\x00b")
    assert line.fullmatch("a b") and not line.fullmatch("a\nb") and schema["line"]["maxLength"] == 20
    assert schema["id"]["anyOf"][0] == {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX}


def test_problems_name_the_field_in_the_readers_language() -> None:
    with pytest.raises(ValidationError) as caught:
        Sample(line="x" * 21, text="\x00")
    errors = [{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()]
    assert problems_of(errors, "sv") == ["text: får inte innehålla styrtecken (till exempel NUL); tabb och radbrytning går bra",
                                         "line: är för långt (högst 20 tecken)"]
    assert problems_of(errors, "en")[1] == "line: is too long (at most 20 characters)"
