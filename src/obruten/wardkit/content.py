"""What a ward downtime kit holds: every admitted patient of one care unit, as one JSON document.

PostgreSQL builds the whole document in one statement per unit (``KIT_SQL``), with the same
predicates as the patient overview (``obruten.record.patients.OVERVIEW_SQL``: active warnings and
diagnoses, orders not stopped, open referrals) and the ward list (``obruten.record.ward.WARD_LIST_SQL``:
open admissions of the unit, scheduled times of day in Europe/Stockholm). It adds what a ward
needs when the journal is gone: each order's administration times for the next 24 hours and what
was given (or not) in the last 24 hours, the results of the last 72 hours, and the facts a shift
works from (``kit_fact``: weight, code status, bed, responsible physician; migration 0060).

``as_of`` is the time the data is from: the statement's time on a primary, the last replayed
transaction's commit time on a standby (the read copy), so a lagging read copy shows as an older
kit. A stopped order (``stop_at`` at or before ``as_of``) is not in the kit; a scheduled time after
an order's stop is not on its schedule; a patient admitted after ``as_of`` is not in the kit, nor one
who is discharged (the partial index ``admission_unit_open`` serves exactly this).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import psycopg

from obruten.platform.errors import NotFound

FORMAT = "obruten-wardkit/1"
NOTES_PER_PATIENT = 5
RESULT_HOURS = 72          # lab and radiology results of the last three days
RESULTS_PER_PATIENT = 12

# %(u)s: unit id; %(at)s: the kit's time (NULL: the database's own view of "now", see module doc).
KIT_SQL = """
WITH clock AS (
  SELECT COALESCE(%(at)s::timestamptz,
                  CASE WHEN pg_is_in_recovery() THEN pg_last_xact_replay_timestamp() END,
                  statement_timestamp()) AS at
),
unit AS (
  SELECT u.id, u.name, h.name AS hospital FROM care_unit u JOIN hospital h ON h.id = u.hospital_id
  WHERE u.id = %(u)s
),
adm AS (
  SELECT DISTINCT ON (a.patient_id) a.patient_id, a.admitted_at
  FROM admission_current a, clock
  WHERE a.unit_id = %(u)s AND a.discharged_at IS NULL AND a.admitted_at <= clock.at
  ORDER BY a.patient_id, a.admitted_at DESC
),
orders AS (
  SELECT o.* FROM medication_order_current o JOIN adm ON adm.patient_id = o.patient_id, clock
  WHERE o.stop_at IS NULL OR o.stop_at > clock.at
)
SELECT json_build_object(
  'format', %(format)s::text,
  'unit', (SELECT json_build_object('id', unit.id, 'name', unit.name, 'hospital', unit.hospital) FROM unit),
  'as_of', (SELECT at FROM clock),
  'generated_at', statement_timestamp(),
  'patients', COALESCE((SELECT json_agg(row ORDER BY row.family_name, row.given_name, row.id) FROM (
    SELECT p.id, p.personal_number, p.given_name, p.family_name, p.birth_date, p.sex, adm.admitted_at,
      COALESCE((SELECT json_object_agg(f.kind, json_build_object('value', f.value, 'staff', s.full_name,
                  'clinical_at', f.clinical_at)) FROM (
                  SELECT DISTINCT ON (f.kind) f.kind, f.value, f.staff_id, f.clinical_at
                  FROM kit_fact_current f, clock
                  WHERE f.patient_id = p.id AND f.clinical_at <= clock.at
                  ORDER BY f.kind, f.clinical_at DESC, f.id DESC) f LEFT JOIN staff s ON s.id = f.staff_id),
               '{}'::json) AS facts,
      COALESCE((SELECT json_agg(r ORDER BY r.clinical_at DESC) FROM (
                  SELECT r.order_number, f.kind, f.tests, r.text, r.abnormal, r.clinical_at
                  FROM referral_result_current r
                  JOIN referral_current f ON f.order_number = r.order_number AND f.patient_id = r.patient_id, clock
                  WHERE r.patient_id = p.id AND r.clinical_at > clock.at - %(results)s * interval '1 hour'
                    AND r.clinical_at <= clock.at
                  ORDER BY r.clinical_at DESC LIMIT %(results_max)s) r), '[]'::json) AS results,
      COALESCE((SELECT json_agg(json_build_object('entry_id', w.entry_id, 'kind', w.kind, 'text', w.text,
                  'severity', w.severity)
                  ORDER BY w.severity = 'life_threatening' DESC, w.severity = 'high' DESC, w.clinical_at DESC)
                FROM warning_current w WHERE w.patient_id = p.id AND w.active), '[]'::json) AS warnings,
      COALESCE((SELECT json_agg(json_build_object('entry_id', d.entry_id, 'code', d.code, 'text', d.text)
                  ORDER BY d.clinical_at DESC)
                FROM diagnosis_current d WHERE d.patient_id = p.id AND d.active), '[]'::json) AS diagnoses,
      COALESCE((SELECT json_agg(json_build_object('entry_id', o.entry_id, 'drug', o.drug, 'strength', o.strength,
                  'dose', o.dose, 'route', o.route, 'frequency', o.frequency,
                  'times', (SELECT COALESCE(json_agg(to_char(t, 'HH24:MI') ORDER BY t), '[]'::json)
                            FROM unnest(o.times) t),
                  'as_needed', o.as_needed, 'indication', o.indication,
                  -- the structured maximum of an as-needed order (schema 0055); older orders have none
                  -- and the kit shows the prescriber's frequency text instead
                  'max_24h', o.prn_max_per_24h::text, 'substance', o.substance, 'form', o.form,
                  'schedule_next_24h', (
                    SELECT COALESCE(json_agg(due ORDER BY due), '[]'::json) FROM (
                      SELECT (day + t) AT TIME ZONE 'Europe/Stockholm' AS due
                      FROM unnest(o.times) t,
                           generate_series(date_trunc('day', clock.at AT TIME ZONE 'Europe/Stockholm'),
                                           date_trunc('day', clock.at AT TIME ZONE 'Europe/Stockholm')
                                             + interval '1 day', interval '1 day') day
                      WHERE NOT o.as_needed) s
                    WHERE due > clock.at AND due <= clock.at + interval '24 hours' AND due >= o.start_at
                      AND (o.stop_at IS NULL OR due < o.stop_at)),
                  'given_last_24h', (
                    SELECT COALESCE(json_agg(json_build_object('entry_id', m.entry_id, 'outcome', m.outcome,
                             'clinical_at', m.clinical_at, 'dose_given', m.dose_given,
                             'not_given_reason', m.not_given_reason, 'by', s.full_name)
                             ORDER BY m.clinical_at DESC), '[]'::json)
                    FROM medication_administration_current m JOIN staff s ON s.id = m.signed_by
                    WHERE m.order_entry = o.entry_id AND m.clinical_at > clock.at - interval '24 hours'
                      AND m.clinical_at <= clock.at))
                  ORDER BY o.as_needed, o.drug, o.start_at)
                FROM orders o, clock WHERE o.patient_id = p.id), '[]'::json) AS medications,
      COALESCE((SELECT json_agg(n ORDER BY n.clinical_at DESC) FROM (
                  SELECT n.entry_id, n.kind, n.title, n.body, n.clinical_at, s.full_name AS author
                  FROM note_current n JOIN staff s ON s.id = n.signed_by, clock
                  WHERE n.patient_id = p.id AND n.clinical_at <= clock.at
                  ORDER BY n.clinical_at DESC LIMIT %(notes)s) n), '[]'::json) AS notes,
      COALESCE((SELECT json_agg(f ORDER BY f.clinical_at DESC) FROM (
                  SELECT f.order_number, f.kind, f.tests, f.question, f.priority, f.clinical_at
                  FROM referral_current f
                  WHERE f.patient_id = p.id AND NOT f.cancelled
                    AND NOT EXISTS (SELECT 1 FROM referral_result r WHERE r.order_number = f.order_number)) f),
               '[]'::json) AS open_referrals
    FROM adm JOIN patient p ON p.id = adm.patient_id
  ) row), '[]'::json)
)::text
FROM unit
"""


async def unit_kit_json(conn: psycopg.AsyncConnection, unit_id: str, now: datetime | None = None) -> str:
    """The kit data document as JSON text, exactly as PostgreSQL built it (times in UTC)."""
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    async with conn.transaction():
        await conn.execute("SET LOCAL TimeZone = 'UTC'")
        cur = await conn.execute(KIT_SQL, {"u": unit_id, "at": now.astimezone(UTC) if now else None,
                                           "format": FORMAT, "notes": NOTES_PER_PATIENT,
                                           "results": RESULT_HOURS, "results_max": RESULTS_PER_PATIENT})
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no care unit {unit_id!r}; list the units with `obruten wardkit build --all`")
    return row[0]


async def unit_kit_data(conn: psycopg.AsyncConnection, unit_id: str, now: datetime | None = None) -> dict:
    """The kit data document (format ``obruten-wardkit/1``) of one care unit."""
    return json.loads(await unit_kit_json(conn, unit_id, now))


async def unit_ids(conn: psycopg.AsyncConnection, wards_only: bool = False) -> list[str]:
    """Every care unit (or only the wards, which have beds), in a stable order."""
    cur = await conn.execute("SELECT id FROM care_unit" + (" WHERE kind = 'ward'" if wards_only else "")
                             + " ORDER BY id")
    return [r[0] for r in await cur.fetchall()]
