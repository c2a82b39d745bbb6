"""Audit anchors: signed checkpoints of the journal's audit chain head, kept outside its database.

The journal's audit log is a hash chain (``record.audit``), but a chain recomputed from the
database alone cannot tell that its newest events were deleted, or that an event was rewritten
and every later hash recomputed. So every ``interval_s`` (setting ``audit_anchor_s``, 60 s) the
ops service reads the chain's head with a read-only query, signs (events, last id, its hash, time,
node) with its own Ed25519 key (``var/ops/audit_anchor_key.pem``, never in any database) and keeps
the checkpoint twice, append-only: in the ``audit_anchor`` table of the ops store and in
``var/ops/audit_anchors.jsonl`` (0600). ``obruten audit verify --anchors`` checks the chain against
them (``record.audit_anchor``; ADR 0041).

One round is snapshot → decide → sentence: ``read_head`` takes the snapshot (counting only the
events after the previous anchor, and checking that the previous anchor's event still has its
hash), ``decide`` says whether to anchor and why, ``AnchorTaker.run`` writes after the decision.
An unreachable journal is a sentence and a retry at the next interval, never a stop.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from obruten.ops.clock import iso
from obruten.ops.store import Store
from obruten.platform.checkpoint import Checkpoint, parse
from obruten.platform.private import private_file
from obruten.platform.signing import SigningKey, load_or_create_key

CHAIN = "audit_event"
KEY_FILE = "audit_anchor_key.pem"
PUBLIC_FILE = "audit_anchor_key.pub"  # the key's trusted-keys line, for `obruten audit verify`
JSONL_FILE = "audit_anchors.jsonl"

# the audit_anchor table is migration 0004 of the ops store (obruten.ops.schema)



def ensure(store: Store) -> None:
    """Add the anchor table's append-only guard (idempotent)."""
    store.make_append_only("audit_anchor", "audit anchors are append-only")


def signing_key(ops_dir: Path) -> SigningKey:
    """The ops service's anchor key (created 0600 the first time) and its public line beside it."""
    key = load_or_create_key(ops_dir / KEY_FILE)
    public = ops_dir / PUBLIC_FILE
    line = key.trusted_line() + "\n"
    if not public.exists() or public.read_text() != line:
        public.write_text(line)
    return key


# ---- the snapshot -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Head:
    """The chain's head as one read-only transaction saw it."""

    database: str
    events: int
    last_id: int | None
    last_hash: str
    previous_holds: bool | None  # the previous anchor's event still has its hash (None: no previous)


def read_head(url: str, previous: Checkpoint | None, timeout_s: float = 10.0) -> Head:
    """Read the head in one read-only, repeatable-read transaction. With a previous anchor whose
    event still has its hash, only the events after it are counted (cheap on a long chain)."""
    ms = int(timeout_s * 1000)
    with psycopg.connect(url, connect_timeout=max(2, int(timeout_s)), application_name="obruten-ops-anchor",
                         options=f"-c default_transaction_read_only=on -c statement_timeout={ms}") as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        head = conn.execute("SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1").fetchone()
        holds: bool | None = None
        if previous is not None and previous.last_id is not None:
            row = conn.execute("SELECT hash FROM audit_event WHERE id = %s", (previous.last_id,)).fetchone()
            holds = row is not None and bytes(row[0]).hex() == previous.last_hash
        elif previous is not None:
            holds = True  # the chain was empty then; nothing to lose
        if previous is not None and holds and previous.last_id is not None:
            after = conn.execute("SELECT count(*) FROM audit_event WHERE id > %s", (previous.last_id,)).fetchone()
            events = previous.events + int(after[0])  # type: ignore[index]
        else:
            events = int(conn.execute("SELECT count(*) FROM audit_event").fetchone()[0])  # type: ignore[index]
    if head is None:
        return Head(database, events, None, "", holds)
    return Head(database, events, int(head[0]), bytes(head[1]).hex(), holds)


# ---- the decision -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    take: bool
    sentence: str


def decide(previous: Checkpoint | None, head: Head) -> Decision:
    """Whether to anchor ``head``, with the sentence that says why."""
    where = f"{head.events:,} events up to event {head.last_id}"
    if previous is None:
        return Decision(True, f"took the first audit anchor: {where}")
    if head.previous_holds is False:
        return Decision(True, f"AUDIT ANCHOR BROKEN: event {previous.last_id}, anchored at {previous.at} with "
                              f"{previous.events:,} events, is gone or no longer has its hash: the audit log may "
                              f"have been tampered with; run `obruten audit verify` and preserve the database. "
                              f"Anchored the head as it is now: {where}")
    if (head.last_id, head.events) == (previous.last_id, previous.events):
        return Decision(False, f"audit chain unchanged since the anchor at {previous.at} ({where})")
    return Decision(True, f"anchored the audit chain: {where} "
                          f"({head.events - previous.events:+,} since the anchor at {previous.at})")


# ---- the record -------------------------------------------------------------------------------
def latest(store: Store) -> Checkpoint | None:
    row = store.one("SELECT document FROM audit_anchor ORDER BY id DESC LIMIT 1")
    return parse(json.loads(row["document"])) if row else None


def listing(store: Store, after_id: int = 0, limit: int = 1000) -> list[tuple[int, Checkpoint]]:
    """Anchors in the order taken, with their row ids (page with ``after_id``)."""
    rows = store.all("SELECT id, document FROM audit_anchor WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))
    return [(int(r["id"]), parse(json.loads(r["document"]))) for r in rows]


def record(store: Store, jsonl: Path, anchor: Checkpoint) -> int:
    """Append ``anchor`` to the ops store, then to the JSONL file (0600, synced); its row id."""
    document = json.dumps(anchor.as_dict(), ensure_ascii=False, sort_keys=True)
    with store.tx() as db:
        row_id = db.execute("INSERT INTO audit_anchor (at, events, last_id, last_hash, node, key_id, document) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", (anchor.at, anchor.events, anchor.last_id,
                                                             anchor.last_hash, anchor.node, anchor.key_id,
                                                             document)).lastrowid
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    private_file(jsonl)
    with jsonl.open("a", encoding="utf-8") as out:
        out.write(document + "\n")
        out.flush()
        os.fsync(out.fileno())
    return int(row_id or 0)


class AnchorTaker:
    """Takes an anchor of the journal at ``url`` every ``interval_s`` seconds of the given clock."""

    def __init__(self, url: str, store: Store, ops_dir: Path, key: SigningKey, interval_s: float = 60.0,
                 node: str | None = None) -> None:
        self.url, self.store, self.key, self.interval_s = url, store, key, interval_s
        self.jsonl = ops_dir / JSONL_FILE
        self.node = node or f"ops@{socket.gethostname()}"
        self._next: datetime | None = None  # the next round is due then (None: now)
        ensure(store)

    def run(self, now: datetime) -> list[str]:
        """One round if one is due: the sentences said (none when not due)."""
        if self._next is not None and now < self._next:
            return []
        self._next = now + timedelta(seconds=self.interval_s)
        return [self.take(now)]

    def take(self, now: datetime) -> str:
        previous = latest(self.store)
        try:
            head = read_head(self.url, previous)
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            return (f"could not read the audit chain head ({type(exc).__name__}: {first}); "
                    f"trying again in {self.interval_s:g} s")
        decision = decide(previous, head)
        if decision.take:
            anchor = Checkpoint(chain=CHAIN, database=head.database, events=head.events, last_id=head.last_id,
                                last_hash=head.last_hash, at=iso(now), node=self.node).signed(self.key)
            record(self.store, self.jsonl, anchor)
        return decision.sentence

