"""An order that matches a recorded allergy by substance, product or drug class is caught."""

from __future__ import annotations

from obruten.record.allergy import classes_of, match, matching_warnings


def test_penicillin_allergy_catches_kavepenin_by_class() -> None:
    assert classes_of("fenoximetylpenicillin", "Kåvepenin") == ["penicilliner"]
    assert match("Penicillinallergi", "fenoximetylpenicillin", "Kåvepenin") == "penicilliner"
    assert match("PENICILLINALLERGI (utslag 2019)", "", "Kåvepenin") == "penicilliner"
    assert match("Penicillinallergi", "piperacillin, tazobaktam", "Piperacillin/Tazobactam") == "penicilliner"


def test_substance_named_in_the_warning_matches() -> None:
    assert match("Reaktion på morfin 2021", "morfin", "Morfin") == "morfin"
    assert match("Överkänslighet mot NSAID", "acetylsalicylsyra", "Trombyl") == "nsaid"


def test_unrelated_drugs_do_not_match() -> None:
    assert match("Penicillinallergi", "furosemid", "Furix") is None
    assert match("Penicillinallergi", "klindamycin", "Dalacin") is None
    assert match("Latexallergi", "paracetamol", "Alvedon") is None


def test_only_active_warnings_count() -> None:
    warnings = [{"text": "Penicillinallergi", "active": False}, {"text": "Sulfaallergi", "active": True}]
    assert matching_warnings(warnings, "fenoximetylpenicillin", "Kåvepenin") == []
    found = matching_warnings(warnings, "sulfametoxazol", "Eusaprim")
    assert [w["matched"] for w in found] == ["sulfonamider"]
