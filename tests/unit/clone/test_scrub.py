"""Free-text scrubbing: names and numbers go, clinical words stay."""

from __future__ import annotations

from datetime import date

from obruten.clone.identities import Pseudonyms
from obruten.clone.scrub import PN_MASK, Scrubber, digits_of_personal_number


def _scrubber() -> Scrubber:
    return Scrubber({"Per", "Karin", "Lind"}, lambda word: "Xname", exact={"kalind": "ssk7"})


def test_names_numbers_phones_and_mail_go() -> None:
    text = "Karin LIND 19450101-1234 ringde från 070-123 45 67 (karin@example.se), pnr 4501011234."
    out = _scrubber()(text)
    assert out == (f"Xname XNAME {PN_MASK} ringde från [telefonnummer borttaget] ([e-post borttagen]), "
                   f"pnr {PN_MASK}.")


def test_clinical_words_and_codes_stay() -> None:
    text = "Alvedon 1 g x 4 per dag, Per mår bättre. LAB-2KQDMAF-0000042 kl 08:00 den 2026-11-30, 5000 E."
    out = _scrubber()(text)
    assert out == "Alvedon 1 g x 4 per dag, Xname mår bättre. LAB-2KQDMAF-0000042 kl 08:00 den 2026-11-30, 5000 E."


def test_user_names_as_whole_values() -> None:
    scrub = _scrubber()
    assert scrub("kalind") == "ssk7"
    assert scrub("kalind skrev") == "kalind skrev"  # only whole values: user names are not words


def test_new_numbers_never_reuse_a_source_number_in_any_form() -> None:
    names = Pseudonyms()
    first = names.personal_number(date(1945, 1, 1), "M")
    names2 = Pseudonyms(taken={digits_of_personal_number(first.replace("1945", "2045"))})
    again = names2.personal_number(date(1945, 1, 1), "M")
    assert again != first and int(again[-4:-1]) % 2 == 1  # next odd serial: still a man's number


def test_names_never_map_to_themselves() -> None:
    names = Pseudonyms()
    for given in ("Anna", "Eva", "Lars", "Per"):
        assert names.given_name(given, "F") != given and names.any_given(given) != given
    assert all(names.family_name(f) != f for f in ("Andersson", "Berg", "Holm"))
