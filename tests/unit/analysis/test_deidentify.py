"""De-identification rules on plain text: personal-number forms, ordinary text left alone, names
after titles and known names (the reports built from them are in tests/functional/analysis)."""

from __future__ import annotations

import re

import pytest

from obruten.ops.analysis.deidentify import Deidentifier
from obruten.ops.analysis.names import StaticNames


@pytest.mark.parametrize("text", [
    "19121212-1212", "121212-1212", "191212121212", "1212121212", "121212+1212", "121212 1212",
    "19701272-2389", "701272-2389", "(19121212-1212)", "pnr:121212-1212."])
def test_personal_number_forms_are_found(text: str) -> None:
    deid = Deidentifier([])
    assert "[personnummer]" in deid.clean(text) and deid.removed.personal_numbers == 1
    assert not re.search(r"\d{4}", deid.clean(text).replace("[personnummer]", ""))


@pytest.mark.parametrize("text", [
    "KB5664182", "2025-01-15 08:20", "larmet kom efter 25 s", "Incident 12: open → resolved", "20/ 1 13:00- 17:20",
    "Klinisk Portal stängs ner", "121299-1212"])
def test_ordinary_text_is_left_alone(text: str) -> None:
    deid = Deidentifier([StaticNames(["Anna Berg"])])
    deid.learn([text])
    assert deid.clean(text) == text and deid.removed.total == 0


def test_names_after_titles_and_known_names() -> None:
    deid = Deidentifier([StaticNames(["Anna Berg", "Per-Olof Lind"])])
    texts = ["Patienten Kalle Ek ringde Anna Berg och sedan Per-Olof Lind. Dr. Nilsson kom. Berg svarade."]
    deid.learn(texts)
    assert deid.clean(texts[0]) == "Patienten [namn] ringde [namn] och sedan [namn]. Dr. [namn] kom. [namn] svarade."
    assert deid.removed.names == 5
