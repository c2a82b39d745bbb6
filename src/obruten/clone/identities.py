"""Replacement identities: a synthetic personal number, name and birth date per patient, a synthetic
user name and name per staff member, and a whole-day date shift per patient.

Everything is derived from a random key that exists only while the clone runs (never stored or
printed), so the mapping cannot be recomputed afterwards: the clone is a one-way pseudonymisation.
Personal numbers come from the project's synthetic series (``record.personal_number.make``: a
deliberately wrong check digit, so no number can belong to a real person).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import date

from obruten.clone.scrub import digits_of_personal_number
from obruten.devtools.seed import FAMILY, GIVEN_F, GIVEN_M
from obruten.postreg import reserve
from obruten.record import personal_number

GIVEN = tuple(sorted(set(GIVEN_F) | set(GIVEN_M)))


@dataclass
class Pseudonyms:
    """Deterministic within one clone, unrecoverable after it (the key is never kept)."""

    max_shift_days: int = 30
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    taken: set[str] = field(default_factory=set)  # the source's numbers (last ten digits): never handed out again
    _serials: dict[tuple[date, int], int] = field(default_factory=dict)
    _reserve_next: int | None = None

    def _pick(self, purpose: str, value: str, choices: tuple[str, ...], avoid: str = "") -> str:
        digest = hmac.new(self.key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
        index = int.from_bytes(digest[:8], "big") % len(choices)
        if choices[index].casefold() == avoid.casefold():
            index = (index + 1) % len(choices)
        return choices[index]

    def shift_key(self) -> str:
        """The text the database hashes with a patient id to get its shift (see ``transfer``)."""
        return self.key.hex()

    def given_name(self, source: str, sex: str) -> str:
        choices = GIVEN_F if sex == "F" else GIVEN_M if sex == "M" else GIVEN
        return self._pick("given", source, choices, avoid=source)

    def family_name(self, source: str) -> str:
        return self._pick("family", source, FAMILY, avoid=source)

    def any_given(self, source: str) -> str:
        """A replacement for a given name met in free text."""
        return self._pick("given", source, GIVEN, avoid=source)

    def personal_number(self, birth: date, sex: str) -> str:
        """A new, unique synthetic number for a (shifted) birth date; the serial's parity keeps the
        sex (odd for men, even otherwise), as in real numbers."""
        parity = 1 if sex == "M" else 0
        k = self._serials.get((birth, parity), 0)
        while True:
            if k >= 500:
                raise ValueError(f"more than 500 patients of one sex share the birth date {birth}")
            number = personal_number.make(birth, 2 * k + parity)
            k += 1
            if digits_of_personal_number(number) not in self.taken:
                self._serials[(birth, parity)] = k
                return number

    def reserve_number(self) -> str:
        """A new reservnummer (for a patient whose identity was unknown): from a random point of the
        journal's own serial range, never one the source holds."""
        if self._reserve_next is None:
            self._reserve_next = secrets.randbelow(400_000_000) + 1
        while True:
            number = reserve.make(self._reserve_next)
            self._reserve_next += 1
            if digits_of_personal_number(number) not in self.taken:
                return number

    def username(self, staff_id: int, role: str) -> str:
        prefix = {"physician": "lakare", "nurse": "ssk", "admin": "admin", "it": "it"}.get(role, "personal")
        return f"{prefix}{staff_id}"

    def full_name(self, source: str, staff_id: int) -> str:
        parts = source.split()
        given = self.any_given(parts[0] if parts else str(staff_id))
        family = self.family_name(parts[-1] if parts else str(staff_id))
        return f"{given} {family}"
