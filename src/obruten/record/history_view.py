"""An entry's versions as a clinician reads them: each field under its clinical name, times in
Europe/Stockholm (24 h), coded values in words, and what changed since the previous version marked.

``versions`` turns the stored rows (``entries.history``) into what ``history.html`` shows; the
labels and coded values are translation keys, so the page is in the reader's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# bookkeeping a reader does not need (who signed and when is shown in each version's header)
_HIDDEN = {"id", "entry_id", "version", "supersedes", "signed_by", "signed_at", "reason", "signed_by_name",
           "patient_id", "downtime_registered_at", "downtime_author", "downtime_confirmed_by", "order_entry",
           "override", "submission", "stopped_by"}

# a field's label: the translation key of its clinical name
LABELS = {
    "kind": "note.kind", "title": "note.title", "body": "note.body", "clinical_at": "field.clinical_at",
    "unit_id": "field.unit", "text": "field.text", "severity": "field.severity", "active": "field.active",
    "code": "field.code", "drug": "med.drug", "strength": "med.strength", "dose": "med.dose", "route": "med.route",
    "frequency": "med.frequency", "times": "med.times", "as_needed": "med.as_needed", "indication": "med.indication",
    "start_at": "med.start", "stop_at": "med.stop", "outcome": "med.outcome", "dose_given": "med.dose_given",
    "not_given_reason": "med.not_given_reason", "order_number": "field.order_number", "tests": "referral.tests",
    "question": "referral.question", "priority": "referral.priority", "cancelled": "field.cancelled",
    "abnormal": "result.abnormal", "admitted_at": "adt.admitted_at", "discharged_at": "adt.discharged_at",
    "cause": "adt.cause", "substance": "med.substance", "form": "med.form", "prn_max_per_24h": "med.prn_max",
    "allergy_override_reason": "med.allergy_override_reason", "stop_reason": "med.stop_reason",
    "slot_at": "med.slot", "confirm_reason": "med.confirm_reason",
}

# coded values shown in words: (table, field) -> translation key prefix
CODES = {
    ("note", "kind"): "note.", ("warning", "kind"): "warning.", ("warning", "severity"): "severity.",
    ("medication_administration", "outcome"): "outcome.", ("referral", "kind"): "referral.",
    ("referral", "priority"): "referral.", ("medication_order", "route"): "route.",
}


@dataclass(frozen=True)
class Field:
    name: str
    label: str           # translation key (or the raw name if none is known)
    value: Any
    shown: str           # "time", "bool", "code", "list" or "text": how the template shows it
    code_prefix: str
    changed: bool


def _shown(table: str, name: str, value: Any) -> tuple[str, str]:
    if isinstance(value, datetime):
        return "time", ""
    if isinstance(value, bool):
        return "bool", ""
    if (table, name) in CODES:
        return "code", CODES[(table, name)]
    if isinstance(value, list | tuple):
        return "list", ""
    return "text", ""


def versions(rows: list[dict], table: str = "") -> list[dict]:
    """Each version with its ``fields`` (clinical labels, changed ones marked) and its header data."""
    table = table or _guess(rows)
    out: list[dict] = []
    previous: dict | None = None
    for row in rows:
        fields = []
        for name, value in row.items():
            if name in _HIDDEN or (value in (None, "", [], False) and previous is None and name not in LABELS):
                continue
            shown, prefix = _shown(table, name, value)
            changed = previous is not None and previous.get(name) != value
            fields.append(Field(name, LABELS.get(name, name), value, shown, prefix, changed))
        out.append({**{k: row.get(k) for k in ("version", "signed_at", "signed_by_name", "reason",
                                               "downtime_registered_at", "downtime_author", "downtime_confirmed_by",
                                               "override")},
                    "fields": fields, "changed": [f.label for f in fields if f.changed]})
        previous = row
    return out


def _guess(rows: list[dict]) -> str:
    first = rows[0] if rows else {}
    if "body" in first:
        return "note"
    if "outcome" in first:
        return "medication_administration"
    if "severity" in first:
        return "warning"
    if "tests" in first:
        return "referral"
    return ""
