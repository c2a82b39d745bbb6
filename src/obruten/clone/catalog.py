"""What the clone copies: the source's tables in load order and what each column is.

Every column falls in one class, decided from the catalogue and a short list of known identity
columns, so a table added by a later migration is cloned safely without editing this module:
an unknown text column is free text and is scrubbed; a column that looks like a secret is
dropped to NULL (or, if it may not be NULL, its whole table is left out and named).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import psycopg

# Never cloned, with why.
SKIPPED_TABLES = {
    "schema_migration": "the target's own migrations are recorded there",
    "login_attempt": "security state of production's logins",
    "session_revocation": "security state of production's sessions",
    "ops_probe": "operational state",
    "order_series": "a clone is a new history and draws its own order-number series (ADR 0043)",
    "record_change": "production's read-copy cache hints; a clone's read copies start with an empty cache",
}
# Columns that identify a person and get a replacement identity (not a scrub).
IDENTITY_COLUMNS = {
    ("patient", "personal_number"), ("patient", "given_name"), ("patient", "family_name"),
    ("staff", "username"), ("staff", "full_name"),
}
# Text columns that hold codes or enumerations, never a person: copied unchanged.
STRUCTURED_NAMES = frozenset({
    "id", "kind", "route", "severity", "outcome", "priority", "code", "node", "action", "purpose",
    "sex", "role", "state", "order_number", "entry_table", "payload_digest", "device_id", "frequency",
    "strength", "hospital_id", "unit_id", "name_of_unit",
})
_SECRET_WORDS = ("password", "secret", "pin_hash", "verifier")
# The audit chain is recomputed over the scrubbed events; these two are written by the clone.
AUDIT_TABLE = "audit_event"
CHAIN_COLUMNS = frozenset({"prev_hash", "hash"})


class Kind(enum.Enum):
    KEEP = "keep"            # copied unchanged (ids, numbers, booleans, codes)
    SHIFT = "shift"          # a date or time: shifted by the patient's offset (rows with a patient)
    IDENTITY = "identity"    # replaced by the row's new identity
    FREE_TEXT = "free_text"  # names and numbers scrubbed out
    SECRET = "secret"        # set to NULL


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    kind: Kind


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    patient_column: str | None  # the column naming the patient the row is about, if any

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _kind(table: str, name: str, type_: str) -> Kind:
    if (table, name) in IDENTITY_COLUMNS:
        return Kind.IDENTITY
    if any(word in name for word in _SECRET_WORDS):
        return Kind.SECRET
    if type_ in ("timestamp with time zone", "timestamp without time zone", "date"):
        return Kind.SHIFT
    if type_ in ("text", "character varying", "jsonb", "json", "text[]"):
        if name in STRUCTURED_NAMES or name.endswith("_id") or (table == AUDIT_TABLE and name in CHAIN_COLUMNS):
            return Kind.KEEP
        return Kind.FREE_TEXT
    return Kind.KEEP


def tables(conn: psycopg.Connection) -> tuple[list[Table], list[str]]:
    """The public tables to clone in an order that loads referenced tables first, and the names of
    those left out (with why, for the report)."""
    rows = conn.execute("""
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
         ORDER BY c.relname, a.attnum""").fetchall()
    columns: dict[str, list[Column]] = {}
    for table, name, type_, nullable in rows:
        columns.setdefault(table, []).append(Column(name, type_, nullable, _kind(table, name, type_)))
    deps: dict[str, set[str]] = {t: set() for t in columns}
    for child, parent in conn.execute("""
            SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c
             JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE c.contype = 'f' AND n.nspname = 'public'"""):
        if child in deps and parent != child:
            deps[child].add(parent)
    left_out: list[str] = []
    chosen: dict[str, Table] = {}
    for name, cols in columns.items():
        if name in SKIPPED_TABLES:
            left_out.append(f"{name} ({SKIPPED_TABLES[name]})")
            continue
        if any(c.kind is Kind.SECRET and not c.nullable for c in cols):
            left_out.append(f"{name} (holds secrets that may not be empty)")
            continue
        patient_col = "id" if name == "patient" else ("patient_id" if any(c.name == "patient_id" for c in cols) else None)
        chosen[name] = Table(name, tuple(cols), patient_col)
    ordered: list[Table] = []
    placed: set[str] = set()

    def place(name: str, trail: tuple[str, ...] = ()) -> None:
        if name in placed or name not in chosen or name in trail:
            return
        for parent in sorted(deps.get(name, ())):
            place(parent, (*trail, name))
        placed.add(name)
        ordered.append(chosen[name])

    for name in sorted(chosen):
        place(name)
    return ordered, sorted(left_out)
