"""The journal's side of who and whom a ward agent documents during downtime (ADR 0049).

- ``export_verifier``: the unit's active nurses and physicians with their argon2 hashes, signed
  (``postreg.verifier``); every export is a ``verifier_export`` row.
- ``allocate_block``: a new block of reservnummer serials for one agent; blocks never overlap
  (the table's exclusion constraint, allocation serialised by an advisory lock).
- ``receive_reserve_patients``: patients an agent registered under a reservnummer from one of its
  own blocks become patients of the journal (admitted to the unit), idempotently per number.
- ``link``/``links``: post-registration's merge: a reservnummer patient is a real person; entries
  still pending are then registered on the real patient.

Tables: migration 0065_downtime_authors.sql (append-only; the journal only inserts and selects).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from obruten.platform.errors import Conflict, Invalid, NotFound
from obruten.platform.fields import Line, Moment
from obruten.postreg import reserve, verifier
from obruten.postreg.agents import AgentIdentity

DOCUMENTING_ROLES = ("nurse", "physician")


# ---- the staff verifier --------------------------------------------------------------------------
async def export_verifier(conn: psycopg.AsyncConnection, var_dir: Path, agent: AgentIdentity) -> dict:
    """The signed verifier of the agent's unit (call in a transaction: the export row goes with it)."""
    from obruten.wardkit.build import signing_key  # the kit builder's key: the agent already trusts it

    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT s.username, s.full_name, s.role, s.password_hash FROM staff s"
            " JOIN staff_unit su ON su.staff_id = s.id"
            " WHERE su.unit_id = %s AND s.active AND s.password_hash IS NOT NULL AND s.role = ANY(%s)"
            " ORDER BY s.username", (agent.unit_id, list(DOCUMENTING_ROLES)))
        staff = await cur.fetchall()
    await conn.execute("INSERT INTO verifier_export (unit_id, device_id, accounts) VALUES (%s, %s, %s)",
                       (agent.unit_id, agent.device_id, len(staff)))
    return verifier.sign(agent.unit_id, staff, signing_key(var_dir))


# ---- reservnummer blocks -------------------------------------------------------------------------
async def allocate_block(conn: psycopg.AsyncConnection, agent: AgentIdentity,
                         size: int = reserve.BLOCK_SIZE) -> dict:
    """A new block for this agent: ``{"first": serial, "size": n, "numbers": [first, last]}``."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('reserve_number_block'))")
    cur = await conn.execute("SELECT COALESCE(max(first_serial + size), %s) FROM reserve_number_block",
                             (reserve.AGENT_FIRST_SERIAL,))
    row = await cur.fetchone()
    first = int(row[0]) if row else reserve.AGENT_FIRST_SERIAL
    if first + size - 1 > reserve.MAX_SERIAL:
        raise Conflict("the reservnummer range is used up; widen reserve.MAX_SERIAL's format")
    await conn.execute("INSERT INTO reserve_number_block (unit_id, device_id, first_serial, size) VALUES (%s, %s, %s, %s)",
                       (agent.unit_id, agent.device_id, first, size))
    return {"first": first, "size": size, "numbers": [reserve.make(first), reserve.make(first + size - 1)]}


class ReservePatient(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reserve_number: Line = Field(min_length=13, max_length=13)
    given_name: Line = Field(min_length=1, max_length=100)
    family_name: Line = Field(min_length=1, max_length=100)
    sex: Literal["F", "M", "X"]
    birth_date: date = Field(description="Estimated when unknown (the agent sends 1900-01-01 for 'unknown')")
    registered_at: Moment
    registered_by: Line = Field(min_length=2, max_length=40, description="Username of the verified staff member")


class ReservePatients(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_id: Line = Field(min_length=1, max_length=40)
    device_id: Line = Field(min_length=1, max_length=100)
    patients: list[ReservePatient] = Field(min_length=1, max_length=200)


async def receive_reserve_patients(conn: psycopg.AsyncConnection, agent: AgentIdentity,
                                   patients: list[ReservePatient]) -> dict[str, int]:
    """reservnummer → journal patient id; creates each patient once (call in a transaction)."""
    out: dict[str, int] = {}
    for p in patients:
        serial = reserve.serial_of(p.reserve_number)
        if serial is None:
            raise Invalid(f"{p.reserve_number} is not a reservnummer (99SSSSSS-SSSC with a right check digit)")
        cur = await conn.execute(
            "SELECT 1 FROM reserve_number_block WHERE unit_id = %s AND device_id = %s AND serials @> %s::bigint",
            (agent.unit_id, agent.device_id, serial))
        if await cur.fetchone() is None:
            raise Invalid(f"{p.reserve_number} is not from a block handed to {agent.device_id} of {agent.unit_id}")
        cur = await conn.execute("SELECT patient_id FROM reserve_patient WHERE reserve_number = %s", (p.reserve_number,))
        known = await cur.fetchone()
        if known is not None:
            out[p.reserve_number] = int(known[0])
            continue
        cur = await conn.execute("SELECT id FROM staff WHERE username = lower(%s)", (p.registered_by,))
        staff = await cur.fetchone()
        if staff is None:
            raise Invalid(f"{p.reserve_number} was registered by {p.registered_by!r}, who is no user of the journal")
        cur = await conn.execute(
            "INSERT INTO patient (personal_number, given_name, family_name, birth_date, sex, reserve)"
            " VALUES (%s, %s, %s, %s, %s, true) RETURNING id",
            (p.reserve_number, p.given_name, p.family_name, p.birth_date, p.sex))
        created = await cur.fetchone()
        assert created is not None
        patient_id = int(created[0])
        await conn.execute("INSERT INTO admission (patient_id, unit_id, admitted_at, cause, signed_by)"
                           " VALUES (%s, %s, %s, %s, %s)",
                           (patient_id, agent.unit_id, p.registered_at, "reservnummer (driftstopp)", staff[0]))
        await conn.execute("INSERT INTO reserve_patient (patient_id, reserve_number, unit_id, device_id, registered_at)"
                           " VALUES (%s, %s, %s, %s, %s)",
                           (patient_id, p.reserve_number, agent.unit_id, agent.device_id, p.registered_at))
        out[p.reserve_number] = patient_id
    return out


# ---- merging into the real identity --------------------------------------------------------------
async def reserve_patients(conn: psycopg.AsyncConnection, unit_id: str) -> list[dict]:
    """The unit's reservnummer patients with their link (if linked) for the review screen."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT r.patient_id, r.reserve_number, r.registered_at, r.device_id, p.given_name, p.family_name,"
            " l.patient_id AS linked_to, l.linked_at, rp.personal_number AS linked_number,"
            " rp.given_name AS linked_given, rp.family_name AS linked_family, s.full_name AS linked_by_name"
            " FROM reserve_patient r JOIN patient p ON p.id = r.patient_id"
            " LEFT JOIN reserve_identity_link l ON l.reserve_patient_id = r.patient_id"
            " LEFT JOIN patient rp ON rp.id = l.patient_id LEFT JOIN staff s ON s.id = l.linked_by"
            " WHERE r.unit_id = %s ORDER BY r.registered_at DESC LIMIT 200", (unit_id,))
        return await cur.fetchall()


async def link(conn: psycopg.AsyncConnection, reserve_patient_id: int, personal_number: str, by: int) -> int:
    """Link a reservnummer patient to the patient with ``personal_number``; returns that patient's id."""
    cur = await conn.execute("SELECT 1 FROM reserve_patient WHERE patient_id = %s", (reserve_patient_id,))
    if await cur.fetchone() is None:
        raise NotFound(f"patient {reserve_patient_id} was not registered under a reservnummer")
    cur = await conn.execute("SELECT id FROM patient WHERE personal_number = %s", (personal_number.strip(),))
    row = await cur.fetchone()
    if row is None:
        raise Invalid(f"no patient with personnummer {personal_number.strip()!r}; register the patient first")
    real = int(row[0])
    if real == reserve_patient_id or reserve.is_reserve(personal_number):
        raise Invalid("link to the patient's real personnummer, not to a reservnummer")
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO reserve_identity_link (reserve_patient_id, patient_id, linked_by)"
                               " VALUES (%s, %s, %s)", (reserve_patient_id, real, by))
            # the same merge as the journal's "Slå samman" (schema 0050): every row of the reservnummer
            # patient -- its stay, its registered and its pending downtime entries -- moves to the person
            await conn.execute("SELECT * FROM merge_patient(%s, %s, %s, %s)",
                               (reserve_patient_id, real, by, "reservnummer från avdelningens reservdator kopplat"
                                                              " till riktig identitet"))
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict("this reservnummer is already linked to a patient; nothing was changed") from exc
    return real


async def linked_patient(conn: psycopg.AsyncConnection, patient_id: int) -> int | None:
    """The real patient a reservnummer patient was linked to, if any."""
    cur = await conn.execute("SELECT patient_id FROM reserve_identity_link WHERE reserve_patient_id = %s", (patient_id,))
    row = await cur.fetchone()
    return int(row[0]) if row else None
