"""A journal in use, for the benchmarks: notes written on the primary at a steady rate.

``NoteLoad`` is a thread that inserts ``rate`` notes a second, each on a patient drawn from
``patients`` ((patient, unit) pairs, the unit the note is written on) and signed by ``staff``, until
``stop`` is set. Straight SQL, not the journal's HTTP API: the triggers that wake the kit builder
(schema 0060) and name the change for the read copies (0080) fire on every write path, and the
bench's client stays out of the journal's CPU. ``written`` counts the notes. Imported as
``_note_load`` (wardkit_freshness, read_copy_load).
"""

from __future__ import annotations

import random
import threading
import time

import psycopg


class NoteLoad(threading.Thread):
    def __init__(self, url: str, rate: float, patients: list[tuple[int, str]], staff: int, seed: int = 15) -> None:
        super().__init__(daemon=True, name="note-load")
        self.url, self.rate, self.patients, self.staff, self.seed = url, rate, patients, staff, seed
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        rng = random.Random(self.seed)
        with psycopg.connect(self.url, autocommit=True) as conn:
            next_at = time.monotonic()
            while self.rate > 0 and self.patients and not self.stop.is_set():
                patient, unit = rng.choice(self.patients)
                conn.execute("INSERT INTO note (patient_id, unit_id, kind, title, body, clinical_at, signed_by) "
                             "VALUES (%s, %s, 'omvardnad', 'Omvårdnad', 'Bakgrundslast', now(), %s)",
                             (patient, unit, self.staff))
                self.written += 1
                next_at += 1 / self.rate  # steady: the rate asked, whatever an insert took
                self.stop.wait(max(0.0, next_at - time.monotonic()))
