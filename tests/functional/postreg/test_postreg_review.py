"""Review and registration against a real PostgreSQL: original time, marker, never twice, all or nothing."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from obruten.platform.errors import Conflict, Forbidden, Invalid
from obruten.postreg.agents import AgentIdentity
from obruten.postreg.models import Batch
from obruten.postreg.service import PostRegistration
from obruten.record import medication, staff
from obruten.record.audit import AuditWriter, DatabaseSink
from obruten.record.service import Journal
from postreg_helpers import administration, batch, note, nurse_unit, patient_with_order


def run(url: str, work):  # type: ignore[no-untyped-def]
    """Run ``work(service, sessions)`` with a fresh pool (each test gets its own event loop)."""

    async def main():  # type: ignore[no-untyped-def]
        async with AsyncConnectionPool(url, min_size=1, max_size=4, kwargs={"options": "-c TimeZone=UTC"}) as pool:
            journal = Journal(pool=pool, audit=AuditWriter(DatabaseSink(pool)))
            async with pool.connection() as conn:
                sessions = {u: await staff.authenticate(conn, u, "demo") for u in ("sjukskoterska", "lakare", "admin")}
            return await work(PostRegistration(journal), sessions)

    return asyncio.run(main())


def queue_entries(url: str, unit: str, entries: list[dict]) -> list[int]:
    async def work(service, sessions):  # type: ignore[no-untyped-def]
        await service.receive(AgentIdentity(unit, "agent-test"), Batch.model_validate(batch(unit, entries)))

    run(url, work)
    with psycopg.connect(url) as c:
        return [c.execute("SELECT id FROM postreg_entry WHERE idempotency_key = %s", (e["key"],)).fetchone()[0]
                for e in entries]


@pytest.fixture(scope="module")
def unit(region_url) -> str:
    return nurse_unit(region_url)


def test_confirming_registers_at_the_original_time_with_the_marker(region_url, unit) -> None:
    patient, order, _ = patient_with_order(region_url, unit)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5, minutes=17)
    adm = administration(patient, order, at=at)
    [entry_id] = queue_entries(region_url, unit, [adm])

    async def work(service, s):  # type: ignore[no-untyped-def]
        review = await service.review(s["sjukskoterska"], unit, patient)
        assert any(r["id"] == entry_id for r in review.pending)
        assert any(q["patient_id"] == patient and q["pending"] >= 1 for q in review.per_patient)
        row = await service.confirm(s["sjukskoterska"], entry_id, duplicates_checked=True)
        async with service.journal.pool.connection() as conn:
            given = await medication.administrations(conn, uuid.UUID(order))
        again = None
        try:
            await service.confirm(s["lakare"], entry_id, duplicates_checked=True)
        except Conflict as exc:
            again = exc.message
        return row, given, again

    row, given, again = run(region_url, work)
    assert row["clinical_at"] == at and row["outcome"] == "given" and row["dose_given"] == "1 st"
    mine = [g for g in given if g["entry_id"] == row["entry_id"]]
    assert mine[0]["downtime_registered_at"] is not None and mine[0]["downtime_author"] == "sjukskoterska"
    assert again is not None and "already confirmed by Sam Sjuksköterska" in again
    with psycopg.connect(region_url) as c:
        assert c.execute("SELECT count(*) FROM medication_administration m JOIN postreg_registration r"
                         " ON r.entry_id = m.entry_id WHERE r.postreg_entry = %s", (entry_id,)).fetchone()[0] == 1
        assert c.execute("SELECT array_agg(state ORDER BY id) FROM postreg_state_change WHERE entry = %s",
                         (entry_id,)).fetchone()[0] == ["pending", "confirmed"]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("UPDATE postreg_state_change SET state = 'rejected' WHERE entry = %s", (entry_id,))


def test_two_reviewers_at_once_register_it_once(region_url, unit) -> None:
    patient, _, _ = patient_with_order(region_url, unit)
    [entry_id] = queue_entries(region_url, unit, [note(patient, f"Samtidig granskning {uuid.uuid4()}")])

    async def work(service, s):  # type: ignore[no-untyped-def]
        return await asyncio.gather(service.confirm(s["sjukskoterska"], entry_id),
                                    service.confirm(s["lakare"], entry_id), return_exceptions=True)

    results = run(region_url, work)
    assert sum(isinstance(r, dict) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 1
    with psycopg.connect(region_url) as c:
        assert c.execute("SELECT count(*) FROM postreg_registration WHERE postreg_entry = %s",
                         (entry_id,)).fetchone()[0] == 1


def test_a_likely_duplicate_must_be_checked_before_confirming(region_url, unit) -> None:
    patient, order, _ = patient_with_order(region_url, unit)
    at = datetime.now(UTC) - timedelta(hours=8)
    with psycopg.connect(region_url) as c:  # already documented in the journal 20 minutes later
        staff_id = c.execute("SELECT id FROM staff WHERE username = 'lakare'").fetchone()[0]
        c.execute("INSERT INTO medication_administration (patient_id, order_entry, outcome, dose_given, clinical_at,"
                  " signed_by) VALUES (%s, %s, 'given', '1 st', %s, %s)", (patient, order, at + timedelta(minutes=20),
                                                                          staff_id))
    [entry_id] = queue_entries(region_url, unit, [administration(patient, order, at=at)])

    async def work(service, s):  # type: ignore[no-untyped-def]
        flagged = next(r for r in (await service.review(s["sjukskoterska"], unit, patient)).pending
                       if r["id"] == entry_id)
        with pytest.raises(Invalid, match="may already be documented"):
            await service.confirm(s["sjukskoterska"], entry_id)
        await service.reject(s["sjukskoterska"], entry_id, "Redan dokumenterad i journalen")
        with pytest.raises(Conflict, match="already rejected"):
            await service.confirm(s["sjukskoterska"], entry_id, duplicates_checked=True)
        return flagged

    flagged = run(region_url, work)
    assert flagged["in_record"] and flagged["in_record"][0]["outcome"] == "given"
    with psycopg.connect(region_url) as c:
        assert c.execute("SELECT count(*) FROM postreg_registration WHERE postreg_entry = %s",
                         (entry_id,)).fetchone()[0] == 0


def test_failed_registration_leaves_the_entry_pending(region_url, unit) -> None:
    """The order was stopped before the downtime administration: the record refuses it, nothing is half done."""
    patient, order, _ = patient_with_order(region_url, unit)
    with psycopg.connect(region_url) as c:
        physician = c.execute("SELECT id FROM staff WHERE username = 'lakare'").fetchone()[0]
        c.execute("INSERT INTO medication_order (entry_id, version, supersedes, patient_id, unit_id, drug, strength,"
                  " dose, route, frequency, times, as_needed, indication, start_at, stop_at, signed_by, reason)"
                  " SELECT entry_id, version + 1, id, patient_id, unit_id, drug, strength, dose, route, frequency,"
                  " times, as_needed, indication, start_at, now() - interval '2 hours', %s, 'test: utsatt'"
                  " FROM medication_order_current WHERE entry_id = %s", (physician, order))
    [entry_id] = queue_entries(region_url, unit, [administration(patient, order, at=datetime.now(UTC)
                                                                 - timedelta(minutes=30))])

    async def work(service, s):  # type: ignore[no-untyped-def]
        with pytest.raises(Invalid, match="stopped"):
            await service.confirm(s["sjukskoterska"], entry_id, duplicates_checked=True)

    run(region_url, work)
    with psycopg.connect(region_url) as c:
        assert c.execute("SELECT count(*) FROM postreg_pending WHERE id = %s", (entry_id,)).fetchone()[0] == 1
        assert c.execute("SELECT count(*) FROM postreg_registration WHERE postreg_entry = %s",
                         (entry_id,)).fetchone()[0] == 0


def test_only_clinical_staff_of_the_unit_review(region_url, unit) -> None:
    patient, _, _ = patient_with_order(region_url, unit)
    [entry_id] = queue_entries(region_url, unit, [note(patient, "Behörighetstest")])

    async def work(service, s):  # type: ignore[no-untyped-def]
        with pytest.raises(Forbidden, match="role"):
            await service.review(s["admin"], unit)
        with pytest.raises(Forbidden, match="role"):
            await service.confirm(s["admin"], entry_id)
        with pytest.raises(Invalid, match="why"):
            await service.reject(s["sjukskoterska"], entry_id, " ")
        return await service.pending_counts()

    counts = run(region_url, work)
    assert counts[unit] >= 1


def test_a_confirmed_note_shows_its_marker_in_the_overview_and_history(region_url, unit) -> None:
    patient, _, _ = patient_with_order(region_url, unit)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=95)
    body = f"Under driftstoppet: patienten orolig, lugnades med samtal. {uuid.uuid4()}"
    [entry_id] = queue_entries(region_url, unit, [note(patient, body, at=at)])

    async def work(service, s):  # type: ignore[no-untyped-def]
        row = await service.confirm(s["sjukskoterska"], entry_id)
        overview = await service.journal.overview(s["sjukskoterska"], patient)
        history = await service.journal.history(s["sjukskoterska"], "note", row["entry_id"])
        return overview, history

    overview, history = run(region_url, work)
    shown = next(n for n in overview["notes"] if n["body"] == body)
    assert shown["clinical_at"].startswith(at.strftime("%Y-%m-%dT%H:%M")) and shown["downtime_author"] == "sjukskoterska"
    assert history[0]["downtime_registered_at"] is not None and history[0]["clinical_at"] == at


def test_operators_see_pending_counts_per_unit(region_url, unit) -> None:
    from click.testing import CliRunner

    from obruten.cli import main

    patient, _, _ = patient_with_order(region_url, unit)
    queue_entries(region_url, unit, [note(patient, "Räknas i kön")])
    result = CliRunner().invoke(main, ["--database-url", region_url, "postreg", "pending"])
    assert result.exit_code == 0, result.output
    assert re.search(rf"^{re.escape(unit)}\s+\d+ pending\s+\(review at /postreg/{re.escape(unit)}\)$", result.output,
                     re.M)
    down = CliRunner().invoke(main, ["--database-url", "postgresql://nobody@127.0.0.1:9/x", "postreg", "pending"])
    assert down.exit_code == 1 and "obruten db start" in down.output


def test_near_identical_notes_and_two_devices_documenting_the_same_dose_are_flagged(region_url, unit) -> None:
    patient, order, _ = patient_with_order(region_url, unit, last=True)
    at = datetime.now(UTC) - timedelta(hours=30)
    body = f"Patienten   har sovit hela natten, vaken kl 06. {uuid.uuid4()}"
    first = note(patient, body, at=at)
    same_text = note(patient, body.upper().replace("   ", " "), at=at + timedelta(minutes=20))
    other_text = note(patient, f"Helt annan iakttagelse {uuid.uuid4()}", at=at + timedelta(minutes=5))
    dose_a = administration(patient, order, at=at - timedelta(hours=3))
    dose_b = {**administration(patient, order, at=at - timedelta(hours=3, minutes=-25)), "author": "lakare"}
    ids = queue_entries(region_url, unit, [first, same_text, other_text, dose_a, dose_b])

    async def work(service, s):  # type: ignore[no-untyped-def]
        await service.confirm(s["sjukskoterska"], ids[0], duplicates_checked=True)
        return {r["id"]: r for r in (await service.review(s["sjukskoterska"], unit, patient)).pending}

    pending = run(region_url, work)
    assert pending[ids[1]]["in_record"] and not pending[ids[2]]["in_record"]
    assert pending[ids[3]]["in_queue"][0]["author"] == "lakare"
    assert pending[ids[4]]["in_queue"][0]["author"] == "sjukskoterska"
