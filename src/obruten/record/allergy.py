"""Does a medication order match one of the patient's recorded allergies or warnings?

A small, explicit table maps substances and product names to drug classes (ADR 0047). An order
matches a warning when the warning text names the order's substance or product, or names a class
the substance or product belongs to (by any of the class's words: "Penicillinallergi" names the
class penicilliner through "penicillin"). Text is compared case- and accent-insensitively. The
table is deliberately small and visible; a miss is possible, a match is always shown with the
warning it matched so the prescriber judges it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

# class -> (words that name the class in a warning text, substances and product names in it)
CLASSES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "penicilliner": (("penicillin", "betalaktam"),
                     ("fenoximetylpenicillin", "kåvepenin", "bensylpenicillin", "bensylpenicillin meda",
                      "amoxicillin", "amimox", "ampicillin", "flukloxacillin", "heracillin",
                      "piperacillin", "tazocin", "pivmecillinam", "selexid")),
    "cefalosporiner": (("cefalosporin", "betalaktam"),
                       ("cefuroxim", "zinacef", "cefotaxim", "ceftriaxon", "cefadroxil", "ceftazidim")),
    "sulfonamider": (("sulfa", "sulfonamid"),
                     ("sulfametoxazol", "trimetoprim-sulfametoxazol", "eusaprim", "bactrim")),
    "nsaid": (("nsaid", "antiinflammator", "cox-hämmare"),
              ("ibuprofen", "ipren", "brufen", "diklofenak", "voltaren", "naproxen", "pronaxen",
               "ketoprofen", "acetylsalicylsyra", "trombyl", "magnecyl")),
    "opioider": (("opioid", "opiat"),
                 ("morfin", "oxikodon", "oxynorm", "oxycontin", "kodein", "tramadol", "fentanyl",
                  "ketobemidon", "ketogan")),
    "makrolider": (("makrolid",), ("erytromycin", "ery-max", "klaritromycin", "azitromycin")),
    "kinoloner": (("kinolon",), ("ciprofloxacin", "ciproxin", "levofloxacin", "moxifloxacin")),
    "jodkontrast": (("jodkontrast", "kontrastmedel"), ("iohexol", "omnipaque", "jodixanol", "visipaque")),
}


def _plain(text: str) -> str:
    """Lower case without accents except å/ä/ö (which Swedish spells with): 'Kåvepenin' stays."""
    out = []
    for ch in unicodedata.normalize("NFC", text.lower()):
        if ch in "åäö":
            out.append(ch)
        else:
            out.append("".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c)))
    return "".join(out)


def classes_of(*names: str) -> list[str]:
    """The classes a substance or product name belongs to (in table order)."""
    plain = [_plain(n).strip() for n in names if n and n.strip()]
    found = []
    for cls, (_, members) in CLASSES.items():
        if any(member in name or name == member for name in plain for member in members):
            found.append(cls)
    return found


def match(warning_text: str, substance: str, drug: str) -> str | None:
    """Why the warning concerns this order (the substance, product or class it names), else None."""
    text = _plain(warning_text)
    for name in (substance, drug):
        word = _plain(name).strip()
        if len(word) >= 4 and word in text:
            return name.strip()
    for cls in classes_of(substance, drug):
        words, members = CLASSES[cls]
        if any(w in text for w in (cls, *words)) or any(m in text for m in members):
            return cls
    return None


def matching_warnings(warnings: Iterable[Mapping[str, Any]], substance: str, drug: str) -> list[dict]:
    """The patient's active warnings this order touches, each with ``matched`` (what matched)."""
    out = []
    for w in warnings:
        if w.get("active", True) is False:
            continue
        why = match(str(w.get("text", "")), substance, drug)
        if why:
            out.append({**w, "matched": why})
    return out
