"""ADT: admit a patient to a unit (also an unidentified one under a reserve number), transfer
between units, discharge, and merge a reserve number into the real identity.

A stay on a unit is an ``admission`` entry: admitting inserts version 1; a transfer ends it (a new
version with ``discharged_at``) and opens one on the new unit; a discharge ends it. Each act is
also one ``adt_event`` row (schema 0050), and one audit event in the same transaction. The ward
list, access (``record.access``: the care relation follows the admission) and ward kits read
``admission_current``, so they follow at once. One patient has at most one open admission; acts
on one patient are serialised by a transaction-scoped advisory lock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field, model_validator

from obruten.platform.errors import Conflict, Invalid, NotFound
from obruten.platform.fields import ClinicalTime, Line, Text
from obruten.record import entries, personal_number

_LOCK = 1_447_000_050  # advisory lock class for ADT acts (the second key is the patient id)
UNKNOWN_NAME = {"F": "Kvinna", "M": "Man", "X": "Person"}


class NewAdmission(BaseModel):
    """Admit a known patient (``personal_number``) or an unidentified one (``unidentified``: a
    reserve number is issued; give the sex and an estimated birth year)."""
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    unit_id: Line = Field(min_length=1, max_length=40)
    personal_number: Line | None = Field(default=None, pattern=r"^[0-9]{8}-[0-9]{4}$",
                                         description="YYYYMMDD-NNNC; leave out for an unidentified patient")
    unidentified: bool = False
    sex: Literal["F", "M", "X"] | None = Field(default=None, description="Unidentified patients: F, M or X (unknown)")
    birth_year: int | None = Field(default=None, ge=1900, le=2200, description="Unidentified patients: estimated")
    given_name: Line | None = Field(default=None, min_length=1, max_length=100,
                                    description="Only for a personal number not yet in the register")
    family_name: Line | None = Field(default=None, min_length=1, max_length=100)
    cause: Text = Field(min_length=2, max_length=500, description="Cause of admission (inskrivningsorsak)")
    admitted_at: ClinicalTime | None = Field(default=None, description="Defaults to now")

    @model_validator(mode="after")
    def _who(self) -> NewAdmission:
        if self.unidentified == (self.personal_number is not None):
            raise ValueError("give either a personal number or unidentified (a reserve number is issued)")
        if self.unidentified and (self.sex is None or self.birth_year is None):
            raise ValueError("an unidentified patient needs sex and an estimated birth year")
        return self


class Transfer(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    to_unit: Line = Field(min_length=1, max_length=40)
    at: ClinicalTime | None = Field(default=None, description="Defaults to now")
    note: Text = Field(default="", max_length=500)


class Discharge(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    at: ClinicalTime | None = Field(default=None, description="Defaults to now")
    note: Text = Field(default="", max_length=500)


class Merge(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    personal_number: Line = Field(pattern=r"^[0-9]{8}-[0-9]{4}$", description="The patient's real personal number")
    reason: Text = Field(min_length=3, max_length=500)


async def lock(conn: psycopg.AsyncConnection, patient_id: int) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK, patient_id))


async def open_admission(conn: psycopg.AsyncConnection, patient_id: int) -> dict | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM admission_current WHERE patient_id = %s AND discharged_at IS NULL"
                          " ORDER BY admitted_at DESC LIMIT 1", (patient_id,))
        return await cur.fetchone()


async def _unit_exists(conn: psycopg.AsyncConnection, unit_id: str) -> None:
    cur = await conn.execute("SELECT 1 FROM care_unit WHERE id = %s", (unit_id,))
    if await cur.fetchone() is None:
        raise NotFound(f"no care unit {unit_id!r}", field="to_unit")


async def patient_for(conn: psycopg.AsyncConnection, new: NewAdmission) -> int:
    """The patient to admit: found by personal number, made from it (if not in the register and
    named), or a new unidentified patient under a fresh reserve number."""
    if new.unidentified:
        assert new.sex is not None and new.birth_year is not None
        cur = await conn.execute("SELECT nextval('reserve_number_seq')")
        row = await cur.fetchone()
        assert row is not None
        number = personal_number.make_reserve(int(row[0]))
        cur = await conn.execute(
            "INSERT INTO patient (personal_number, given_name, family_name, birth_date, sex, reserve)"
            " VALUES (%s, 'Okänd', %s, make_date(%s, 1, 1), %s, true) RETURNING id",
            (number, f"{UNKNOWN_NAME[new.sex]} {number[-4:]}", new.birth_year, new.sex))
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])
    pn = new.personal_number or ""
    cur = await conn.execute(
        "SELECT COALESCE((SELECT into_patient FROM patient_merge m WHERE m.from_patient = p.id), p.id)"
        " FROM patient p WHERE p.personal_number = %s", (pn,))
    row = await cur.fetchone()
    if row is not None:
        return int(row[0])
    born = personal_number.birth_date_of(pn)
    if born is None or not (personal_number.is_valid(pn) or personal_number.is_synthetic(pn)):
        raise Invalid("the personal number is not valid (check the digits)", field="personal_number")
    if not (new.given_name and new.family_name):
        raise NotFound("no patient with that personal number; give the name to register the patient, "
                       "or admit as unidentified (reserve number)", field="personal_number")
    cur = await conn.execute(
        "INSERT INTO patient (personal_number, given_name, family_name, birth_date, sex) VALUES (%s, %s, %s, %s, %s)"
        " RETURNING id", (pn, new.given_name, new.family_name, born, personal_number.sex_of(pn)))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _event(conn: psycopg.AsyncConnection, patient_id: int, kind: str, signed_by: int, at: datetime,
                 *, from_unit: str | None = None, to_unit: str | None = None, admission: object = None,
                 note: str = "") -> None:
    await conn.execute(
        "INSERT INTO adt_event (patient_id, kind, from_unit, to_unit, admission, clinical_at, note, signed_by)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (patient_id, kind, from_unit, to_unit, admission, at, note, signed_by))


async def admit(conn: psycopg.AsyncConnection, patient_id: int, unit_id: str, cause: str, at: datetime | None,
                signed_by: int) -> dict:
    """Open an admission (call with the patient locked)."""
    await _unit_exists(conn, unit_id)
    current = await open_admission(conn, patient_id)
    if current is not None:
        raise Conflict(f"the patient is already admitted to {current['unit_id']}; transfer instead",
                       unit_id=current["unit_id"], msg_key="adt.already_admitted")
    at = at or datetime.now(UTC)
    row = await entries.insert(conn, "admission", {"patient_id": patient_id, "unit_id": unit_id, "admitted_at": at,
                                                   "cause": cause}, signed_by)
    await _event(conn, patient_id, "admit", signed_by, at, to_unit=unit_id, admission=row["entry_id"], note=cause)
    return row


async def _end(conn: psycopg.AsyncConnection, current: dict, at: datetime, signed_by: int, reason: str) -> dict:
    if at < current["admitted_at"]:
        raise Invalid("the time is before the admission began", field="at")
    return await entries.correct(conn, "admission", current["entry_id"], {"discharged_at": at}, signed_by, reason)


async def transfer(conn: psycopg.AsyncConnection, current: dict, move: Transfer, signed_by: int) -> dict:
    """End ``current`` and open an admission on ``move.to_unit`` at the same moment."""
    await _unit_exists(conn, move.to_unit)
    if move.to_unit == current["unit_id"]:
        raise Invalid("the patient is already on that unit", field="to_unit")
    at = move.at or datetime.now(UTC)
    await _end(conn, current, at, signed_by, f"överflyttad till {move.to_unit}")
    row = await entries.insert(conn, "admission", {"patient_id": current["patient_id"], "unit_id": move.to_unit,
                                                   "admitted_at": at, "cause": current["cause"]}, signed_by)
    await _event(conn, current["patient_id"], "transfer", signed_by, at, from_unit=current["unit_id"],
                 to_unit=move.to_unit, admission=row["entry_id"], note=move.note)
    return row


async def discharge(conn: psycopg.AsyncConnection, current: dict, out: Discharge, signed_by: int) -> dict:
    at = out.at or datetime.now(UTC)
    row = await _end(conn, current, at, signed_by, "utskriven")
    await _event(conn, current["patient_id"], "discharge", signed_by, at, from_unit=current["unit_id"],
                 admission=current["entry_id"], note=out.note)
    return row


async def merge(conn: psycopg.AsyncConnection, reserve_id: int, real_id: int, signed_by: int, reason: str) -> dict:
    """Move every row of the reserve number's record to the real identity (``merge_patient``, 0050)."""
    first, second = sorted((reserve_id, real_id))
    await lock(conn, first)
    await lock(conn, second)
    if await open_admission(conn, reserve_id) and await open_admission(conn, real_id):
        raise Conflict("both identities are admitted; discharge one of the stays before merging")
    try:
        cur = await conn.execute("SELECT tbl, moved FROM merge_patient(%s, %s, %s, %s)",
                                 (reserve_id, real_id, signed_by, reason))
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict("this reserve number has already been merged") from exc
    except psycopg.errors.CheckViolation as exc:
        raise Invalid("only a reserve number can be merged, into a patient with a personal number") from exc
    moved = {str(t): int(n) for t, n in await cur.fetchall()}
    await _event(conn, real_id, "merge", signed_by, datetime.now(UTC), note=reason)
    return {"patient_id": real_id, "merged_from": reserve_id, "moved": moved}


_HISTORY_SQL = """
SELECT e.kind, e.from_unit, fu.name AS from_unit_name, e.to_unit, tu.name AS to_unit_name,
       e.clinical_at, e.note, s.full_name AS signed_by_name, e.signed_at, e.id AS seq
FROM adt_event e JOIN staff s ON s.id = e.signed_by
LEFT JOIN care_unit fu ON fu.id = e.from_unit LEFT JOIN care_unit tu ON tu.id = e.to_unit
WHERE e.patient_id = %(p)s
UNION ALL  -- stays recorded before ADT events existed (schema 0050): their admission and discharge
SELECT 'admit', NULL, NULL, a.unit_id, u.name, a.admitted_at, a.cause, s.full_name, a.signed_at, 0
FROM admission a JOIN staff s ON s.id = a.signed_by JOIN care_unit u ON u.id = a.unit_id
WHERE a.patient_id = %(p)s AND a.version = 1
  AND NOT EXISTS (SELECT 1 FROM adt_event e WHERE e.admission = a.entry_id)
UNION ALL
SELECT 'discharge', a.unit_id, u.name, NULL, NULL, a.discharged_at, '', s.full_name, a.signed_at, 0
FROM admission_current a JOIN staff s ON s.id = a.signed_by JOIN care_unit u ON u.id = a.unit_id
WHERE a.patient_id = %(p)s AND a.discharged_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM adt_event e WHERE e.patient_id = a.patient_id AND e.from_unit = a.unit_id
                  AND e.clinical_at = a.discharged_at AND e.kind IN ('transfer', 'discharge'))
ORDER BY clinical_at DESC, seq DESC
"""


async def history(conn: psycopg.AsyncConnection, patient_id: int) -> list[dict]:
    """The patient's movements, newest first, with unit names and who signed (stays recorded before
    ADT events existed are shown from their admission entries)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_HISTORY_SQL, {"p": patient_id})
        return await cur.fetchall()


async def resolve(conn: psycopg.AsyncConnection, patient_id: int) -> int:
    """The patient a (merged) reserve number now belongs to; ``patient_id`` itself otherwise."""
    cur = await conn.execute("SELECT into_patient FROM patient_merge WHERE from_patient = %s", (patient_id,))
    row = await cur.fetchone()
    return int(row[0]) if row else patient_id
