"""De-identification of an analysis for export: personal numbers and people's names are removed,
and the report says how many.

What it removes:
- Swedish personal numbers and coordination numbers (day + 60), with or without century and
  with ``-``, ``+``, a space or no separator: ``19121212-1212``, ``121212-1212``, ``1212121212``,
  ``121272+1212`` …;
- names after a role or title word ("patienten Anna Berg", "ssk Kim", "dr. Lind");
- any run of capitalised words that the name sources know (ops users, the journal's staff and
  patients, the people named in the analysis header);
- the people fields of the header (commissioner, leader, team, signer) entirely.
Its limits are in ADR 0031: names written in lower case, nicknames and misspellings, or names no
source knows and no title word introduces, stay.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import TypeVar

from obruten.ops.analysis.names import NameSource

PERSONAL_NUMBER_MARK = "[personnummer]"
NAME_MARK = "[namn]"

_PN = re.compile(
    r"(?<![\d-])(?:19|20)?\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]|6[1-9]|[78]\d|9[01])[-+ ]?\d{4}(?![\d-])")
_UPPER = "A-ZÅÄÖÉÜ"
_WORD = rf"[{_UPPER}][a-zåäöéüß'’]+(?:-[{_UPPER}][a-zåäöéüß'’]+)?"
_CAPITALISED = re.compile(rf"\b{_WORD}(?:\s+{_WORD})*")
_TITLE = (r"patient(?:en)?|pat\.|pt\.?|läkare(?:n)?|dr\.?|doktor(?:n)?|överläkare(?:n)?|chefläkare(?:n)?|"
          r"st-läkare(?:n)?|at-läkare(?:n)?|ssk|sjuksköterska(?:n)?|usk|undersköterska(?:n)?|barnmorska(?:n)?|"
          r"kurator(?:n)?|sekreterare(?:n)?|anhörig(?:a)?|make(?:n)?|maka(?:n)?|dotter(?:n)?|son(?:en)?|"
          r"mr\.?|mrs\.?|ms\.?|nurse|doctor|herr|fru")
_TITLED = re.compile(rf"\b(?i:{_TITLE})\s+({_WORD}(?:\s+{_WORD}){{0,2}})")
# header fields that name people: replaced whole (counted when the report shows them)
PEOPLE_FIELDS = ("commissioner", "leader", "team", "signed_by")
HIDDEN_PEOPLE_FIELDS = ("created_by",)
# free-text fields that are scrubbed
TEXT_FIELDS = ("title", "scope", "summary", "consequences", "reason", "text", "question", "answer", "description",
               "owner", "measure")

T = TypeVar("T")


@dataclass
class Removed:
    personal_numbers: int = 0
    names: int = 0
    sources: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.personal_numbers + self.names


class Deidentifier:
    """Scrubs text; first ``learn`` the texts (one question to each name source), then ``clean``."""

    def __init__(self, sources: Sequence[NameSource]) -> None:
        self.sources = list(sources)
        self.known: set[str] = set()
        self.removed = Removed(sources=[s.name for s in self.sources])

    def learn(self, texts: Iterable[str]) -> None:
        words: set[str] = set()
        for text in texts:
            for run in _CAPITALISED.findall(_PN.sub(" ", text)):
                words.update(part for w in run.split() for part in w.split("-"))
                words.update(run.split())
        for source in self.sources:
            self.known |= source.known(words)

    def clean(self, text: str) -> str:
        text, n = _PN.subn(PERSONAL_NUMBER_MARK, text)
        self.removed.personal_numbers += n

        def titled(m: re.Match[str]) -> str:
            self.removed.names += 1
            return m.group(0)[: m.start(1) - m.start(0)] + NAME_MARK

        text = _TITLED.sub(titled, text)
        return _CAPITALISED.sub(self._known_runs, text)

    def _known_runs(self, m: re.Match[str]) -> str:
        """Within a run of capitalised words, each stretch of known name words becomes one mark."""
        out: list[str] = []
        in_name = False
        for token in re.split(r"(\s+)", m.group(0)):
            if token.isspace():
                out.append(token)
                continue
            if self._is_name(token):
                if in_name:
                    out.pop()  # the space between two name words goes with them
                else:
                    out.append(NAME_MARK)
                    self.removed.names += 1
                in_name = True
            else:
                in_name = False
                out.append(token)
        return "".join(out)

    def _is_name(self, word: str) -> bool:
        return word in self.known or all(part in self.known for part in word.split("-"))

    def person(self, value: str, shown: bool = True) -> str:
        if not value.strip():
            return value
        self.removed.names += int(shown)
        return NAME_MARK


def texts_of(obj: object) -> Iterable[str]:
    """Every free-text string in a model tree (for ``Deidentifier.learn``)."""
    if is_dataclass(obj):
        for f in fields(obj):
            value = getattr(obj, f.name)
            if f.name in TEXT_FIELDS and isinstance(value, str):
                yield value
            elif isinstance(value, tuple | list) or is_dataclass(value):
                yield from texts_of(value)
    elif isinstance(obj, tuple | list):
        for item in obj:
            yield from texts_of(item)


def scrub(obj: T, deid: Deidentifier) -> T:
    """A copy of a model tree (frozen dataclasses) with its text scrubbed."""
    if is_dataclass(obj) and not isinstance(obj, type):
        changes: dict[str, object] = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            if f.name in PEOPLE_FIELDS or f.name in HIDDEN_PEOPLE_FIELDS:
                shown = f.name in PEOPLE_FIELDS
                if isinstance(value, str):
                    changes[f.name] = deid.person(value, shown)
                elif isinstance(value, tuple):
                    changes[f.name] = tuple(deid.person(v, shown) for v in value)
            elif f.name in TEXT_FIELDS and isinstance(value, str):
                changes[f.name] = deid.clean(value)
            elif isinstance(value, tuple) or is_dataclass(value):
                changes[f.name] = scrub(value, deid)
        return replace(obj, **changes)
    if isinstance(obj, tuple):
        return tuple(scrub(item, deid) for item in obj)  # type: ignore[return-value]
    return obj
