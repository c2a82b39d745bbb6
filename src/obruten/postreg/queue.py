"""The review queue: received downtime entries, exactly once per idempotency key, and their states.

Receiving a batch is one transaction: every entry is checked first (patient exists, the order
belongs to the patient, a known key carries the same content), and any problem refuses the whole
batch with one line per key, leaving nothing behind. Known keys are acknowledged again without a
second row, so an agent that never saw the answer to its last submission simply sends it again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from obruten.platform.errors import Conflict, Invalid, NotFound
from obruten.postreg.agents import AgentIdentity
from obruten.postreg.models import Batch

DUPLICATE_WINDOW_MINUTES = 60


@dataclass(frozen=True)
class Receipt:
    batch_id: UUID
    received: int                        # new entries queued for review by this batch
    already: int                         # keys the journal had before (acknowledged again)
    keys: list[UUID] = field(default_factory=list)  # every key in the batch: all are durable now

    def as_json(self) -> dict:
        return {"batch_id": str(self.batch_id), "received": self.received, "already": self.already,
                "acknowledged": [str(k) for k in self.keys]}


_CHECK = """
SELECT k.key, CASE
    WHEN NOT EXISTS (SELECT 1 FROM patient p WHERE p.id = k.patient) THEN 'no patient ' || k.patient
    WHEN k.ord IS NOT NULL AND NOT EXISTS (SELECT 1 FROM medication_order o
         WHERE o.entry_id = k.ord AND o.version = 1 AND o.patient_id = k.patient)
         THEN 'no medication order ' || k.ord || ' for patient ' || k.patient
    WHEN e.payload_digest IS NOT NULL AND e.payload_digest <> k.digest
         THEN 'this key was already received with other content'
    END AS problem,
    e.id IS NOT NULL AS known
FROM unnest(%(keys)s::uuid[], %(patients)s::bigint[], %(orders)s::uuid[], %(digests)s::text[])
     AS k(key, patient, ord, digest)
LEFT JOIN postreg_entry e ON e.idempotency_key = k.key
"""

_INSERT = """
INSERT INTO postreg_entry (idempotency_key, payload_digest, batch_id, device_id, unit_id, patient_id, kind,
                           order_entry, payload, author, author_id, clinical_at, recorded_at)
SELECT k.key, k.digest, %(batch)s, %(device)s, %(unit)s, k.patient, k.kind, k.ord, k.payload::jsonb, k.author,
       s.id, k.clinical_at, k.recorded_at
FROM unnest(%(keys)s::uuid[], %(digests)s::text[], %(patients)s::bigint[], %(kinds)s::text[], %(orders)s::uuid[],
            %(payloads)s::text[], %(authors)s::text[], %(clinical)s::timestamptz[], %(recorded)s::timestamptz[])
     AS k(key, digest, patient, kind, ord, payload, author, clinical_at, recorded_at)
LEFT JOIN staff s ON s.username = lower(k.author)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
"""


async def receive(conn: psycopg.AsyncConnection, agent: AgentIdentity, batch: Batch) -> Receipt:
    """Queue a batch for review (call inside a transaction); raises and writes nothing on any problem."""
    if batch.unit_id != agent.unit_id or batch.device_id != agent.device_id:
        raise Invalid(f"this agent is {agent.device_id!r} of unit {agent.unit_id!r}; the batch names another; "
                      "fix the agent's configuration")
    entries = batch.entries
    # one receiver per unit at a time: a key and its content are checked and stored together
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('postreg'), hashtext(%s))", (agent.unit_id,))
    columns = {
        "keys": [e.key for e in entries], "patients": [e.patient_id for e in entries],
        "orders": [e.order_entry for e in entries], "digests": [e.digest() for e in entries]}
    cur = await conn.execute(_CHECK, columns)
    checked = await cur.fetchall()
    problems = [{"key": str(key), "error": problem} for key, problem, _ in checked if problem]
    if problems:
        kind = Conflict if all("already received" in p["error"] for p in problems) else Invalid
        raise kind(f"{len(problems)} of {len(entries)} entries cannot be received; nothing from this batch "
                   "was kept; send the others again without them", problems=problems)
    cur = await conn.execute(_INSERT, {
        **columns, "batch": batch.batch_id, "device": agent.device_id, "unit": agent.unit_id,
        "kinds": [e.kind for e in entries], "payloads": [json.dumps(e.content()) for e in entries],
        "authors": [e.author for e in entries], "clinical": [e.clinical_at for e in entries],
        "recorded": [e.recorded_at for e in entries]})
    new_ids = [row[0] for row in await cur.fetchall()]
    if new_ids:
        await conn.execute("INSERT INTO postreg_state_change (entry, state) SELECT unnest(%s::bigint[]), 'pending'",
                           (new_ids,))
    return Receipt(batch.batch_id, received=len(new_ids), already=len(entries) - len(new_ids),
                   keys=[e.key for e in entries])


async def states(conn: psycopg.AsyncConnection, unit_id: str, keys: list[UUID]) -> dict[str, dict]:
    """How each key stands: pending, confirmed or rejected (with when and why); unknown keys are absent."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT e.idempotency_key::text AS key, COALESCE(f.state, 'pending') AS state, f.changed_at, f.reason"
            " FROM postreg_entry e LEFT JOIN postreg_state_change f ON f.entry = e.id AND f.state <> 'pending'"
            " WHERE e.idempotency_key = ANY(%s) AND e.unit_id = %s", (keys, unit_id))
        rows = await cur.fetchall()
    return {r["key"]: {"state": r["state"], "changed_at": r["changed_at"].isoformat() if r["changed_at"] else None,
                       "reason": r["reason"]} for r in rows}


_NORMALIZED = "lower(regexp_replace(btrim({}), '\\s+', ' ', 'g'))"
_BODY_E = _NORMALIZED.format("e.payload->>'body'")
_BODY_N = _NORMALIZED.format("n.body")
_BODY_Q = _NORMALIZED.format("q.payload->>'body'")
_NEAR = f"interval '{DUPLICATE_WINDOW_MINUTES} minutes'"

_REVIEW = f"""
SELECT e.id, e.idempotency_key, e.kind, e.patient_id, p.given_name, p.family_name, p.personal_number,
       e.payload, e.author, e.author_id, s.full_name AS author_name, e.clinical_at, e.recorded_at,
       e.received_at, e.device_id, e.order_entry, o.drug, o.strength, o.dose AS ordered_dose, o.route,
       COALESCE(f.state, 'pending') AS state, f.changed_at, f.reason, d.full_name AS decided_by_name,
       CASE WHEN e.kind = 'medication_administration' THEN (
            SELECT json_agg(json_build_object('clinical_at', m.clinical_at, 'outcome', m.outcome,
                                              'source', 'record') ORDER BY m.clinical_at)
            FROM medication_administration_current m
            WHERE m.order_entry = e.order_entry
              AND m.clinical_at BETWEEN e.clinical_at - {_NEAR} AND e.clinical_at + {_NEAR}
              AND NOT EXISTS (SELECT 1 FROM postreg_registration r
                              WHERE r.entry_table = 'medication_administration' AND r.entry_id = m.entry_id
                                AND r.postreg_entry = e.id))
       ELSE (
            SELECT json_agg(json_build_object('clinical_at', n.clinical_at, 'kind', n.kind, 'source', 'record')
                            ORDER BY n.clinical_at)
            FROM note_current n
            WHERE n.patient_id = e.patient_id
              AND n.clinical_at BETWEEN e.clinical_at - {_NEAR} AND e.clinical_at + {_NEAR}
              AND ({_BODY_N} = {_BODY_E}
                   OR (n.kind = e.payload->>'kind' AND left({_BODY_N}, 40) = left({_BODY_E}, 40))))
       END AS in_record,
       (SELECT json_agg(json_build_object('clinical_at', q.clinical_at, 'author', q.author, 'device', q.device_id)
                        ORDER BY q.clinical_at)
        FROM postreg_pending q
        WHERE q.id <> e.id AND q.patient_id = e.patient_id AND q.kind = e.kind
          AND q.clinical_at BETWEEN e.clinical_at - {_NEAR} AND e.clinical_at + {_NEAR}
          AND (q.order_entry = e.order_entry
               OR (e.kind = 'note' AND left({_BODY_Q}, 40) = left({_BODY_E}, 40)))) AS in_queue
FROM postreg_entry e
JOIN patient p ON p.id = e.patient_id
LEFT JOIN staff s ON s.id = e.author_id
LEFT JOIN medication_order_current o ON o.entry_id = e.order_entry
LEFT JOIN postreg_state_change f ON f.entry = e.id AND f.state <> 'pending'
LEFT JOIN staff d ON d.id = f.changed_by
WHERE {{where}}
ORDER BY {{order}}
LIMIT %(limit)s
"""


async def review_list(conn: psycopg.AsyncConnection, unit_id: str, patient_id: int | None = None,
                      limit: int = 200) -> list[dict]:
    """Pending entries of a unit (or of one patient there), by patient and time, with possible duplicates."""
    where = "e.unit_id = %(unit)s AND f.id IS NULL" + (" AND e.patient_id = %(patient)s" if patient_id else "")
    query = _REVIEW.format(where=where, order="p.family_name, p.given_name, e.clinical_at")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {"unit": unit_id, "patient": patient_id, "limit": limit})
        return await cur.fetchall()


async def pending_by_patient(conn: psycopg.AsyncConnection, unit_id: str) -> list[dict]:
    """How many entries wait per patient of the unit (the review screen's index)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT q.patient_id, p.family_name, p.given_name, count(*)::int AS pending FROM postreg_pending q"
            " JOIN patient p ON p.id = q.patient_id WHERE q.unit_id = %s"
            " GROUP BY q.patient_id, p.family_name, p.given_name ORDER BY p.family_name, p.given_name", (unit_id,))
        return await cur.fetchall()


async def possible_duplicates(conn: psycopg.AsyncConnection, entry_id: int) -> list[dict]:
    """What the review screen flags for one entry: matching entries in the record and in the queue."""
    query = _REVIEW.format(where="e.id = %(id)s", order="e.id")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {"id": entry_id, "limit": 1})
        row = await cur.fetchone()
    return [*(row["in_record"] or []), *(row["in_queue"] or [])] if row else []


async def recently_decided(conn: psycopg.AsyncConnection, unit_id: str, limit: int = 50) -> list[dict]:
    query = _REVIEW.format(where="e.unit_id = %(unit)s AND f.id IS NOT NULL", order="f.changed_at DESC")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {"unit": unit_id, "limit": limit})
        return await cur.fetchall()


async def entry_for_decision(conn: psycopg.AsyncConnection, entry_id: int) -> dict:
    """The entry, locked until the transaction ends, with its final state if it has one."""
    async with conn.cursor(row_factory=dict_row) as cur:
        # an advisory lock, not FOR UPDATE: the journal's role may not update entries at all
        await cur.execute("SELECT pg_advisory_xact_lock(hashtextextended('postreg_entry:' || %s::text, 0))",
                          (entry_id,))
        await cur.execute("SELECT * FROM postreg_entry WHERE id = %s", (entry_id,))
        entry = await cur.fetchone()
        if entry is None:
            raise NotFound(f"no post-registration entry {entry_id}")
        await cur.execute(
            "SELECT f.state, f.changed_at, s.full_name FROM postreg_state_change f"
            " JOIN staff s ON s.id = f.changed_by WHERE f.entry = %s AND f.state <> 'pending'", (entry_id,))
        entry["final"] = await cur.fetchone()
    return entry


async def record_decision(conn: psycopg.AsyncConnection, entry_id: int, state: str, by: int,
                          reason: str | None) -> None:
    try:
        await conn.execute("INSERT INTO postreg_state_change (entry, state, changed_by, reason) VALUES (%s, %s, %s, %s)",
                           (entry_id, state, by, reason))
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict("someone decided this entry at the same moment; reload the page") from exc


async def record_registration(conn: psycopg.AsyncConnection, entry: dict, table: str, record_entry: UUID,
                              by: int) -> None:
    await conn.execute(
        "INSERT INTO postreg_registration (entry_table, entry_id, postreg_entry, author, recorded_at, registered_by)"
        " VALUES (%s, %s, %s, %s, %s, %s)", (table, record_entry, entry["id"], entry["author"], entry["recorded_at"], by))


async def pending_counts(conn: psycopg.AsyncConnection) -> dict[str, int]:
    cur = await conn.execute("SELECT unit_id, count(*)::int FROM postreg_pending GROUP BY unit_id")
    return dict(await cur.fetchall())
