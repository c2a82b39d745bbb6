"""The audit chain checked against signed anchors kept outside the database (ADR 0041).

The failure: deleting the newest audit events, or rewriting one and recomputing every later hash,
passed `obruten audit verify`, which recomputed the chain from the database alone. Each tampering
is done here as a superuser bypassing the append-only trigger, as an attacker holding the database
would; each test first shows that the chain alone still passes (the gap), then that the anchors
taken by the ops service's job catch it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from psycopg_pool import AsyncConnectionPool

from obruten.cli import main
from obruten.ops.audit_anchors import JSONL_FILE, PUBLIC_FILE, AnchorTaker, signing_key
from obruten.ops.store import Store
from obruten.platform.signing import TrustedKeys, load_or_create_key
from obruten.record import audit, audit_anchor
from obruten.record.audit import AuditEvent, AuditWriter, DatabaseSink
from pgtools import fresh_database

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def chain_url(pg) -> str:
    url = fresh_database(pg, "audit_anchor_test")
    _record(url, 20)
    return url


@pytest.fixture
def ops_dir(tmp_path: Path) -> Path:
    return tmp_path / "var" / "ops"


@pytest.fixture
def taker(chain_url: str, ops_dir: Path):
    store = Store(ops_dir / "ops.sqlite3")
    yield AnchorTaker(chain_url, store, ops_dir, signing_key(ops_dir), interval_s=60, node="ops@test")
    store.close()


def _record(url: str, n: int, start: int = 0) -> None:
    async def run() -> None:
        async with AsyncConnectionPool(url, min_size=1, max_size=2, open=False) as pool:
            writer = AuditWriter(DatabaseSink(pool))
            for i in range(start, start + n):
                await writer.record(AuditEvent(actor=f"user{i % 3}", action="read", patient_id=i, purpose="vård",
                                               detail={"view": "overview", "n": i}))

    asyncio.run(run())


def _tamper(url: str, *statements: str) -> None:
    """Run ``statements`` as a superuser with the append-only trigger switched off."""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
        for statement in statements:
            c.execute(statement)
        c.execute("ALTER TABLE audit_event ENABLE TRIGGER USER")


def _recompute(url: str) -> None:
    """Rewrite every prev_hash and hash from the events as they now are: a chain that passes."""
    with psycopg.connect(url, autocommit=True) as c:
        rows = c.execute("SELECT id, at, node, source_seq, actor_id, actor, action, patient_id, purpose, detail "
                         "FROM audit_event ORDER BY id").fetchall()
        c.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
        prev = audit.GENESIS
        for row_id, at, node, source_seq, actor_id, actor, action, patient_id, purpose, detail in rows:
            digest = audit.link(prev, AuditEvent(actor=actor, action=action, actor_id=actor_id, patient_id=patient_id,
                                                 purpose=purpose, detail=detail, at=at, node=node,
                                                 source_seq=source_seq))
            c.execute("UPDATE audit_event SET prev_hash = %s, hash = %s WHERE id = %s", (prev, digest, row_id))
            prev = digest
        c.execute("ALTER TABLE audit_event ENABLE TRIGGER USER")


def _event_id(url: str, offset: int) -> int:
    with psycopg.connect(url) as c:
        return c.execute("SELECT id FROM audit_event ORDER BY id OFFSET %s LIMIT 1", (offset,)).fetchone()[0]


def _check(url: str, ops_dir: Path, now: datetime) -> audit_anchor.Verdict:
    anchors = audit_anchor.from_file(ops_dir / JSONL_FILE)
    return audit_anchor.verify(url, anchors, TrustedKeys.load(ops_dir / PUBLIC_FILE), now)


def test_an_intact_chain_verifies_and_reports_its_window(chain_url: str, taker: AnchorTaker, ops_dir: Path) -> None:
    assert taker.run(T0) == ["took the first audit anchor: 20 events up to event "
                             f"{_event_id(chain_url, 19)}"]
    _record(chain_url, 5, start=20)
    verdict = _check(chain_url, ops_dir, T0 + timedelta(seconds=42))
    assert verdict.ok and verdict.chain.events == 25
    assert (verdict.newest.events, verdict.after_events, verdict.after_seconds) == (20, 5, 42.0)
    said = "\n".join(verdict.lines())
    assert f"chain intact up to event {_event_id(chain_url, 19)} (20 events) anchored at 2026-11-30 09:00:00" in said
    assert "(5 events, the last 42 seconds) are protected only by the chain" in said


def test_tail_truncation_passes_the_chain_alone_but_not_the_anchors(chain_url: str, taker: AnchorTaker,
                                                                   ops_dir: Path) -> None:
    taker.run(T0)
    _tamper(chain_url, "DELETE FROM audit_event WHERE id IN (SELECT id FROM audit_event ORDER BY id DESC LIMIT 3)")
    alone = audit.verify(chain_url)
    assert alone.ok and alone.events == 17  # the gap this closes

    verdict = _check(chain_url, ops_dir, T0 + timedelta(minutes=1))
    assert not verdict.ok and verdict.kinds == {"truncated"}
    said = "\n".join(verdict.lines())
    assert said.startswith("AUDIT LOG TAMPERED WITH: events were deleted")
    assert "holds 17 audit events, but 20 were anchored" in said and "informationssäkerhetsansvarig" in said


def test_truncation_hidden_by_new_events_is_caught(chain_url: str, taker: AnchorTaker, ops_dir: Path) -> None:
    """Delete the newest three, then let the journal write five more: the count is back above the
    anchor's and the chain is whole, but the anchored event is gone."""
    taker.run(T0)
    anchored = _event_id(chain_url, 19)
    _tamper(chain_url, "DELETE FROM audit_event WHERE id IN (SELECT id FROM audit_event ORDER BY id DESC LIMIT 3)")
    _record(chain_url, 5, start=100)
    assert audit.verify(chain_url).ok and audit.verify(chain_url).events == 22

    verdict = _check(chain_url, ops_dir, T0 + timedelta(minutes=1))
    assert not verdict.ok and verdict.kinds == {"truncated"}
    assert f"Event {anchored}" in verdict.lines()[1] and "the chain goes on over the gap" in verdict.lines()[1]


def test_a_rewritten_event_with_the_chain_recomputed_is_caught(chain_url: str, taker: AnchorTaker,
                                                               ops_dir: Path) -> None:
    taker.run(T0)  # anchors 20 of 20 events
    _record(chain_url, 10, start=20)
    taker.run(T0 + timedelta(minutes=1))  # and 30 of 30
    victim = _event_id(chain_url, 24)  # between the two anchors
    _tamper(chain_url, f"UPDATE audit_event SET actor = 'någon annan' WHERE id = {victim}")
    assert not audit.verify(chain_url).ok  # altered alone, the chain says so …
    _recompute(chain_url)
    assert audit.verify(chain_url).ok  # … recomputed, it passes: the gap this closes

    verdict = _check(chain_url, ops_dir, T0 + timedelta(minutes=2))
    assert not verdict.ok and verdict.kinds == {"rewritten"}
    assert verdict.intact_up_to is not None and verdict.intact_up_to.events == 20  # the first anchor still holds
    said = "\n".join(verdict.lines())
    assert said.startswith("AUDIT LOG TAMPERED WITH: events were rewritten and the chain recomputed")
    assert f"Events up to event {_event_id(chain_url, 19)} (20 events) still match" in said


def test_a_rewritten_anchor_is_refused(chain_url: str, taker: AnchorTaker, ops_dir: Path) -> None:
    """Truncate the database and rewrite the anchor to match it: the signature no longer verifies."""
    taker.run(T0)
    _tamper(chain_url, "DELETE FROM audit_event WHERE id IN (SELECT id FROM audit_event ORDER BY id DESC LIMIT 3)")
    head = _event_id(chain_url, 16)
    with psycopg.connect(chain_url) as c:
        digest = bytes(c.execute("SELECT hash FROM audit_event WHERE id = %s", (head,)).fetchone()[0]).hex()
    path = ops_dir / JSONL_FILE
    forged = {**json.loads(path.read_text()), "events": 17, "last_id": head, "last_hash": digest}
    path.write_text(json.dumps(forged) + "\n")

    verdict = _check(chain_url, ops_dir, T0 + timedelta(minutes=1))
    assert not verdict.ok and verdict.kinds == {"forged"}
    assert verdict.lines()[0] == "AUDIT ANCHOR REFUSED: an anchor does not verify:"
    assert "the signature does not match" in verdict.lines()[1]


def test_an_anchor_signed_by_an_untrusted_key_is_refused(chain_url: str, taker: AnchorTaker, ops_dir: Path,
                                                         tmp_path: Path) -> None:
    taker.run(T0)
    other = TrustedKeys.parse(load_or_create_key(tmp_path / "other.pem").trusted_line())
    verdict = audit_anchor.verify(chain_url, audit_anchor.from_file(ops_dir / JSONL_FILE), other, T0)
    assert not verdict.ok and verdict.kinds == {"forged"} and "is not trusted" in verdict.lines()[1]


def test_without_anchors_the_chain_alone_is_reported_as_such(chain_url: str) -> None:
    verdict = audit_anchor.verify(chain_url, [], None, T0)
    assert verdict.ok and verdict.lines()[0] == "audit chain intact: 20 events verified"
    assert verdict.lines()[1].startswith("no anchors: the chain alone cannot show")


def test_audit_verify_command_uses_the_ops_anchor_file(chain_url: str, taker: AnchorTaker, tmp_path: Path) -> None:
    """`obruten audit verify` finds var/ops/audit_anchors.jsonl and the key line beside it by itself."""
    taker.run(datetime.now(UTC))
    args = ["--var-dir", str(tmp_path / "var"), "--database-url", chain_url, "audit", "verify"]
    ok = CliRunner().invoke(main, args)
    assert ok.exit_code == 0, ok.output
    assert "chain intact up to event" in ok.stdout and "(0 events, the last" in ok.stdout

    _tamper(chain_url, "DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)")
    bad = CliRunner().invoke(main, args)
    assert bad.exit_code == 1 and bad.stderr.startswith("AUDIT LOG TAMPERED WITH: events were deleted")
    assert "Preserve the journal database" in bad.stderr

    missing = CliRunner().invoke(main, [*args, "--anchors", str(tmp_path / "nowhere.jsonl")])
    assert missing.exit_code == 1 and "cannot read the anchor file" in missing.output
