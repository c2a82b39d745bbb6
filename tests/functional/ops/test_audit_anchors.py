"""The ops service's audit-anchor job: on its schedule (fake clock), into an append-only table of
either store backend and a private JSONL file, read-only on the API, and through a journal outage."""

from __future__ import annotations

import asyncio
import json
import stat
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest
from click.testing import CliRunner
from psycopg_pool import AsyncConnectionPool

from obruten.cli import main
from obruten.ops import audit_anchors
from obruten.ops.app import running
from obruten.ops.service import OpsService
from obruten.platform.signing import TrustedKeys
from obruten.record import audit_anchor
from obruten.record.audit import AuditEvent, AuditWriter, DatabaseSink
from pgtools import free_port, fresh_database

from .conftest import Live


@pytest.fixture(scope="module")
def journal_url(pg) -> str:
    return fresh_database(pg, "ops_anchor_journal")


def _record(url: str, n: int) -> None:
    async def run() -> None:
        async with AsyncConnectionPool(url, min_size=1, max_size=2, open=False) as pool:
            writer = AuditWriter(DatabaseSink(pool))
            for i in range(n):
                await writer.record(AuditEvent(actor="ops-test", action="read", patient_id=i, purpose="vård"))

    asyncio.run(run())


def _rows(service: OpsService) -> list[tuple[int, int]]:
    return [(r["events"], r["last_id"]) for r in service.store.all("SELECT events, last_id FROM audit_anchor ORDER BY id")]


def test_anchors_are_taken_on_schedule(make_service: Callable[..., OpsService], journal_url: str) -> None:
    service = make_service(journal_url=journal_url, audit_anchor_s=60)
    clock = service.clock
    _record(journal_url, 3)
    first = service.anchor()
    assert len(first) == 1 and first[0].startswith("took the first audit anchor")
    events = _rows(service)[0][0]

    clock.advance(seconds=59)  # type: ignore[attr-defined]
    assert service.anchor() == []  # not due yet
    _record(journal_url, 4)
    clock.advance(seconds=1)  # type: ignore[attr-defined]
    assert service.anchor()[0].startswith(f"anchored the audit chain: {events + 4:,} events up to event")
    clock.advance(seconds=60)  # type: ignore[attr-defined]
    assert service.anchor()[0].startswith("audit chain unchanged since the anchor")  # nothing new: none taken
    assert [e for e, _ in _rows(service)] == [events, events + 4]

    # both copies hold the same signed documents, verifiable with the key line beside them
    ops_dir = service.settings.ops_dir
    jsonl = ops_dir / audit_anchors.JSONL_FILE
    assert stat.S_IMODE(jsonl.stat().st_mode) == 0o600
    in_file = audit_anchor.from_file(jsonl)
    assert in_file == [a for _, a in audit_anchors.listing(service.store)]
    trusted = TrustedKeys.load(ops_dir / audit_anchors.PUBLIC_FILE)
    for anchor in in_file:
        anchor.verify(trusted)
    assert audit_anchor.verify(journal_url, in_file, trusted, clock.now()).ok


def test_the_anchor_table_is_append_only(make_service: Callable[..., OpsService], journal_url: str) -> None:
    service = make_service(journal_url=journal_url)
    service.anchor()
    for statement in ("UPDATE audit_anchor SET events = 0", "DELETE FROM audit_anchor"):
        with pytest.raises(Exception, match="append-only"):
            service.store.execute(statement)
    assert len(_rows(service)) == 1


def test_a_journal_that_does_not_answer_is_a_sentence_and_a_retry(make_service: Callable[..., OpsService]) -> None:
    service = make_service(journal_url=f"postgresql://nobody@127.0.0.1:{free_port()}/obruten", audit_anchor_s=60)
    said = service.anchor()
    assert said[0].startswith("could not read the audit chain head (OperationalError")
    assert said[0].endswith("trying again in 60 s") and _rows(service) == []
    service.clock.advance(seconds=60)  # type: ignore[attr-defined]
    assert service.anchor()[0].startswith("could not read")


def test_a_broken_previous_anchor_is_said_at_once(make_service: Callable[..., OpsService], journal_url: str) -> None:
    service = make_service(journal_url=journal_url, audit_anchor_s=60)
    _record(journal_url, 2)
    service.anchor()
    with psycopg.connect(journal_url, autocommit=True) as c:  # a superuser cuts off the newest event
        c.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
        c.execute("DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)")
        c.execute("ALTER TABLE audit_event ENABLE TRIGGER USER")
    service.clock.advance(seconds=60)  # type: ignore[attr-defined]
    assert service.anchor()[0].startswith("AUDIT ANCHOR BROKEN: event ")


def test_no_journal_no_job(make_service: Callable[..., OpsService], journal_url: str) -> None:
    assert make_service().anchors is None
    assert make_service(journal_url=journal_url, audit_anchor_s=0).anchors is None


def test_the_loop_takes_anchors(make_service: Callable[..., OpsService], journal_url: str) -> None:
    service = make_service(journal_url=journal_url, tick_s=0.2)
    with running(service):
        deadline = time.monotonic() + 15
        while not _rows(service):
            assert time.monotonic() < deadline, "the ops loop took no audit anchor within 15 s"
            time.sleep(0.1)


def test_the_api_serves_anchors_to_ops_users_only(make_service: Callable[..., OpsService], journal_url: str,
                                                  tmp_path: Path) -> None:
    service = make_service(journal_url=journal_url, audit_anchor_s=60)
    for _ in range(3):
        _record(journal_url, 1)
        service.anchor()
        service.clock.advance(seconds=60)  # type: ignore[attr-defined]
    server = Live(service)
    try:
        client = httpx.Client(base_url=server.base, timeout=10)
        assert client.get("/api/v1/audit/anchors").status_code == 401
        token = client.post("/api/v1/session", json={"username": "it", "password": "demo"}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        page = client.get("/api/v1/audit/anchors", params={"limit": 2}, headers=headers).json()
        assert len(page["anchors"]) == 2 and page["next"] is not None
        rest = client.get("/api/v1/audit/anchors", params={"after": page["next"]}, headers=headers).json()
        assert len(rest["anchors"]) == 1 and rest["next"] is None
        assert client.get("/api/v1/audit/anchors", params={"after": -1}, headers=headers).status_code == 422
        # what `obruten audit verify --anchors URL` reads, paging on its own
        fetched = audit_anchor.from_url(server.base, token)
        assert fetched == [a for _, a in audit_anchors.listing(service.store)]
        assert [json.loads(line)["events"] for line in
                (service.settings.ops_dir / audit_anchors.JSONL_FILE).read_text().splitlines()] == \
               [a.events for a in fetched]
        # the command an information-security officer runs against the ops service
        args = ["--var-dir", str(tmp_path / "elsewhere"), "--database-url", journal_url, "audit", "verify",
                "--anchors", server.base, "--ops-user", "it",
                "--trusted-keys", str(service.settings.ops_dir / audit_anchors.PUBLIC_FILE)]
        result = CliRunner().invoke(main, args, input="demo\n")
        assert result.exit_code == 0, result.output
        assert "3 signed anchors hold; chain intact up to event" in result.stdout
        wrong = CliRunner().invoke(main, args, input="fel\n")
        assert wrong.exit_code == 1 and "cannot log in to the ops service" in wrong.output
        client.close()
    finally:
        server.close()
