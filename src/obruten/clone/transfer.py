"""Stream every table of the source's journal into an empty target, pseudonymised on the way.

The source is read in one REPEATABLE READ, READ ONLY snapshot (it may be a standby or the read
copy's database; nothing is written there). Dates and times are shifted in the source's own query
(a whole number of days per patient, from a keyed hash of the patient id, the same for every row
of that patient, so intervals and order within a patient are kept); identities, free text and the
audit chain are rewritten here row by row. The target is loaded in ONE transaction with triggers
and foreign-key checks off (``session_replication_role = replica``: the rows are a consistent
snapshot already), so a failed clone leaves the target as empty as it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql

from obruten.clone.catalog import AUDIT_TABLE, Kind, Table, tables
from obruten.clone.identities import Pseudonyms
from obruten.clone.scrub import Scrubber, digits_of_personal_number
from obruten.platform import migrations
from obruten.platform.errors import ObrutenError
from obruten.platform.progress import Progress
from obruten.platform.rows import one
from obruten.postreg import reserve
from obruten.record import schema
from obruten.record.audit import GENESIS, AuditEvent, link

PROGRESS_EVERY = 20_000


class CloneError(ObrutenError, RuntimeError):
    """The clone cannot be made; the message says why and what to do."""


@dataclass
class CloneReport:
    rows: dict[str, int] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)
    names_replaced: int = 0
    seconds: float = 0.0
    schema: list[str] = field(default_factory=list)


def _shift_expr(patient_column: str, key: str, max_days: int) -> sql.Composable:
    return sql.SQL("coalesce((('x' || substr(md5({key} || {col}::text), 1, 7))::bit(28)::int % {n}) + 1, 0)").format(
        key=sql.Literal(key), col=sql.Identifier(patient_column), n=sql.Literal(max_days))


def _select(table: Table, key: str, max_days: int) -> sql.Composed:
    items: list[sql.Composable] = []
    for col in table.columns:
        ident = sql.Identifier(col.name)
        if col.kind is Kind.SECRET:
            items.append(sql.SQL("NULL"))
        elif col.kind is Kind.SHIFT and table.patient_column:
            shift = _shift_expr(table.patient_column, key, max_days)
            if col.type == "date":
                items.append(sql.SQL("{c} - {s}").format(c=ident, s=shift))
            else:
                items.append(sql.SQL("{c} - {s} * interval '1 day'").format(c=ident, s=shift))
        else:
            items.append(ident)
    order = sql.SQL(" ORDER BY id") if "id" in table.names else sql.SQL("")
    return sql.SQL("COPY (SELECT {items} FROM {t}{order}) TO STDOUT").format(
        items=sql.SQL(", ").join(items), t=sql.Identifier(table.name), order=order)


def _applied(conn: psycopg.Connection) -> list[str]:
    if one(conn.execute("SELECT to_regclass('schema_migration') IS NOT NULL").fetchone())[0]:
        return [r[0] for r in conn.execute("SELECT name FROM schema_migration ORDER BY name")]
    return []


class _Rewriter:
    """Turns one source row (text values) into the target row."""

    def __init__(self, table: Table, names: Pseudonyms, scrub: Scrubber) -> None:
        self.table, self.names, self.scrub = table, names, scrub
        self.index = {c.name: i for i, c in enumerate(table.columns)}
        self.free = [i for i, c in enumerate(table.columns) if c.kind is Kind.FREE_TEXT]
        self.prev = GENESIS

    def __call__(self, row: Sequence[str | None]) -> list[str | None]:
        out = list(row)
        for i in self.free:
            out[i] = self.scrub(out[i])
        if self.table.name == "patient":
            self._patient(row, out)
        elif self.table.name == "staff":
            self._staff(row, out)
        elif self.table.name == AUDIT_TABLE:
            self._chain(out)
        return out

    def _patient(self, row: Sequence[str | None], out: list[str | None]) -> None:
        ix = self.index
        sex = row[ix["sex"]] or "X"
        birth = date.fromisoformat(str(row[ix["birth_date"]]))  # already shifted by the source query
        source_number = str(row[ix["personal_number"]])
        if reserve.is_reserve(source_number):  # an unidentified patient stays one, under a new reservnummer
            out[ix["personal_number"]] = self.names.reserve_number()
        else:
            out[ix["personal_number"]] = self.names.personal_number(birth, sex)
        out[ix["given_name"]] = self.names.given_name(str(row[ix["given_name"]]), sex)
        out[ix["family_name"]] = self.names.family_name(str(row[ix["family_name"]]))

    def _staff(self, row: Sequence[str | None], out: list[str | None]) -> None:
        ix = self.index
        staff_id = int(str(row[ix["id"]]))
        out[ix["username"]] = self.names.username(staff_id, str(row[ix["role"]]))
        out[ix["full_name"]] = self.names.full_name(str(row[ix["full_name"]]), staff_id)

    def _chain(self, out: list[str | None]) -> None:
        ix = self.index

        def number(name: str) -> int | None:
            value = out[ix[name]]
            return None if value is None else int(value)

        event = AuditEvent(
            actor=str(out[ix["actor"]]), action=str(out[ix["action"]]), actor_id=number("actor_id"),
            patient_id=number("patient_id"), purpose=str(out[ix["purpose"]]),
            detail=json.loads(out[ix["detail"]] or "{}"), at=datetime.fromisoformat(str(out[ix["at"]])),
            node=str(out[ix["node"]]), source_seq=number("source_seq"))
        digest = link(self.prev, event)
        out[ix["prev_hash"]] = "\\x" + self.prev.hex()
        out[ix["hash"]] = "\\x" + digest.hex()
        self.prev = digest


def _source_names(conn: psycopg.Connection) -> tuple[set[str], set[str], dict[str, int]]:
    given = {r[0] for r in conn.execute("SELECT DISTINCT given_name FROM patient")}
    family = {r[0] for r in conn.execute("SELECT DISTINCT family_name FROM patient")}
    users: dict[str, int] = {}
    for staff_id, username, full_name in conn.execute("SELECT id, username, full_name FROM staff"):
        users[username] = staff_id
        parts = full_name.split()
        if parts:
            given.add(parts[0])
            family.update(parts[1:])
    return given, family, users


def clone(source_url: str, target_url: str, *, max_shift_days: int = 30,
          progress: Progress | None = None, say: Callable[[str], None] = print) -> CloneReport:
    """Clone the journal at ``source_url`` into the empty database at ``target_url`` (privileged:
    it is migrated here and loaded with triggers off). Raises CloneError before writing anything
    if the target is not empty or the source's schema is not this release's."""
    report_progress: Progress = progress or (lambda stage, done, total: None)
    started = time.monotonic()
    report = CloneReport()
    names = Pseudonyms(max_shift_days=max_shift_days)
    with psycopg.connect(source_url, autocommit=True, connect_timeout=10) as src:
        src_schema = _applied(src)
        ours = [name for name, _ in migrations.migrations(schema.__name__)]
        if src_schema != ours:
            raise CloneError(
                "the source's schema is not this release's (source has "
                f"{src_schema[-1] if src_schema else 'none'}, this code {ours[-1]}): clone with the "
                "release the source runs, or upgrade the source first")
        say("Migrating the target …")
        schema.migrate(target_url)
        with psycopg.connect(target_url) as dst:
            if one(dst.execute("SELECT EXISTS (SELECT 1 FROM patient)").fetchone())[0]:
                raise CloneError("the target already holds patients; clone only into an empty, new database")
            if not one(dst.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone())[0]:
                raise CloneError("the target URL must be a superuser's (the clone loads with triggers off)")
            report.schema = ours
            src.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            src.execute("SET LOCAL TimeZone = 'UTC'")
            src.execute("SET LOCAL DateStyle = 'ISO'")
            ordered, report.left_out = tables(src)
            given, family, users = _source_names(src)
            names.taken = {digits_of_personal_number(r[0]) for r in src.execute("SELECT personal_number FROM patient")}
            roles: dict[str, str] = dict(src.execute("SELECT username, role FROM staff").fetchall())
            usernames = {u: names.username(users[u], roles[u]) for u in users}
            given_folded = {g.casefold() for g in given}

            def replace(word: str) -> str:
                return names.any_given(word) if word.casefold() in given_folded else names.family_name(word)

            scrub = Scrubber(given | family, replace, exact=usernames)
            dst.execute("SET LOCAL session_replication_role = replica")
            dst.execute("SET LOCAL synchronous_commit = off")
            for table in ordered:
                report.rows[table.name] = _copy_table(src, dst, table, names, scrub, report_progress)
            _settle_sequences(src, dst, ordered)
            src.execute("COMMIT")
        report.names_replaced = scrub.replaced
    report.seconds = time.monotonic() - started
    return report


def _estimate(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()
    return int(row[0]) if row else 0


def _copy_table(src: psycopg.Connection, dst: psycopg.Connection, table: Table, names: Pseudonyms,
                scrub: Scrubber, report: Progress) -> int:
    rewrite = _Rewriter(table, names, scrub)
    total = _estimate(src, table.name)
    done = 0
    target = sql.SQL("COPY {t} ({cols}) FROM STDIN").format(
        t=sql.Identifier(table.name), cols=sql.SQL(", ").join(map(sql.Identifier, table.names)))
    with src.cursor() as rcur, dst.cursor() as wcur, \
            rcur.copy(_select(table, names.shift_key(), names.max_shift_days)) as reader, \
            wcur.copy(target) as writer:
        reader.set_types(["text"] * len(table.columns))
        for row in _rows(reader):
            writer.write_row(rewrite(row))
            done += 1
            if done % PROGRESS_EVERY == 0:
                report(table.name, done, max(total, done))
    report(table.name, done, done)
    return done


def _rows(reader: Any) -> Iterator[tuple[str | None, ...]]:
    yield from reader.rows()


def _settle_sequences(src: psycopg.Connection, dst: psycopg.Connection, ordered: list[Table]) -> None:
    """Identity sequences continue after the loaded ids; the order-number sequence after the
    source's, so a number handed out in the clone never repeats one already in it."""
    for table in ordered:
        for (column,) in dst.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attidentity <> ''",
                (table.name,)).fetchall():
            dst.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({t}, {c}), coalesce(max({ci}), 0) + 1, false) FROM {ti}")
                        .format(t=sql.Literal(table.name), c=sql.Literal(column), ci=sql.Identifier(column),
                                ti=sql.Identifier(table.name)))
    for (seq,) in src.execute("""
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'S' AND n.nspname = 'public'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i')""").fetchall():
        value = one(src.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(seq))).fetchone())
        dst.execute("SELECT setval(%s, %s, %s)", (seq, value[0], value[1]))
