"""Reservnummer: the temporary identity of a patient registered on a ward agent during downtime.

Format ``99SSSSSS-SSSC``: ``99`` (a birth year no real personnummer or samordningsnummer can
have, so a reservnummer never collides with a real identity), a 9-digit serial and a Luhn check
digit over the serial (catches a mistyped digit when it is copied by hand). It fits the patient
table's ``personal_number`` format, so the journal creates the patient under it.

Serials are handed out in blocks (``reserve_number_block`` in the journal, non-overlapping by an
exclusion constraint): each ward agent gets its own block in advance and uses it offline, so two
agents never give out the same number. Imports nothing of the record: the agent uses it too.
"""

from __future__ import annotations

import re

PREFIX = "99"
MAX_SERIAL = 999_999_999
AGENT_FIRST_SERIAL = 500_000_000  # agents' blocks start here; the journal's own sequence stays below
BLOCK_SIZE = 50          # numbers per block handed to an agent
REFILL_BELOW = 10        # the agent asks for the next block when fewer remain
_FORMAT = re.compile(r"^99(\d{6})-(\d{3})(\d)$")


def _luhn(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        value = int(ch) * (2 if i % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def make(serial: int) -> str:
    """The reservnummer of ``serial`` (1 … 999 999 999)."""
    if not 1 <= serial <= MAX_SERIAL:
        raise ValueError(f"a reservnummer serial is 1–{MAX_SERIAL}, got {serial}")
    digits = f"{serial:09d}"
    return f"{PREFIX}{digits[:6]}-{digits[6:]}{_luhn(digits)}"


def serial_of(number: str) -> int | None:
    """The serial of a well-formed reservnummer (check digit right), else None."""
    m = _FORMAT.match(number.strip())
    if m is None or _luhn(m.group(1) + m.group(2)) != int(m.group(3)):
        return None
    return int(m.group(1) + m.group(2))


def is_reserve(number: str) -> bool:
    return serial_of(number) is not None
