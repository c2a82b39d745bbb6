"""The downtime batch contract between the ward agent and the journal.

A ward agent, which must run offline, submits a batch of entries recorded during downtime, each
with an idempotency key. The entry's content is a ``NewNote`` or a ``NewAdministration``: the same
models the journal takes for a note or an administration (``record.notes`` and
``record.medication`` import them from here), so a batch the journal accepts can always be
registered. The clinical time lives on the entry, never inside the content.

This module imports nothing of the record: the agent and the journal both depend on it.
"""

from __future__ import annotations

from typing import Literal, get_args
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from obruten.platform.fields import BIGINT_MAX, ClinicalTime, Line, Moment, Text
from obruten.platform.signing import canonical, sha256_hex

BATCH_FORMAT: Literal["obruten-postreg/1"] = "obruten-postreg/1"
MAX_ENTRIES = 1000

NoteKind = Literal["inskrivning", "daganteckning", "omvardnad", "konsultation", "telefon", "epikris"]
NOTE_KINDS: tuple[NoteKind, ...] = get_args(NoteKind)


class NewNote(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: NoteKind
    title: Line = Field(default="", max_length=200)
    body: Text = Field(min_length=1, max_length=20000)
    unit_id: Line | None = Field(default=None, min_length=1, max_length=40, description="Defaults to the patient's ward")
    clinical_at: ClinicalTime | None = Field(default=None, description="When it happened; defaults to now")


class NewAdministration(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    outcome: Literal["given", "not_given"]
    dose_given: Line = Field(default="", max_length=100)
    not_given_reason: Text | None = Field(default=None, max_length=500)
    clinical_at: ClinicalTime | None = None

    @model_validator(mode="after")
    def _reason(self) -> NewAdministration:
        if self.outcome == "not_given" and not self.not_given_reason:
            raise ValueError("not_given needs not_given_reason")
        return self


class DowntimeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    key: UUID = Field(description="Idempotency key, made on the device when the entry was recorded")
    kind: Literal["note", "medication_administration"]
    patient_id: int = Field(ge=1, le=BIGINT_MAX)
    author: Line = Field(min_length=1, max_length=100, description="Username of who documented it")
    clinical_at: ClinicalTime = Field(description="When it happened (the original time)")
    recorded_at: Moment = Field(description="When it was written down on the device")
    order_entry: UUID | None = Field(default=None, description="The medication order, for administrations")
    note: NewNote | None = None
    administration: NewAdministration | None = None

    @model_validator(mode="after")
    def _shape(self) -> DowntimeEntry:
        if self.kind == "note":
            if self.note is None or self.administration is not None or self.order_entry is not None:
                raise ValueError("a note entry carries 'note' (and no administration or order_entry)")
            if self.note.clinical_at is not None or self.note.unit_id is not None:
                raise ValueError("put clinical_at on the entry; the unit comes from the ward agent")
        else:
            if self.administration is None or self.order_entry is None or self.note is not None:
                raise ValueError("an administration entry carries 'order_entry' and 'administration'")
            if self.administration.clinical_at is not None:
                raise ValueError("put clinical_at on the entry, not inside 'administration'")
        return self

    def content(self) -> dict:
        """What was documented, as stored in the review queue's payload."""
        part = self.note if self.kind == "note" else self.administration
        assert part is not None
        return part.model_dump(mode="json", exclude_none=True, exclude={"clinical_at", "unit_id"})

    def digest(self) -> str:
        """Same key with a different digest means the device sent two different entries under one key."""
        body = self.model_dump(mode="json", exclude_none=True)
        body["clinical_at"] = self.clinical_at.isoformat()
        body["recorded_at"] = self.recorded_at.isoformat()
        return sha256_hex(canonical(body))


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    format: Literal["obruten-postreg/1"] = BATCH_FORMAT
    batch_id: UUID
    device_id: Line = Field(min_length=1, max_length=100)
    unit_id: Line = Field(min_length=1, max_length=40)
    sent_at: Moment | None = None
    entries: list[DowntimeEntry] = Field(min_length=1, max_length=MAX_ENTRIES)

    @model_validator(mode="after")
    def _unique_keys(self) -> Batch:
        keys = [e.key for e in self.entries]
        if len(set(keys)) != len(keys):
            raise ValueError("an idempotency key appears twice in the batch")
        return self


class KeysQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_id: Line = Field(min_length=1, max_length=40)
    device_id: Line = Field(min_length=1, max_length=100)
    keys: list[UUID] = Field(min_length=1, max_length=MAX_ENTRIES)
