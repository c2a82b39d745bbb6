"""The batch a ward agent submits: entries recorded during downtime, each with an idempotency key.

The entry's content is validated with the record's own models (``notes.NewNote``,
``medication.NewAdministration``) so a batch the journal accepts can always be registered; the
clinical time lives on the entry, never inside the content.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from obruten.platform.fields import BIGINT_MAX, ClinicalTime, Line, Moment
from obruten.platform.signing import canonical, sha256_hex
from obruten.record.medication import NewAdministration
from obruten.record.notes import NewNote

BATCH_FORMAT = "obruten-postreg/1"
MAX_ENTRIES = 1000


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
