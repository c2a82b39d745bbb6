"""Journal notes (anteckningar): inskrivning, daganteckning, omvårdnad, konsultation, telefon, epikris."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import psycopg
from pydantic import BaseModel, ConfigDict, Field

from obruten.platform.fields import ClinicalTime, Line, Text
from obruten.record import entries

NOTE_KINDS = ("inskrivning", "daganteckning", "omvardnad", "konsultation", "telefon", "epikris")


class NewNote(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: Literal["inskrivning", "daganteckning", "omvardnad", "konsultation", "telefon", "epikris"]
    title: Line = Field(default="", max_length=200)
    body: Text = Field(min_length=1, max_length=20000)
    unit_id: Line | None = Field(default=None, min_length=1, max_length=40, description="Defaults to the patient's ward")
    clinical_at: ClinicalTime | None = Field(default=None, description="When it happened; defaults to now")


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
