"""The patient overview: warnings, diagnoses, medication list, latest notes, results, open referrals.

Built as one JSON document by PostgreSQL in a single statement, so the API passes it through
and the HTML page renders the same document.
"""

from __future__ import annotations

import json

import psycopg

from obruten.platform.errors import NotFound

# The patient banner (name, personal number, age, sex, unit and hospital, warnings): one JSON
# object, the ``patient`` block of every patient-context page and API answer.
BANNER_JSON = """(SELECT json_build_object('id', p.id, 'personal_number', p.personal_number,
    'given_name', p.given_name, 'family_name', p.family_name, 'birth_date', p.birth_date, 'sex', p.sex,
    'reserve', p.reserve,
    'age', date_part('year', age((now() AT TIME ZONE 'Europe/Stockholm')::date, p.birth_date))::int,
    'unit_id', a.unit_id, 'unit_name', u.name, 'hospital_name', h.name, 'admitted_at', a.admitted_at,
    'merged_from', COALESCE((SELECT json_agg(r.personal_number ORDER BY r.personal_number) FROM patient_merge m
                             JOIN patient r ON r.id = m.from_patient WHERE m.into_patient = p.id), '[]'::json),
    'warnings', COALESCE((SELECT json_agg(json_build_object('kind', w.kind, 'text', w.text, 'severity', w.severity)
                  ORDER BY w.severity = 'life_threatening' DESC, w.severity = 'high' DESC, w.clinical_at DESC)
                FROM warning_current w WHERE w.patient_id = p.id AND w.active), '[]'::json))
  FROM patient p
  LEFT JOIN LATERAL (SELECT unit_id, admitted_at FROM admission_current x WHERE x.patient_id = p.id
                     AND x.discharged_at IS NULL ORDER BY x.admitted_at DESC LIMIT 1) a ON true
  LEFT JOIN care_unit u ON u.id = a.unit_id LEFT JOIN hospital h ON h.id = u.hospital_id
  WHERE p.id = %(p)s)"""

OVERVIEW_SQL = """
SELECT json_build_object(
  'patient', {banner},
  'admission', (SELECT json_build_object('entry_id', a.entry_id, 'unit_id', a.unit_id, 'unit_name', u.name,
                  'admitted_at', a.admitted_at, 'cause', a.cause)
                FROM admission_current a JOIN care_unit u ON u.id = a.unit_id
                WHERE a.patient_id = %(p)s AND a.discharged_at IS NULL ORDER BY a.admitted_at DESC LIMIT 1),
  'warnings', COALESCE((SELECT json_agg(json_build_object('entry_id', w.entry_id, 'kind', w.kind, 'text', w.text,
                  'severity', w.severity, 'clinical_at', w.clinical_at)
                  ORDER BY w.severity = 'life_threatening' DESC, w.severity = 'high' DESC, w.clinical_at DESC)
                FROM warning_current w WHERE w.patient_id = %(p)s AND w.active), '[]'::json),
  'diagnoses', COALESCE((SELECT json_agg(json_build_object('entry_id', d.entry_id, 'code', d.code, 'text', d.text,
                  'clinical_at', d.clinical_at) ORDER BY d.clinical_at DESC)
                FROM diagnosis_current d WHERE d.patient_id = %(p)s AND d.active), '[]'::json),
  'medications', COALESCE((SELECT json_agg(json_build_object('entry_id', o.entry_id, 'version', o.version,
                  'drug', o.drug, 'substance', o.substance, 'form', o.form, 'strength', o.strength,
                  'dose', o.dose, 'route', o.route, 'prn_max_per_24h', o.prn_max_per_24h,
                  'frequency', o.frequency, 'times', o.times, 'as_needed', o.as_needed,
                  'indication', o.indication, 'start_at', o.start_at, 'stop_at', o.stop_at,
                  'prescriber', s.full_name,
                  'last_administration', (SELECT json_build_object('outcome', m.outcome, 'clinical_at', m.clinical_at,
                        'dose_given', m.dose_given, 'not_given_reason', m.not_given_reason)
                      FROM medication_administration_current m WHERE m.order_entry = o.entry_id
                      ORDER BY m.clinical_at DESC LIMIT 1)) ORDER BY o.as_needed, o.drug)
                FROM medication_order_current o JOIN staff s ON s.id = o.signed_by
                WHERE o.patient_id = %(p)s AND (o.stop_at IS NULL OR o.stop_at > now())), '[]'::json),
  'notes', COALESCE((SELECT json_agg(n) FROM (
                SELECT n.entry_id, n.version, n.kind, n.title, n.body, n.unit_id, n.clinical_at, n.signed_at,
                       s.full_name AS author, o.signed_by AS author_id, c.full_name AS corrected_by,
                       r.registered_at AS downtime_registered_at, r.author AS downtime_author,
                       rb.full_name AS downtime_confirmed_by
                FROM note_current n
                JOIN note o ON o.entry_id = n.entry_id AND o.version = 1
                JOIN staff s ON s.id = o.signed_by
                JOIN staff c ON c.id = n.signed_by
                LEFT JOIN postreg_registration r ON r.entry_table = 'note' AND r.entry_id = n.entry_id
                LEFT JOIN staff rb ON rb.id = r.registered_by
                WHERE n.patient_id = %(p)s ORDER BY n.clinical_at DESC LIMIT 10) n), '[]'::json),
  'results', COALESCE((SELECT json_agg(r) FROM (
                SELECT r.entry_id, r.order_number, f.kind, f.tests, r.text, r.abnormal, r.clinical_at
                FROM referral_result_current r
                JOIN referral_current f ON f.order_number = r.order_number
                WHERE r.patient_id = %(p)s ORDER BY r.clinical_at DESC LIMIT 10) r), '[]'::json),
  'open_referrals', COALESCE((SELECT json_agg(f ORDER BY f.clinical_at DESC) FROM (
                SELECT f.entry_id, f.order_number, f.kind, f.tests, f.question, f.priority, f.clinical_at,
                       s.full_name AS requested_by
                FROM referral_current f JOIN staff s ON s.id = f.signed_by
                WHERE f.patient_id = %(p)s AND NOT f.cancelled
                  AND NOT EXISTS (SELECT 1 FROM referral_result r WHERE r.order_number = f.order_number)) f),
              '[]'::json)
)::text
""".replace("{banner}", BANNER_JSON)


async def overview_json(conn: psycopg.AsyncConnection, patient_id: int) -> str:
    """The overview as JSON text (exactly what the API returns)."""
    cur = await conn.execute(OVERVIEW_SQL, {"p": patient_id})
    row = await cur.fetchone()
    assert row is not None
    if row[0].startswith('{"patient" : null'):
        raise NotFound(f"no patient {patient_id}")
    return row[0]


async def overview(conn: psycopg.AsyncConnection, patient_id: int) -> dict:
    return json.loads(await overview_json(conn, patient_id))


async def banner(conn: psycopg.AsyncConnection, patient_id: int, *, identity_only: bool = False) -> dict:
    """The patient banner; ``identity_only`` leaves out the warnings (the emergency-access prompt
    shows who you are about to open, not what the record says)."""
    cur = await conn.execute(f"SELECT {BANNER_JSON}::text", {"p": patient_id})
    row = await cur.fetchone()
    if row is None or row[0] is None:
        raise NotFound(f"no patient {patient_id}")
    found: dict = json.loads(row[0])
    if identity_only:
        found.pop("warnings", None)
    return found


async def find_by_personal_number(conn: psycopg.AsyncConnection, personal_number: str) -> int | None:
    """The patient with this number; a merged reserve number resolves to the patient it was merged into."""
    cur = await conn.execute(
        "SELECT COALESCE((SELECT into_patient FROM patient_merge m WHERE m.from_patient = p.id), p.id)"
        " FROM patient p WHERE p.personal_number = %s", (personal_number.strip(),))
    row = await cur.fetchone()
    return row[0] if row else None
