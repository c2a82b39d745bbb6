"""Shared by the downtime tests: the seeded region's kit data, agent tokens, a journal service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from obruten.wardkit import tokens


def agent_token(var_dir: Path, unit: str) -> str:
    """The unit's ward-agent token of the journal whose var_dir is given (created on first use)."""
    return tokens.agent_token(var_dir, unit)


def nurse_unit(url: str) -> str:
    with psycopg.connect(url) as c:
        return c.execute("SELECT su.unit_id FROM staff_unit su JOIN staff s ON s.id = su.staff_id"
                         " WHERE s.username = 'sjukskoterska' ORDER BY 1 LIMIT 1").fetchone()[0]


def kit_data(url: str, unit_id: str) -> dict:
    """The unit's ward-kit document, exactly as the kit builder makes it."""
    import asyncio

    from obruten.wardkit.content import unit_kit_data

    async def build() -> dict:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await unit_kit_data(conn, unit_id)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # its own thread: callers may run inside an event loop (Playwright)
        return pool.submit(asyncio.run, build()).result()


def patient_with_order(url: str, unit_id: str, last: bool = False) -> tuple[int, str, str]:
    """An admitted patient of the unit with a running scheduled order: (patient, order entry, dose).
    ``last``: another patient than the default one (the crash tests fill that one's queue by the thousand)."""
    with psycopg.connect(url) as c:
        row = c.execute(
            "SELECT a.patient_id, o.entry_id::text, o.dose FROM admission_current a"
            " JOIN medication_order_current o ON o.patient_id = a.patient_id"
            " WHERE a.unit_id = %s AND a.discharged_at IS NULL AND o.stop_at IS NULL AND NOT o.as_needed"
            " AND o.start_at < now() - interval '1 day' ORDER BY a.patient_id " + ("DESC" if last else "") +
            ", o.drug LIMIT 1", (unit_id,)).fetchone()
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
