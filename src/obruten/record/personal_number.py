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

from obruten.postreg import reserve

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
# For a patient whose identity is not (yet) known: ``99SSSSSS-SSSC`` (docs/adr/0046). The format and
# its serial ranges have one home, ``postreg.reserve``, which the offline ward agent shares: the
# journal's own serials (admission of an unidentified patient) come from ``reserve_number_seq``
# (1 … 499 999 999), ward agents' blocks from 500 000 000 up, so the two never meet.
RESERVE_PREFIX = reserve.PREFIX
make_reserve = reserve.make
is_reserve = reserve.is_reserve


def birth_date_of(pn: str) -> date | None:
    """The birth date a (real or synthetic) personal number carries, else None."""
    parts = _parts(pn)
    if parts is None or pn.startswith(RESERVE_PREFIX):
        return None
    return date(int(pn[:4]), int(pn[4:6]), int(pn[6:8]))


def sex_of(pn: str) -> str:
    """"F" or "M" from the serial's last digit (odd for men), as in real numbers."""
    return "M" if int(pn[11]) % 2 else "F"
