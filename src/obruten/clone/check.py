"""Proof that nothing of the source's identities is left in a clone.

Checked against the source, without copying a single identity to the target's server:
- no personal number of the source is a patient's number in the clone, or appears (in any of its
  written forms) in any text of any cloned table;
- no patient keeps its name (given + family) or its birth date;
- no text about a patient in the clone names that patient's source full name;
- no source user name is a user name in the clone or a whole value of any free-text column
  (codes such as the role "admin" may equal a user name and are not identities);
- no staff member keeps their full name.
Findings name the table, column and row, never the identity found (the report may be shared).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from obruten.clone.catalog import Kind, tables
from obruten.clone.scrub import PERSONAL_NUMBER, digits_of_personal_number
from obruten.platform.progress import Progress


@dataclass
class CheckReport:
    patients: int = 0
    staff: int = 0
    texts: int = 0
    findings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.findings

    def found(self, what: str) -> None:
        if len(self.findings) < 100:
            self.findings.append(what)


_cursors = itertools.count()


def _stream(conn: psycopg.Connection, query: sql.Composed | str, size: int = 5000) -> Iterator[tuple]:
    with conn.cursor(name=f"check_{next(_cursors)}") as cur:
        cur.itersize = size
        cur.execute(query)
        yield from cur


def check(source_url: str, target_url: str, progress: Progress | None = None) -> CheckReport:
    report = CheckReport()
    tell: Progress = progress or (lambda stage, done, total: None)
    started = time.monotonic()
    with psycopg.connect(source_url, connect_timeout=10) as src, \
            psycopg.connect(target_url, connect_timeout=10) as dst, \
            psycopg.connect(source_url, connect_timeout=10) as src2:
        src.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        numbers = {digits_of_personal_number(r[0]) for r in _stream(src, "SELECT personal_number FROM patient")}
        users = {r[0] for r in _stream(src, "SELECT username FROM staff")}
        _patients(src, dst, report, tell)
        for (sid, _username, full_name), (tid, t_user, t_full) in zip(
                _stream(src, "SELECT id, username, full_name FROM staff ORDER BY id"),
                _stream(dst, "SELECT id, username, full_name FROM staff ORDER BY id"), strict=False):
            report.staff += 1
            if t_user in users:
                report.found(f"staff {tid}: user name is a source user name")
            if sid == tid and t_full.casefold() == full_name.casefold():
                report.found(f"staff {tid}: keeps its full name")
        cloned, _ = tables(dst)
        for table in cloned:
            texts = [c.name for c in table.columns if c.kind in (Kind.FREE_TEXT, Kind.KEEP)
                     and c.type in ("text", "jsonb", "json", "character varying")]
            if not texts:
                continue
            free = {c.name for c in table.columns if c.kind is Kind.FREE_TEXT}
            _texts(src2, dst, table.name, table.patient_column, texts, free, numbers, users, report, tell)
    report.seconds = time.monotonic() - started
    return report


def _patients(src: psycopg.Connection, dst: psycopg.Connection, report: CheckReport, tell: Progress) -> None:
    target_numbers = _stream(dst, "SELECT id, personal_number, given_name, family_name, birth_date FROM patient ORDER BY id")
    source = _stream(src, "SELECT id, personal_number, given_name, family_name, birth_date FROM patient ORDER BY id")
    seen = {digits_of_personal_number(r[0]) for r in _stream(src, "SELECT personal_number FROM patient")}
    for (sid, _, given, family, born), (tid, t_pn, t_given, t_family, t_born) in zip(source, target_numbers, strict=False):
        report.patients += 1
        if digits_of_personal_number(t_pn) in seen:
            report.found(f"patient {tid}: personal number is a source personal number")
        if sid != tid:
            report.found(f"patient {tid}: ids out of step with the source ({sid}); clone again")
            return
        if (t_given.casefold(), t_family.casefold()) == (given.casefold(), family.casefold()):
            report.found(f"patient {tid}: keeps its name")
        if t_born == born:
            report.found(f"patient {tid}: keeps its birth date")
        if report.patients % 50_000 == 0:
            tell("patients", report.patients, report.patients)


def _texts(src: psycopg.Connection, dst: psycopg.Connection, table: str, patient_column: str | None,
           columns: list[str], free: set[str], numbers: set[str], users: set[str], report: CheckReport,
           tell: Progress) -> None:
    cols = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns)
    key = sql.Identifier(patient_column) if patient_column else sql.SQL("NULL::bigint")
    order = sql.SQL(" ORDER BY {}").format(key) if patient_column else sql.SQL("")
    query = sql.SQL("SELECT {key}, {cols} FROM {t}{order}").format(key=key, cols=cols, t=sql.Identifier(table), order=order)
    names = _names_by_patient(src) if patient_column else iter(())
    current: tuple[int, str | None] = (-1, None)
    done = 0
    for row in _stream(dst, query):
        patient, values = row[0], row[1:]
        if patient is not None:
            while current[0] < patient:
                nxt = next(names, None)
                if nxt is None:
                    current = (1 << 62, None)
                    break
                current = nxt
        pattern = current[1] if patient is not None and current[0] == patient else None
        for column, value in zip(columns, values, strict=True):
            if not value:
                continue
            report.texts += 1
            if column in free and value in users:
                report.found(f"{table}.{column} (patient {patient}): a source user name")
            for match in PERSONAL_NUMBER.finditer(value):
                if digits_of_personal_number(match.group(0)) in numbers:
                    report.found(f"{table}.{column} (patient {patient}): a source personal number")
            if pattern is not None and pattern in value.casefold():
                report.found(f"{table}.{column} (patient {patient}): the patient's source name")
        done += 1
        if done % 50_000 == 0:
            tell(table, done, done)


def _names_by_patient(src: psycopg.Connection) -> Iterator[tuple[int, str | None]]:
    for pid, given, family in _stream(src, "SELECT id, given_name, family_name FROM patient ORDER BY id"):
        yield pid, f"{given} {family}".casefold()
