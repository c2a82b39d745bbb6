"""A ward with one patient whose record the tests control, inside the session's seeded region."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from obruten.platform.signing import SigningKey, TrustedKeys, load_or_create_key
from obruten.wardkit import build
from obruten.wardkit.content import unit_kit_data
from pgtools import CHROMIUM_ARGS  # noqa: F401  (re-exported for the browser tests here)

# 10:00 local (Europe/Stockholm, UTC+1 in November): doses at 08:00/14:00/20:00/02:00 fall around it
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class Ward:
    url: str
    unit: str
    patient: int
    active_order: str
    stopped_order: str
    stopping_order: str
    staff: int

    def kit(self, now: datetime = NOW) -> dict:
        async def run() -> dict:
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                return await unit_kit_data(conn, self.unit, now)
        return asyncio.run(run())

    def patient_in(self, kit: dict, patient: int | None = None) -> dict | None:
        wanted = patient or self.patient
        return next((p for p in kit["patients"] if p["id"] == wanted), None)

    def admit(self, personal_number: str, at: datetime) -> int:
        with psycopg.connect(self.url, autocommit=True) as c:
            pid = c.execute("INSERT INTO patient (personal_number, given_name, family_name, birth_date, sex) "
                            "VALUES (%s, 'Tove', 'Testsson', '1950-01-01', 'F') RETURNING id",
                            (personal_number,)).fetchone()[0]  # type: ignore[index]
            c.execute("INSERT INTO admission (patient_id, unit_id, admitted_at, signed_by) VALUES (%s, %s, %s, %s)",
                      (pid, self.unit, at, self.staff))
        return pid


def _order(c: psycopg.Connection, patient: int, unit: str, staff: int, drug: str, times: str,
           start: datetime, stop: datetime | None = None) -> str:
    row = c.execute("INSERT INTO medication_order (patient_id, unit_id, drug, strength, dose, route, frequency, "
                    "times, start_at, stop_at, signed_by) VALUES (%s, %s, %s, '10 mg', '10 mg', 'po', 'x 4', %s, "
                    "%s, %s, %s) RETURNING entry_id", (patient, unit, drug, times, start, stop, staff)).fetchone()
    return str(row[0])  # type: ignore[index]


def _give(c: psycopg.Connection, patient: int, order: str, staff: int, at: datetime, given: bool = True) -> int:
    return c.execute("INSERT INTO medication_administration (patient_id, order_entry, outcome, dose_given, "
                     "not_given_reason, clinical_at, signed_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                     (patient, order, "given" if given else "not_given", "10 mg" if given else "",
                      None if given else "Patienten sov", at, staff)).fetchone()[0]  # type: ignore[index]


@pytest.fixture(scope="session")
def ward(region_url: str) -> Ward:
    with psycopg.connect(region_url, autocommit=True) as c:
        unit = c.execute("SELECT id FROM care_unit WHERE kind = 'ward' ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
        staff = c.execute("SELECT id FROM staff WHERE role = 'nurse' ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
        pid = c.execute("INSERT INTO patient (personal_number, given_name, family_name, birth_date, sex) "
                        "VALUES ('19400101-0009', 'Aina', 'Aaberg', '1940-01-01', 'F') RETURNING id").fetchone()[0]  # type: ignore[index]
        c.execute("INSERT INTO admission (patient_id, unit_id, admitted_at, signed_by) VALUES (%s, %s, %s, %s)",
                  (pid, unit, NOW - timedelta(days=2), staff))
        c.execute("INSERT INTO warning (patient_id, kind, text, severity, clinical_at, signed_by) "
                  "VALUES (%s, 'allergy', 'Anafylaxi mot testamin', 'life_threatening', %s, %s)",
                  (pid, NOW - timedelta(days=2), staff))
        start = NOW - timedelta(days=2)
        active = _order(c, pid, unit, staff, "Testocillin", "{08:00,14:00,20:00,02:00}", start)
        stopped = _order(c, pid, unit, staff, "Utsattin", "{08:00,20:00}", start, NOW - timedelta(hours=1))
        stopping = _order(c, pid, unit, staff, "Slutamin", "{08:00,14:00,20:00}", start, NOW + timedelta(hours=8))
        _give(c, pid, active, staff, NOW - timedelta(hours=1, minutes=5))            # 08:55 local: in
        _give(c, pid, active, staff, NOW - timedelta(hours=7), given=False)          # 02:00 local: in
        _give(c, pid, active, staff, NOW - timedelta(hours=25))                      # more than 24 h ago: out
        _give(c, pid, active, staff, NOW + timedelta(minutes=30))                    # after the kit's time: out
        # a corrected administration: only the current version counts
        first = _give(c, pid, active, staff, NOW - timedelta(hours=13))
        c.execute("INSERT INTO medication_administration (entry_id, version, supersedes, patient_id, order_entry, "
                  "outcome, not_given_reason, clinical_at, signed_by, reason) SELECT entry_id, 2, id, patient_id, "
                  "order_entry, 'not_given', 'Fastande', clinical_at, signed_by, 'Fel registrering' "
                  "FROM medication_administration WHERE id = %s", (first,))
    return Ward(region_url, unit, pid, active, stopped, stopping, staff)


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return load_or_create_key(tmp_path / "key.pem")


@pytest.fixture
def trusted(key: SigningKey) -> TrustedKeys:
    return TrustedKeys.parse(key.trusted_line())


@pytest.fixture
def kit_dir(ward: Ward, key: SigningKey, tmp_path: Path) -> Iterator[Path]:
    """One signed kit of the ward, built as of NOW."""
    store = build.unit_store(tmp_path / "var", ward.unit)
    built = build.write_kit(ward.kit(), store, key)
    yield built.path
