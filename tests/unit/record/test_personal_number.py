"""Synthetic personal numbers: a deliberately wrong check digit, so no real person is ever named."""

from __future__ import annotations

from datetime import date

import pytest

from obruten.record import personal_number


def test_personal_number_check_digit_is_deliberately_wrong() -> None:
    assert personal_number.luhn_digit("811218987") == 6
    assert personal_number.luhn_digit("8112189876") == 6
    assert personal_number.is_valid("19811218-9876")
    assert not personal_number.is_synthetic("19811218-9876")
    made = personal_number.make(date(1981, 12, 18), 987)
    assert made == "19811218-9871"
    assert personal_number.is_synthetic(made) and not personal_number.is_valid(made)
    for serial in range(0, 1000, 7):
        pn = personal_number.make(date(2000, 2, 29), serial)
        assert personal_number.is_synthetic(pn) and not personal_number.is_valid(pn)
    assert not personal_number.is_synthetic("19810231-1234")   # no such date
    assert not personal_number.is_valid("1981121-98766")
    with pytest.raises(ValueError):
        personal_number.make(date(1990, 1, 1), 1000)


def test_reserve_numbers_are_recognisable_checked_and_never_a_personal_number() -> None:
    first = personal_number.make_reserve(1)
    assert first == "99000000-0018" and personal_number.is_reserve(first)
    for serial in (1, 42, 999, 123_456_789, 999_999_999):
        pn = personal_number.make_reserve(serial)
        assert pn.startswith("99") and personal_number.is_reserve(pn)
        # no birth year 99xx: neither a real nor a synthetic personal number
        assert not personal_number.is_valid(pn) and not personal_number.is_synthetic(pn)
        assert personal_number.birth_date_of(pn) is None
    typo = first[:-2] + "28"  # one digit wrong: the check digit catches it
    assert not personal_number.is_reserve(typo)
    assert not personal_number.is_reserve(personal_number.make(date(1981, 12, 18), 987))
    with pytest.raises(ValueError):
        personal_number.make_reserve(0)
