"""Who may open which patient's record.

Clinical staff (physicians, nurses) read patients with a care relation to one of their units:
an open admission there, or one that ended within ``CARE_RELATION_DAYS``. Anyone else needs
emergency access (nödöppning): a stated reason, valid for a limited time, always logged and
listed for admins. Admin and IT roles never read records; admins read access logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from obruten.platform.auth import Session
from obruten.platform.errors import Forbidden, Invalid, NeedsEmergencyAccess, NotFound
from obruten.platform.rows import one

CARE_RELATION_DAYS = 30
MIN_REASON_LENGTH = 5

_CARE_ADMISSION = f"""admission_current a
               WHERE a.patient_id = %(p)s AND a.unit_id = ANY(%(units)s)
                 AND (a.discharged_at IS NULL OR a.discharged_at > now() - interval '{CARE_RELATION_DAYS} days')"""
_DECIDE = f"""
SELECT EXISTS (SELECT 1 FROM patient WHERE id = %(p)s) AS patient_exists,
       EXISTS (SELECT 1 FROM {_CARE_ADMISSION}) AS care_relation,
       (SELECT CASE WHEN bool_or(a.discharged_at IS NULL) THEN NULL
                    ELSE max(a.discharged_at) + interval '{CARE_RELATION_DAYS} days' END
          FROM {_CARE_ADMISSION}) AS care_until,
       (SELECT max(expires_at) FROM emergency_access
         WHERE staff_id = %(s)s AND patient_id = %(p)s AND expires_at > now()) AS emergency_until
"""


@dataclass(frozen=True)
class Access:
    patient_id: int
    basis: str  # "care_relation" or "emergency"
    # when this decision lapses by the clock alone, the data unchanged (the care relation 30 days
    # after discharge, the emergency access at its expiry); None: not by the clock (an open admission)
    until: datetime | None = field(default=None, compare=False)


async def require_read(conn: psycopg.AsyncConnection, session: Session, patient_id: int) -> Access:
    if not session.clinical:
        raise Forbidden("your role does not read patient records")
    cur = await conn.execute(_DECIDE, {"p": patient_id, "units": list(session.units), "s": session.user_id})
    exists, care, care_until, emergency_until = one(await cur.fetchone())
    if not exists:
        raise NotFound(f"no patient {patient_id}")
    if care:
        return Access(patient_id, "care_relation", care_until)
    if emergency_until is not None:
        return Access(patient_id, "emergency", emergency_until)
    raise NeedsEmergencyAccess("the patient has no care relation to your units; "
                               "state a reason for emergency access (nödöppning)", patient_id=patient_id)


def emergency_reason(session: Session, reason: str) -> str:
    """Who may ask for emergency access and how the reason must look; returns the cleaned reason."""
    if not session.clinical:
        raise Forbidden("only physicians and nurses can use emergency access")
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise Invalid(f"state the reason for emergency access (at least {MIN_REASON_LENGTH} characters)")
    return reason


async def grant_emergency(conn: psycopg.AsyncConnection, session: Session, patient_id: int, reason: str,
                          hours: int) -> dict:
    reason = emergency_reason(session, reason)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT 1 FROM patient WHERE id = %s", (patient_id,))
        if await cur.fetchone() is None:
            raise NotFound(f"no patient {patient_id}")
        await cur.execute(
            "INSERT INTO emergency_access (staff_id, patient_id, reason, expires_at)"
            " VALUES (%s, %s, %s, now() + %s) RETURNING *",
            (session.user_id, patient_id, reason, timedelta(hours=hours)))
        row = await cur.fetchone()
    assert row is not None
    return row


async def recent_emergency_access(conn: psycopg.AsyncConnection, limit: int = 100) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT e.*, s.username, s.full_name, p.personal_number, p.given_name || ' ' || p.family_name AS patient_name"
            " FROM emergency_access e JOIN staff s ON s.id = e.staff_id JOIN patient p ON p.id = e.patient_id"
            " ORDER BY e.granted_at DESC LIMIT %s", (limit,))
        return await cur.fetchall()
