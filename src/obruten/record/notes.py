"""Journal notes (anteckningar): inskrivning, daganteckning, omvårdnad, konsultation, telefon, epikris."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from pydantic import BaseModel, ConfigDict, Field

from obruten.platform.fields import Line, Text
from obruten.postreg.models import NewNote  # shared with the ward agent's downtime batch
from obruten.record import entries


class NoteCorrection(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    body: Text = Field(min_length=1, max_length=20000)
    title: Line | None = Field(default=None, max_length=200)
    reason: Text = Field(min_length=3, max_length=500)
    expected_version: int | None = Field(default=None, ge=1, le=2**31 - 1)


async def write(conn: psycopg.AsyncConnection, patient_id: int, unit_id: str, note: NewNote, signed_by: int) -> dict:
    return await entries.insert(conn, "note", {
        "patient_id": patient_id, "unit_id": unit_id, "kind": note.kind, "title": note.title,
        "body": note.body, "clinical_at": note.clinical_at or datetime.now(UTC)}, signed_by)
