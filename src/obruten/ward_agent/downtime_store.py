"""The ward agent's local store of downtime documentation (SQLite, WAL, synchronous=FULL).

Every entry gets its idempotency key (a UUID) when it is recorded, before anything is sent, so the
journal can take it in exactly once however often it is submitted. An entry is never deleted
here: it moves queued → submitted (the journal acknowledged durable receipt) or queued → refused
(the journal said it can never take it; staff document it another way), and keeps the journal's
latest verdict (pending / confirmed / rejected) for the queue page.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from obruten.platform import migrations
from obruten.platform.errors import Invalid
from obruten.platform.private import private_dir, private_file
from obruten.postreg import reserve
from obruten.postreg.models import DowntimeEntry
from obruten.ward_agent import schema


def _now() -> str:
    return datetime.now(UTC).isoformat()


class DowntimeStore:
    """One SQLite file per agent; safe to use from the web app and the submitter thread at once."""

    def __init__(self, path: Path, unit_id: str, device_id: str) -> None:
        self.path, self.unit_id, self.device_id = Path(path), unit_id, device_id
        private_dir(self.path.parent)  # downtime notes and doses: patient data
        private_file(self.path)  # SQLite gives its -wal and -shm files the database file's mode
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # versioned schema (obruten.ward_agent.schema): unsubmitted documentation survives every upgrade
        self.migrated = migrations.migrate_sqlite(self._db, schema.PACKAGE, schema.STORE, schema.ADOPT)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ---- recording --------------------------------------------------------------------------------
    def record(self, fields: dict, patient_label: str, summary: str, reserve_number: str | None = None) -> DowntimeEntry:
        """Validate and store one entry with a new idempotency key; durable when this returns. An entry
        on a reservnummer patient carries a placeholder patient id until the journal has created the
        patient (``queued`` puts the journal's id in)."""
        now = datetime.now(UTC)
        try:
            entry = DowntimeEntry.model_validate({"key": uuid.uuid4(), "recorded_at": now, **fields})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise Invalid(f"check the form: {problems}") from exc
        self.add([(entry, patient_label, summary)], reserve_number)
        return entry

    def add(self, rows: Iterable[tuple[DowntimeEntry, str, str]], reserve_number: str | None = None) -> int:
        """Store already validated entries (recording, imports, the benchmark); one transaction."""
        values = [(str(e.key), e.kind, self.unit_id, self.device_id, e.patient_id, label, summary,
                   e.model_dump_json(exclude_none=True), e.author, e.clinical_at.isoformat(), e.recorded_at.isoformat(),
                   reserve_number)
                  for e, label, summary in rows]
        with self._tx() as db:
            db.executemany(
                "INSERT INTO downtime_entry (key, kind, unit_id, device_id, patient_id, patient_label, summary,"
                " entry, author, clinical_at, recorded_at, reserve_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values)
        return len(values)

    # ---- reservnummer ------------------------------------------------------------------------------
    def add_block(self, first_serial: int, size: int) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO reserve_block (first_serial, size, fetched_at) VALUES (?, ?, ?)",
                       (first_serial, size, _now()))

    def free_reserve_numbers(self) -> list[str]:
        """Numbers of this agent's blocks not yet given to a patient, in order."""
        with self._lock:
            blocks = self._db.execute("SELECT first_serial, size FROM reserve_block ORDER BY first_serial").fetchall()
            used = {r[0] for r in self._db.execute("SELECT reserve_number FROM reserve_patient")}
        return [n for b in blocks for n in (reserve.make(s) for s in range(b[0], b[0] + b[1])) if n not in used]

    def register_reserve_patient(self, given_name: str, family_name: str, sex: str, birth_date: str,
                                 registered_by: str) -> dict:
        """Give the next free reservnummer to a new patient; raises Invalid when none is left."""
        with self._tx() as db:
            blocks = db.execute("SELECT first_serial, size FROM reserve_block ORDER BY first_serial").fetchall()
            used = {r[0] for r in db.execute("SELECT reserve_number FROM reserve_patient")}
            number = next((n for b in blocks for n in (reserve.make(s) for s in range(b[0], b[0] + b[1]))
                           if n not in used), None)
            if number is None:
                raise Invalid("this PC has no reservnummer left; use the paper list of reservnummer")
            cur = db.execute(
                "INSERT INTO reserve_patient (reserve_number, given_name, family_name, sex, birth_date, registered_at,"
                " registered_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (number, given_name, family_name, sex, birth_date, _now(), registered_by))
            local_id = cur.lastrowid
        return self.reserve_patient(int(local_id or 0))

    def reserve_patient(self, local_id: int) -> dict:
        with self._lock:
            row = self._db.execute("SELECT * FROM reserve_patient WHERE local_id = ?", (local_id,)).fetchone()
        if row is None:
            raise Invalid(f"no patient {local_id} registered with a reservnummer on this PC")
        return dict(row)

    def reserve_patients(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._db.execute("SELECT * FROM reserve_patient ORDER BY local_id DESC")]

    def set_journal_patient(self, mapping: dict[str, int]) -> None:
        with self._tx() as db:
            db.executemany("UPDATE reserve_patient SET journal_patient_id = ? WHERE reserve_number = ?",
                           [(pid, number) for number, pid in mapping.items()])

    # ---- submitting ----------------------------------------------------------------------------------
    def queued(self, limit: int) -> list[tuple[str, dict]]:
        """The oldest queued entries: (key, entry as submitted). Entries on a reservnummer patient wait
        until the journal has created that patient, then carry its journal id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT d.key, d.entry, r.journal_patient_id FROM downtime_entry d"
                " LEFT JOIN reserve_patient r ON r.reserve_number = d.reserve_number"
                " WHERE d.state = 'queued' AND (d.reserve_number IS NULL OR r.journal_patient_id IS NOT NULL)"
                " ORDER BY d.seq LIMIT ?", (limit,)).fetchall()
        out = []
        for r in rows:
            entry = json.loads(r["entry"])
            if r["journal_patient_id"] is not None:
                entry["patient_id"] = r["journal_patient_id"]
            out.append((r["key"], entry))
        return out

    def mark_submitted(self, keys: list[str], batch_id: str) -> int:
        with self._tx() as db:
            cur = db.executemany(
                "UPDATE downtime_entry SET state = 'submitted', batch_id = ?, submitted_at = ?,"
                " journal_state = COALESCE(journal_state, 'pending') WHERE key = ? AND state = 'queued'",
                [(batch_id, _now(), k) for k in keys])
            return cur.rowcount

    def mark_refused(self, problems: dict[str, str]) -> None:
        with self._tx() as db:
            db.executemany("UPDATE downtime_entry SET state = 'refused', refused_reason = ?"
                           " WHERE key = ? AND state = 'queued'", [(why, k) for k, why in problems.items()])

    def awaiting_decision(self, limit: int) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT key FROM downtime_entry WHERE state = 'submitted'"
                                    " AND journal_state = 'pending' ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [r["key"] for r in rows]

    def set_journal_states(self, states: dict[str, dict]) -> None:
        with self._tx() as db:
            db.executemany("UPDATE downtime_entry SET journal_state = ?, journal_reason = ? WHERE key = ?",
                           [(s["state"], s.get("reason"), k) for k, s in states.items()])

    # ---- reading ----------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT CASE WHEN state = 'submitted' THEN 'submitted_' || journal_state"
                                    " ELSE state END AS s, count(*) FROM downtime_entry GROUP BY s").fetchall()
        return {r[0]: r[1] for r in rows}

    def listing(self, limit: int = 500) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM downtime_entry ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) | {"content": json.loads(r["entry"])} for r in rows]

    def keys(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT key FROM downtime_entry ORDER BY seq")]
