"""Synthetic Swedish personal numbers (personnummer) that can never belong to a real person.

Format: ``YYYYMMDD-NNNC``. The birth date is a real calendar date and ``NNN`` an ordinary serial
(its last digit odd for men, even for women, as in real numbers), but the check digit ``C`` is
deliberately WRONG: ``C = (luhn_check_digit + 5) % 10``. A real personal number always carries the
true Luhn check digit (computed over ``YYMMDDNNN``), and ``(x + 5) % 10 != x`` for every digit, so
no number made here is a valid personal number — it cannot identify a real person, yet it looks
right to anyone reading a ward list.

``is_valid`` answers "is this a genuine, Luhn-valid personal number?"; ``is_synthetic`` answers
"was this made by ``make`` (shifted check digit)?". The two are mutually exclusive.
"""

from __future__ import annotations

import re
from datetime import date

_FORMAT = re.compile(r"^(\d{4})(\d{2})(\d{2})-(\d{3})(\d)$")
SHIFT = 5


def luhn_digit(ten_digits: str) -> int:
    """The true Luhn check digit for ``YYMMDDNNN``.

    Accepts the nine digits ``YYMMDDNNN`` or the ten-digit form ``YYMMDDNNNC`` (``C`` is ignored).
    """
    digits = ten_digits[:9]
    if len(ten_digits) not in (9, 10) or not ten_digits.isdigit():
        raise ValueError(f"expected 9 or 10 digits, got {ten_digits!r}")
    total = 0
    for i, ch in enumerate(digits):
        value = int(ch) * (2 if i % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def _parts(pn: str) -> tuple[str, int] | None:
    """``(YYMMDDNNN, C)`` if ``pn`` is well formed with a real calendar date, else None."""
    m = _FORMAT.match(pn)
    if m is None:
        return None
    year, month, day, serial, check = m.groups()
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return None
    return f"{year[2:]}{month}{day}{serial}", int(check)


def is_valid(pn: str) -> bool:
    """True if ``pn`` is a well-formed personal number with the TRUE Luhn check digit."""
    parts = _parts(pn)
    return parts is not None and luhn_digit(parts[0]) == parts[1]


def is_synthetic(pn: str) -> bool:
    """True if ``pn`` is well formed and its check digit is the shifted one ``(luhn + 5) % 10``."""
    parts = _parts(pn)
    return parts is not None and (luhn_digit(parts[0]) + SHIFT) % 10 == parts[1]


def make(birth_date: date, serial: int) -> str:
    """A synthetic personal number for ``birth_date`` and ``serial`` (0–999), with a wrong check digit."""
    if not 0 <= serial <= 999:
        raise ValueError(f"serial must be 0–999, got {serial}")
    ymd = f"{birth_date.year:04d}{birth_date.month:02d}{birth_date.day:02d}"
    nnn = f"{serial:03d}"
    check = (luhn_digit(ymd[2:] + nnn) + SHIFT) % 10
    return f"{ymd}-{nnn}{check}"


# ---- reserve numbers (reservnummer) --------------------------------------------------------------
# For a patient whose identity is not (yet) known: ``99SSSSSS-SSSC``, a nine-digit serial (a database
# sequence) and its true Luhn check digit, so a mistyped digit is caught. No personal number starts
# with 99 (there is no birth year 99xx), so a reserve number never collides with a real or a
# synthetic one and anyone reading it sees at once that it is a reserve number (docs/adr/0046).
RESERVE_PREFIX = "99"
_RESERVE = re.compile(r"^99(\d{6})-(\d{3})(\d)$")


def make_reserve(serial: int) -> str:
    """The reserve number for ``serial`` (1–999 999 999)."""
    if not 1 <= serial <= 999_999_999:
        raise ValueError(f"reserve serial must be 1–999999999, got {serial}")
    digits = f"{serial:09d}"
    return f"{RESERVE_PREFIX}{digits[:6]}-{digits[6:]}{luhn_digit(digits)}"


def is_reserve(pn: str) -> bool:
    """True if ``pn`` is a well-formed reserve number with its check digit right."""
    m = _RESERVE.match(pn)
    return m is not None and luhn_digit(m.group(1) + m.group(2)) == int(m.group(3))


def birth_date_of(pn: str) -> date | None:
    """The birth date a (real or synthetic) personal number carries, else None."""
    parts = _parts(pn)
    if parts is None or pn.startswith(RESERVE_PREFIX):
        return None
    return date(int(pn[:4]), int(pn[4:6]), int(pn[6:8]))


def sex_of(pn: str) -> str:
    """"F" or "M" from the serial's last digit (odd for men), as in real numbers."""
    return "M" if int(pn[11]) % 2 else "F"
