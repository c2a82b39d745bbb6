"""The kit a ward runs a shift from (issue 15): every page says whose it is and how old it is,
"Sida N av M", one box per scheduled dose, PRN maximum, facts, 72-h results, the status message,
letters outside Windows-1252, and nothing for IT on the nurse's pages."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pypdf
import pytest

from obruten.platform.signing import load_or_create_key
from obruten.record import flags
from obruten.status.document import draft
from obruten.status.ledger import Ledger, default_trusted_keys
from obruten.wardkit import build, render_pdf
from obruten.wardkit import manifest as mf

from .conftest import NOW, Ward

DRUGS = (("Alvedon", "{08:00,14:00,20:00}"), ("Waran", "{18:00}"), ("Furix", "{08:00,14:00}"),
         ("Metoprolol", "{08:00,20:00}"), ("Insulatard", "{07:30,21:30}"))
HEADING = "Ŋåløy, Čedomir Øystein  19380303-0003"


@dataclass
class Shift:
    ward: Ward
    unit: str
    pages: list[str]
    kit: dict
    manifest: dict
    path: Path


def _patient_on_five_drugs(c: psycopg.Connection, unit: str, staff: int, physician: int) -> int:
    pid = c.execute("INSERT INTO patient (personal_number, given_name, family_name, birth_date, sex) VALUES "
                    "('19380303-0003', 'Čedomir Øystein', 'Ŋåløy', '1938-03-03', 'M') RETURNING id").fetchone()[0]  # type: ignore[index]
    start = NOW - timedelta(days=1)
    c.execute("INSERT INTO admission (patient_id, unit_id, admitted_at, signed_by) VALUES (%s, %s, %s, %s)",
              (pid, unit, start, staff))
    for drug, times in DRUGS:
        c.execute("INSERT INTO medication_order (patient_id, unit_id, drug, strength, dose, route, frequency, times, "
                  "start_at, signed_by) VALUES (%s, %s, %s, '5 mg', '1 tablett', 'po', 'enligt schema', %s, %s, %s)",
                  (pid, unit, drug, times, start, physician))
    c.execute("INSERT INTO medication_order (patient_id, unit_id, drug, strength, dose, route, frequency, times, "
              "as_needed, indication, start_at, signed_by) VALUES (%s, %s, 'Oxynorm', '5 mg', '5 mg', 'po', "
              "'vid behov, högst 4 gånger per dygn', '{}', true, 'Smärta', %s, %s)", (pid, unit, start, physician))
    for kind, value, who in (("weight_kg", "72.5", None), ("code_status", "ej_hlr", None), ("bed", "7A", None),
                             ("responsible_physician", "", physician)):
        c.execute("INSERT INTO kit_fact (patient_id, kind, value, staff_id, clinical_at, signed_by) "
                  "VALUES (%s, %s, %s, %s, %s, %s)", (pid, kind, value, who, start, physician))
    number = c.execute("INSERT INTO referral (patient_id, unit_id, order_number, kind, tests, clinical_at, signed_by) "
                       "VALUES (%s, %s, next_order_number('lab'), 'lab', 'PK-INR', %s, %s) RETURNING order_number",
                       (pid, unit, NOW - timedelta(hours=30), physician)).fetchone()[0]  # type: ignore[index]
    c.execute("INSERT INTO referral_result (patient_id, order_number, text, abnormal, clinical_at, signed_by) "
              "VALUES (%s, %s, 'PK-INR 3,4', true, %s, %s)", (pid, number, NOW - timedelta(hours=26), physician))
    for n in range(14):   # enough notes that the section runs over a page
        c.execute("INSERT INTO note (patient_id, unit_id, kind, title, body, clinical_at, signed_by) VALUES "
                  "(%s, %s, 'omvardnad', 'Omvårdnad', %s, %s, %s)",
                  (pid, unit, "Patienten mår efter omständigheterna bra. " * 12, NOW - timedelta(hours=n + 1), staff))
    return pid


@pytest.fixture(scope="module")
def shift(ward: Ward, tmp_path_factory: pytest.TempPathFactory) -> Shift:
    with psycopg.connect(ward.url, autocommit=True) as c:
        unit = c.execute("SELECT id FROM care_unit WHERE kind = 'ward' ORDER BY id OFFSET 2 LIMIT 1").fetchone()[0]  # type: ignore[index]
        physician = c.execute("SELECT id FROM staff WHERE role = 'physician' ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
        _patient_on_five_drugs(c, unit, ward.staff, physician)
    var = tmp_path_factory.mktemp("shift") / "var"
    key = load_or_create_key(var / "status-key.pem")
    default_trusted_keys(var).parent.mkdir(parents=True, exist_ok=True)
    default_trusted_keys(var).write_text(key.trusted_line() + "\n")
    Ledger(var).offer(draft(version=3, mode="reservrutin", headline="Journalen är nere", routine="Pappersrutin RR-1",
                            issuer_name="Tove Beredskap", issuer_role="TIB", now=NOW).signed(key))

    async def run() -> build.Built:
        async with await psycopg.AsyncConnection.connect(ward.url, autocommit=True) as conn:
            # the signing grid is release 2026.12's flag kit_mar_grid (off after an upgrade): on for this unit
            await flags.switch(conn, build.MAR_GRID, True, unit=unit, by="test", reason="the shift kit's grid")
            return await build.build_unit(conn, unit, var, build.signing_key(var), NOW)
    built = asyncio.run(run())
    pages = [page.extract_text() for page in pypdf.PdfReader(built.path / "kit.pdf").pages]
    import json
    return Shift(ward, unit, pages, json.loads((built.path / "kit.json").read_bytes()),
                 mf.load(built.path / mf.MANIFEST), built.path)


def _patient_pages(shift: Shift) -> list[str]:
    return [p for p in shift.pages if p.startswith(HEADING)]


def test_every_page_has_page_n_of_m_data_time_and_status(shift: Shift) -> None:
    total = len(shift.pages)
    assert total >= 3
    for n, text in enumerate(shift.pages, 1):
        assert f"Sida {n} av {total}" in text
        assert "Uppgifter per 2026-11-20 10:00" in text
        assert "Reservrutin gäller" in text and "Journalen är nere" in text and "Pappersrutin RR-1" in text


def test_every_patient_page_names_the_patient_also_where_the_section_runs_over(shift: Shift) -> None:
    numbers = {p["personal_number"]: f"{p['family_name']}, {p['given_name']}" for p in shift.kit["patients"]}
    for text in shift.pages[1:]:
        first_line = text.splitlines()[0] if not text.startswith("Reservkit") else ""
        if first_line:   # a patient's page: name and personnummer head it
            assert any(pnr in first_line and name in first_line for pnr, name in numbers.items()), first_line
    ours = _patient_pages(shift)
    assert len(ours) >= 2, "the five-drug patient's section runs over a page"
    assert "Omvårdnad" in ours[-1], "the page the section ran over to is headed by the patient too"


def test_letters_outside_windows_1252_survive(shift: Shift) -> None:
    everything = "\n".join(shift.pages)
    for letters in ("Ŋåløy", "Čedomir", "Øystein"):
        assert letters in everything


def test_nothing_for_it_on_the_nurses_pages(shift: Shift) -> None:
    digest, key_id = shift.manifest["body"]["data_sha256"], shift.manifest["key_id"]
    for text in shift.pages:
        assert digest not in text and key_id not in text
        assert "SHA-256" not in text and "obruten wardkit" not in text
        assert not re.search(r"\b[0-9a-f]{64}\b", text)
    html = (shift.path / "kit.html").read_text()
    body = html.split("<body>", 1)[1]
    assert digest not in body and "SHA-256" not in body


def test_one_box_per_scheduled_dose_and_prn_rows_with_their_maximum(shift: Shift) -> None:
    ours = "\n".join(_patient_pages(shift))
    patient = next(p for p in shift.kit["patients"] if p["personal_number"] == "19380303-0003")
    doses = [due for m in patient["medications"] for due in m["schedule_next_24h"]]
    # 10:00 local: Alvedon 14, 20, 08; Waran 18; Furix 14, 08; Metoprolol 20, 08; Insulatard 21:30, 07:30
    assert len(doses) == 10
    prn_boxes = render_pdf.PRN_BOXES
    assert ours.count("Sign:") == len(doses) + prn_boxes
    assert ours.count("Ej given, orsak:") == len(doses) + prn_boxes
    assert ours.count("Dos: 1 tablett") == len(doses)
    for when in ("20/11 14:00", "20/11 18:00", "20/11 21:30", "21/11 07:30", "21/11 08:00"):
        assert when in ours
    assert "Max per dygn: vid behov, högst 4 gånger per dygn" in " ".join(ours.split())  # wrapped in its column


def test_facts_results_and_code_status(shift: Shift) -> None:
    ours = "\n".join(_patient_pages(shift))
    for fact in ("Säng 7A", "88 år", "Man", "Vikt 72,5 kg", "Ansvarig läkare:", "HLR: EJ HLR"):
        assert fact in ours
    assert "PK-INR: PK-INR 3,4 (avvikande)" in ours


def test_an_eight_hour_record_holds_only_the_doses_of_eight_hours(shift: Shift, tmp_path: Path) -> None:
    target = tmp_path / "mar8.pdf"
    render_pdf.render(shift.kit, "0" * 64, "k", target, mar_hours=8)
    text = "\n".join(t for t in (p.extract_text() for p in pypdf.PdfReader(target).pages) if t.startswith(HEADING))
    # 10:00–18:00 local: Alvedon 14:00, Furix 14:00, Waran 18:00
    assert text.count("Dos: 1 tablett") == 3
    assert "kommande 8 h" in text


def test_kit_and_ward_list_show_every_next_dose(shift: Shift) -> None:
    from obruten.wardkit import present

    patient = next(p for p in shift.kit["patients"] if p["personal_number"] == "19380303-0003")
    doses = present.next_doses(patient)
    assert len(doses) == 5
    assert [d.split(" ", 2)[2].split(" ")[0] for d in doses] == ["Alvedon", "Furix", "Waran", "Metoprolol",
                                                               "Insulatard"]
    assert datetime.fromisoformat(shift.kit["as_of"]) == NOW.astimezone(UTC)
