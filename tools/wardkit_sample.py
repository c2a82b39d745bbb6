"""Render the docs' sample kit pages (docs/img/wardkit-page.png, docs/img/wardkit-mar-8h.png) from a
synthetic patient on five drugs, with no database: ``python tools/wardkit_sample.py`` (needs
pdftoppm from Debian's poppler-utils). The data has the shape ``obruten.wardkit.content`` builds."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from obruten.wardkit import render_pdf

AS_OF = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)     # 10:00 in Stockholm
LOCAL = ZoneInfo("Europe/Stockholm")
OUT = Path(__file__).resolve().parent.parent / "docs" / "img"


def _schedule(times: list[str]) -> list[str]:
    day = AS_OF.astimezone(LOCAL).date()
    dues = []
    for d in (day, day + timedelta(days=1)):
        for hhmm in times:
            due = datetime.fromisoformat(f"{d}T{hhmm}").replace(tzinfo=LOCAL).astimezone(UTC)
            if AS_OF < due <= AS_OF + timedelta(hours=24):
                dues.append(due.isoformat())
    return sorted(dues)


def _order(drug: str, strength: str, dose: str, frequency: str, times: list[str], indication: str = "",
           given: list[dict] | None = None) -> dict:
    return {"entry_id": drug, "drug": drug, "strength": strength, "dose": dose, "route": "po",
            "frequency": frequency, "times": times, "as_needed": not times, "indication": indication,
            "max_24h": None, "schedule_next_24h": _schedule(times), "given_last_24h": given or []}


def sample() -> dict:
    at = (AS_OF - timedelta(hours=2)).isoformat()
    meds = [_order("Alvedon", "500 mg", "2 tabletter", "3 gånger dagligen", ["08:00", "14:00", "20:00"], "Smärta",
                   [{"entry_id": "g1", "outcome": "given", "clinical_at": at, "dose_given": "2 tabletter",
                     "not_given_reason": None, "by": "Sara Sjuksköterska"}]),
            _order("Waran", "2,5 mg", "enligt ordination", "1 gång dagligen", ["18:00"], "Förmaksflimmer"),
            _order("Furix", "40 mg", "1 tablett", "2 gånger dagligen", ["08:00", "14:00"], "Hjärtsvikt"),
            _order("Metoprolol", "50 mg", "1 tablett", "2 gånger dagligen", ["08:00", "20:00"], "Hypertoni"),
            _order("Insulatard", "100 E/ml", "12 E", "morgon och kväll", ["07:30", "21:30"], "Diabetes typ 2"),
            _order("Oxynorm", "5 mg", "5 mg", "vid behov, högst 4 gånger per dygn", [], "Genombrottssmärta")]
    patient = {
        "id": 1, "personal_number": "19380303-0003", "given_name": "Čedomir Øystein", "family_name": "Ŋåløy",
        "birth_date": "1938-03-03", "sex": "M", "admitted_at": (AS_OF - timedelta(days=2)).isoformat(),
        "facts": {"weight_kg": {"value": "72.5", "staff": None, "clinical_at": at},
                  "code_status": {"value": "ej_hlr", "staff": None, "clinical_at": at},
                  "bed": {"value": "7A", "staff": None, "clinical_at": at},
                  "responsible_physician": {"value": "", "staff": "Eva Fredriksson", "clinical_at": at}},
        "warnings": [{"entry_id": "w", "kind": "allergy", "text": "Anafylaxi mot penicillin", "severity": "life_threatening"}],
        "diagnoses": [{"entry_id": "d", "code": "I48", "text": "Förmaksflimmer"},
                      {"entry_id": "e", "code": "I50", "text": "Hjärtsvikt"}],
        "medications": meds,
        "results": [{"order_number": "LAB-1-0000042", "kind": "lab", "tests": "PK-INR", "text": "PK-INR 3,4",
                     "abnormal": True, "clinical_at": (AS_OF - timedelta(hours=26)).isoformat()},
                    {"order_number": "LAB-1-0000043", "kind": "lab", "tests": "Elektrolyter",
                     "text": "Na 138, K 3,6, Kreatinin 96 µmol/L", "abnormal": False,
                     "clinical_at": (AS_OF - timedelta(hours=5)).isoformat()}],
        "notes": [{"entry_id": "n", "kind": "omvardnad", "title": "Omvårdnadsanteckning",
                   "body": "Sovit gott. Äter och dricker. Mobiliseras med rollator.", "clinical_at": at,
                   "author": "Sara Sjuksköterska"}],
        "open_referrals": [],
    }
    return {"format": "obruten-wardkit/1", "as_of": AS_OF.isoformat(), "generated_at": AS_OF.isoformat(),
            "unit": {"id": "H01-AVD10", "name": "Avdelning 10 Medicin", "hospital": "Norrbyns sjukhus"},
            "status": {"version": 3, "mode": "reservrutin", "headline": "Journalen är nere",
                       "routine": "Pappersrutin RR-1", "issued_at": (AS_OF - timedelta(minutes=20)).isoformat()},
            "patients": [patient]}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, hours in (("wardkit-page", 24), ("wardkit-mar-8h", 8)):
            pdf = Path(tmp) / f"{name}.pdf"
            render_pdf.render(sample(), "0" * 64, "sample", pdf, mar_hours=hours)
            # page 2: the patient's first page (page 1 is the ward's patient list)
            subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "2", "-l", "2", "-singlefile", str(pdf),
                            str(OUT / name)], check=True)
            print(OUT / f"{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
