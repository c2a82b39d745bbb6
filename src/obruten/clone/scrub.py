"""Free text without names and numbers: every capitalised word that is a name known to the source
(patients' and staff's names) becomes a synthetic name (so "per dag" stays, "Per" goes); personal numbers, phone numbers and
e-mail addresses become a bracketed placeholder.

Tokenising and looking words up in a set keeps the cost per character flat however many names
the region has (a regular expression of 100,000 alternatives would not).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

# 19121212-1212, 191212121212, 121212-1212, 1212121212, with - or + or a space before the last four
PERSONAL_NUMBER = re.compile(r"(?<!\d)(?:\d{2})?\d{6}[-+ ]?\d{4}(?!\d)")
PHONE = re.compile(r"(?<![\d-])(?:\+46|0)\d{1,3}[- ]?\d{2,3}[- ]?\d{2}[- ]?\d{2,3}(?!\d)")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")

PN_MASK = "[personnummer borttaget]"
PHONE_MASK = "[telefonnummer borttaget]"
EMAIL_MASK = "[e-post borttagen]"


def digits_of_personal_number(text: str) -> str:
    """The last ten digits (YYMMDDNNNC) of a personal-number-like token, to compare forms."""
    return re.sub(r"\D", "", text)[-10:]


class Scrubber:
    def __init__(self, names: Iterable[str], replace: Callable[[str], str],
                 exact: dict[str, str] | None = None) -> None:
        self._names = {n.casefold() for n in names if len(n) >= 2}
        self._exact = exact or {}  # whole values replaced as they are (user names in actor columns)
        self._replace = replace
        self.replaced = 0

    def _word(self, match: re.Match[str]) -> str:
        word = match.group(0)
        if not word[0].isupper() or word.casefold() not in self._names:
            return word
        self.replaced += 1
        new = self._replace(word)
        return new.upper() if word.isupper() and len(word) > 1 else new

    def __call__(self, text: str | None) -> str | None:
        if not text:
            return text
        if text in self._exact:
            self.replaced += 1
            return self._exact[text]
        if any(ch.isdigit() for ch in text):
            text = PERSONAL_NUMBER.sub(PN_MASK, text)
            text = PHONE.sub(PHONE_MASK, text)
        if "@" in text:
            text = EMAIL.sub(EMAIL_MASK, text)
        return WORD.sub(self._word, text)
