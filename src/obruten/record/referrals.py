"""Referrals (remisser) for lab and radiology, and their results (svar).

A referral gets its order number from the database (``next_order_number``, see schema 0001):
<KIND>-<timeline><token>-<number> (schema 0040), unique across restarts, crash recovery, failover,
restore and divergent histories.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from obruten.platform.errors import Invalid, NotFound
from obruten.platform.fields import ClinicalTime, Line, Text
from obruten.platform.rows import one
from obruten.record import entries


class NewReferral(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: Literal["lab", "radiology"]
    tests: Text = Field(min_length=1, max_length=500)
    question: Text = Field(default="", max_length=2000)
    priority: Literal["routine", "urgent"] = "routine"
    unit_id: Line | None = Field(default=None, min_length=1, max_length=40)


class NewResult(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    text: Text = Field(min_length=1, max_length=20000)
    abnormal: bool = False
    clinical_at: ClinicalTime | None = None


async def create(conn: psycopg.AsyncConnection, patient_id: int, unit_id: str, new: NewReferral,
                 signed_by: int) -> dict:
    cur = await conn.execute("SELECT next_order_number(%s)", (new.kind,))
    (number,) = one(await cur.fetchone())
    return await entries.insert(conn, "referral", {
        "patient_id": patient_id, "unit_id": unit_id, "order_number": number, "kind": new.kind,
        "tests": new.tests, "question": new.question, "priority": new.priority,
        "clinical_at": datetime.now(UTC)}, signed_by)


async def by_order_number(conn: psycopg.AsyncConnection, order_number: str) -> dict:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM referral_current WHERE order_number = %s", (order_number,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no referral with order number {order_number!r}")
    return row


async def add_result(conn: psycopg.AsyncConnection, order_number: str, new: NewResult, signed_by: int) -> dict:
    referral = await by_order_number(conn, order_number)
    if referral["cancelled"]:
        raise Invalid(f"referral {order_number} is cancelled; a result cannot be recorded")
    return await entries.insert(conn, "referral_result", {
        "patient_id": referral["patient_id"], "order_number": order_number, "text": new.text,
        "abnormal": new.abnormal, "clinical_at": new.clinical_at or datetime.now(UTC)}, signed_by)
