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
