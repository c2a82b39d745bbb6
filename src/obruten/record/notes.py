"""Journal notes (anteckningar): inskrivning, daganteckning, omvårdnad, konsultation, telefon, epikris."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import psycopg
from pydantic import BaseModel, ConfigDict, Field

from obruten.platform.errors import Forbidden, NotFound
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


# Note kinds each role writes: a physician's notes and a nurse's (omvårdnad); both take phone calls.
KINDS_BY_ROLE: dict[str, tuple[str, ...]] = {
    "physician": ("daganteckning", "inskrivning", "konsultation", "telefon", "epikris"),
    "nurse": ("omvardnad", "telefon"),
}


def kinds_for(role: str) -> tuple[str, ...]:
    """The note kinds offered to (and accepted from) ``role``, the most common first."""
    return KINDS_BY_ROLE.get(role, ())


def check_kind(role: str, kind: str) -> None:
    if kind not in kinds_for(role):
        raise Forbidden(f"a {role} does not write notes of kind {kind}; choose one of: {', '.join(kinds_for(role))}",
                        field="kind", msg_key="form.kind_not_for_role")


async def original_author(conn: psycopg.AsyncConnection, entry_id: UUID) -> tuple[int, str]:
    """Who signed the first version of a note (its author): (staff id, full name)."""
    cur = await conn.execute("SELECT s.id, s.full_name FROM note n JOIN staff s ON s.id = n.signed_by"
                             " WHERE n.entry_id = %s AND n.version = 1", (entry_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no note entry {entry_id}")
    return int(row[0]), str(row[1])


def check_author(user_id: int, author: tuple[int, str]) -> None:
    """Only a note's author corrects it; anyone else writes a new note."""
    if author[0] != user_id:
        raise Forbidden(f"only the note's author ({author[1]}) can correct it; write a new note instead",
                        author=author[1], msg_key="correct.not_author")
