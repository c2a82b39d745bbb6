"""The medication list: orders (ordinationer) and administrations against them.

Stopping an order is a new version with ``stop_at`` set; an administration records a dose given,
or not given with a reason, against the order's entry id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

import psycopg
from pydantic import BaseModel, ConfigDict, Field, model_validator

from obruten.platform.errors import Invalid, NotFound
from obruten.platform.fields import Line, Moment, Text, TimeOfDay
from obruten.postreg.models import NewAdministration  # shared with the ward agent's downtime batch
from obruten.record import entries

ROUTES = ("po", "iv", "im", "sc", "rektalt", "inhalation", "kutant", "sublingualt")


class NewOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    drug: Line = Field(min_length=1, max_length=200)
    strength: Line = Field(min_length=1, max_length=100)
    dose: Line = Field(min_length=1, max_length=100)
    route: Literal["po", "iv", "im", "sc", "rektalt", "inhalation", "kutant", "sublingualt"]
    frequency: Line = Field(min_length=1, max_length=100)
    times: list[TimeOfDay] = Field(default_factory=list, max_length=24)
    as_needed: bool = False
    indication: Text = Field(default="", max_length=500)
    start_at: Moment | None = None
    stop_at: Moment | None = None
    unit_id: Line | None = Field(default=None, min_length=1, max_length=40)

    @model_validator(mode="after")
    def _schedule(self) -> NewOrder:
        if not self.as_needed and not self.times:
            raise ValueError("a scheduled order needs at least one time of day (or as_needed=true)")
        if self.start_at and self.stop_at and self.stop_at < self.start_at:
            raise ValueError("stop_at is before start_at")
        return self


class StopOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: Text = Field(min_length=3, max_length=500)
    stop_at: Moment | None = None


async def order(conn: psycopg.AsyncConnection, patient_id: int, unit_id: str, new: NewOrder, prescriber: int) -> dict:
    return await entries.insert(conn, "medication_order", {
        "patient_id": patient_id, "unit_id": unit_id, "drug": new.drug, "strength": new.strength,
        "dose": new.dose, "route": new.route, "frequency": new.frequency, "times": new.times,
        "as_needed": new.as_needed, "indication": new.indication,
        "start_at": new.start_at or datetime.now(UTC), "stop_at": new.stop_at}, prescriber)


async def current_order(conn: psycopg.AsyncConnection, order_entry: UUID) -> dict:
    try:
        return await entries.current(conn, "medication_order", order_entry)
    except NotFound as exc:
        raise NotFound(f"no medication order {order_entry}") from exc


async def stop(conn: psycopg.AsyncConnection, order_entry: UUID, stop: StopOrder, prescriber: int) -> dict:
    current = await current_order(conn, order_entry)
    at = stop.stop_at or datetime.now(UTC)
    if current["stop_at"] is not None and current["stop_at"] <= at:
        raise Invalid("the order is already stopped")
    if at < current["start_at"]:
        raise Invalid("cannot stop an order before it starts")
    return await entries.correct(conn, "medication_order", order_entry, {"stop_at": at}, prescriber,
                                 reason=stop.reason)


async def administer(conn: psycopg.AsyncConnection, order_entry: UUID, new: NewAdministration,
                     signed_by: int) -> dict:
    current = await current_order(conn, order_entry)
    at = new.clinical_at or datetime.now(UTC)
    if current["stop_at"] is not None and at > current["stop_at"]:
        raise Invalid("the order was stopped before that time; an administration cannot be recorded against it")
    return await entries.insert(conn, "medication_administration", {
        "patient_id": current["patient_id"], "order_entry": order_entry, "outcome": new.outcome,
        "dose_given": new.dose_given or (current["dose"] if new.outcome == "given" else ""),
        "not_given_reason": new.not_given_reason, "clinical_at": at}, signed_by)


async def administrations(conn: psycopg.AsyncConnection, order_entry: UUID) -> list[dict]:
    from psycopg.rows import dict_row

    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT m.*, s.full_name AS signed_by_name, r.registered_at AS downtime_registered_at,"
            " r.author AS downtime_author, rb.full_name AS downtime_confirmed_by FROM medication_administration_current m"
            " JOIN staff s ON s.id = m.signed_by LEFT JOIN postreg_registration r"
            "   ON r.entry_table = 'medication_administration' AND r.entry_id = m.entry_id"
            " LEFT JOIN staff rb ON rb.id = r.registered_by"
            " WHERE m.order_entry = %s ORDER BY m.clinical_at DESC",
            (order_entry,))
        return await cur.fetchall()
