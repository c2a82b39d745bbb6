"""Care units and the ward list: admitted patients, their warnings and pending administrations.

A scheduled dose is *pending* when its time of day (Europe/Stockholm) has come, or comes within
the next hour, and fewer administrations (given or not given) have been recorded for the order
since local midnight than doses have fallen due.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from obruten.platform.errors import NotFound

# The tables WARD_LIST_SQL reads (a view counts as its table): a read copy keeps a ward list cached
# across a replayed write to any other table (readcopy/journal.py). tests/unit/record checks the SQL.
WARD_LIST_TABLES = frozenset({"admission", "patient", "warning", "medication_order", "medication_administration"})

WARD_LIST_SQL = """
WITH local AS (SELECT (now() AT TIME ZONE 'Europe/Stockholm') AS now_local),
adm AS (
  SELECT a.patient_id, a.admitted_at, a.cause FROM admission_current a
  WHERE a.unit_id = %(u)s AND a.discharged_at IS NULL
)
SELECT COALESCE(json_agg(row ORDER BY row.family_name, row.given_name), '[]'::json)::text FROM (
  SELECT p.id, p.personal_number, p.reserve, p.given_name, p.family_name, p.birth_date, p.sex, adm.admitted_at, adm.cause,
    COALESCE((SELECT json_agg(json_build_object('kind', w.kind, 'text', w.text, 'severity', w.severity))
              FROM warning_current w WHERE w.patient_id = p.id AND w.active), '[]'::json) AS warnings,
    (SELECT COALESCE(sum(GREATEST(
        (SELECT count(*) FROM unnest(o.times) t
          WHERE t <= LEAST((SELECT now_local FROM local)::time + interval '1 hour', time '23:59:59'))
        - (SELECT count(*) FROM medication_administration m
           WHERE m.order_entry = o.entry_id AND m.version = 1
             AND m.clinical_at >= date_trunc('day', (SELECT now_local FROM local)) AT TIME ZONE 'Europe/Stockholm'),
        0)), 0)
     FROM medication_order_current o
     WHERE o.patient_id = p.id AND NOT o.as_needed AND o.start_at <= now()
       AND (o.stop_at IS NULL OR o.stop_at > now()))::int AS pending_administrations
  FROM adm JOIN patient p ON p.id = adm.patient_id
) row
"""


async def units(conn: psycopg.AsyncConnection) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT u.id, u.name, u.kind, u.beds, u.hospital_id, h.name AS hospital_name,"
            " (SELECT count(*) FROM admission_current a WHERE a.unit_id = u.id AND a.discharged_at IS NULL)::int"
            "   AS admitted,"
            " (SELECT count(*) FROM postreg_pending q WHERE q.unit_id = u.id)::int AS postreg_pending"
            " FROM care_unit u JOIN hospital h ON h.id = u.hospital_id ORDER BY h.name, u.name")
        return await cur.fetchall()


async def unit(conn: psycopg.AsyncConnection, unit_id: str) -> dict:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT u.*, h.name AS hospital_name FROM care_unit u JOIN hospital h ON h.id = u.hospital_id"
                          " WHERE u.id = %s", (unit_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no care unit {unit_id!r}")
    return row


async def ward_list_json(conn: psycopg.AsyncConnection, unit_id: str) -> str:
    cur = await conn.execute(WARD_LIST_SQL, {"u": unit_id})
    row = await cur.fetchone()
    assert row is not None
    return row[0]
