"""Shared by the downtime tests: the seeded region's kit data, agent tokens, a journal service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from obruten.wardkit import tokens


def agent_token(var_dir: Path, unit: str) -> str:
    """The unit's ward-agent token of the journal whose var_dir is given (created on first use)."""
    return tokens.agent_token(var_dir, unit)


def nurse_unit(url: str) -> str:
    with psycopg.connect(url) as c:
        return c.execute("SELECT su.unit_id FROM staff_unit su JOIN staff s ON s.id = su.staff_id"
                         " WHERE s.username = 'sjukskoterska' ORDER BY 1 LIMIT 1").fetchone()[0]


def kit_data(url: str, unit_id: str) -> dict:
    """The ward-kit document (format obruten-wardkit/1) built from the database, the subset the
    downtime pages read. Stands in for ``obruten.wardkit.content.unit_kit_data`` until it exists."""
    now = datetime.now(UTC)
    with psycopg.connect(url, row_factory=dict_row) as c:
        unit = c.execute("SELECT u.id, u.name, h.name AS hospital FROM care_unit u JOIN hospital h"
                         " ON h.id = u.hospital_id WHERE u.id = %s", (unit_id,)).fetchone()
        patients = c.execute(
            "SELECT p.id, p.personal_number, p.given_name, p.family_name, p.birth_date::text, a.admitted_at"
            " FROM admission_current a JOIN patient p ON p.id = a.patient_id"
            " WHERE a.unit_id = %s AND a.discharged_at IS NULL ORDER BY p.family_name, p.given_name",
            (unit_id,)).fetchall()
        for p in patients:
            p["admitted_at"] = p["admitted_at"].isoformat()
            p["warnings"] = c.execute("SELECT entry_id::text, kind, text, severity FROM warning_current"
                                      " WHERE patient_id = %s AND active", (p["id"],)).fetchall()
            meds = c.execute(
                "SELECT entry_id::text, drug, strength, dose, route, frequency, times, as_needed"
                " FROM medication_order_current WHERE patient_id = %s AND (stop_at IS NULL OR stop_at > now())"
                " ORDER BY as_needed, drug", (p["id"],)).fetchall()
            for m in meds:
                m["times"] = [t.strftime("%H:%M") for t in m["times"]]
                m["schedule_next_24h"] = []
                m["given_last_24h"] = []
            p["medications"] = meds
            p["diagnoses"], p["notes"], p["open_referrals"] = [], [], []
    return {"format": "obruten-wardkit/1", "unit": unit, "as_of": now.isoformat(), "generated_at": now.isoformat(),
            "patients": patients}


def patient_with_order(url: str, unit_id: str) -> tuple[int, str, str]:
    """An admitted patient of the unit with a running scheduled order: (patient, order entry, dose)."""
    with psycopg.connect(url) as c:
        row = c.execute(
            "SELECT a.patient_id, o.entry_id::text, o.dose FROM admission_current a"
            " JOIN medication_order_current o ON o.patient_id = a.patient_id"
            " WHERE a.unit_id = %s AND a.discharged_at IS NULL AND o.stop_at IS NULL AND NOT o.as_needed"
            " AND o.start_at < now() - interval '1 day' ORDER BY a.patient_id, o.drug LIMIT 1", (unit_id,)).fetchone()
    assert row, "the seeded region has no running order on the nurse's unit"
    return row


def administration(patient: int, order: str, at: datetime | None = None, author: str = "sjukskoterska",
                   outcome: str = "given") -> dict:
    at = at or datetime.now(UTC) - timedelta(hours=3)
    body = {"outcome": outcome, "dose_given": "1 st"} if outcome == "given" else \
        {"outcome": outcome, "not_given_reason": "patienten sov"}
    return {"key": str(uuid.uuid4()), "kind": "medication_administration", "patient_id": patient, "author": author,
            "clinical_at": at.isoformat(), "recorded_at": (at + timedelta(minutes=5)).isoformat(),
            "order_entry": order, "administration": body}


def note(patient: int, body: str, at: datetime | None = None, author: str = "sjukskoterska") -> dict:
    at = at or datetime.now(UTC) - timedelta(hours=2)
    return {"key": str(uuid.uuid4()), "kind": "note", "patient_id": patient, "author": author,
            "clinical_at": at.isoformat(), "recorded_at": (at + timedelta(minutes=2)).isoformat(),
            "note": {"kind": "omvardnad", "body": body}}


def batch(unit: str, entries: list[dict], device: str = "agent-test") -> dict:
    return {"format": "obruten-postreg/1", "batch_id": str(uuid.uuid4()), "device_id": device, "unit_id": unit,
            "entries": entries}


def received(url: str, keys: list[str]) -> int:
    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM postreg_entry WHERE idempotency_key = ANY(%s::uuid[])",
                         (keys,)).fetchone()[0]
