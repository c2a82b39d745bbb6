"""The read copy's audit spool: chain, group commit, tamper detection, torn lines, several writers."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from pathlib import Path

from obruten.readcopy import spool
from obruten.readcopy.spool import Spool, SpoolSink
from obruten.record.audit import AuditEvent, AuditWriter


def _event(i: int) -> AuditEvent:
    return AuditEvent(actor=f"user{i % 3}", actor_id=i % 3 + 1, action="read", patient_id=1000 + i,
                      purpose="vård", detail={"view": "overview", "basis": "care_relation"})


class CountingSink(SpoolSink):
    batches = 0

    async def append(self, events):  # type: ignore[no-untyped-def]
        CountingSink.batches += 1
        await super().append(events)


def test_concurrent_reads_are_group_committed_into_one_chain(tmp_path: Path) -> None:
    s = Spool(tmp_path / "rc1", "rc1")

    async def run() -> None:
        writer = AuditWriter(CountingSink(s))
        await asyncio.gather(*(writer.record(_event(i)) for i in range(500)))

    asyncio.run(run())
    result = spool.verify(s.path, node="rc1")
    assert result.ok and result.events == 500
    assert CountingSink.batches < 50  # many events per fsync
    seqs = [e.seq for e in s.events()]
    assert seqs == list(range(1, 501))
    assert {e.event.node for e in s.events()} == {"rc1"}


def test_a_tampered_or_removed_line_is_detected(tmp_path: Path) -> None:
    s = Spool(tmp_path / "rc", "rc")
    s.append_sync([_event(i) for i in range(10)])
    lines = s.path.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[4])
    record["event"]["actor"] = "someone-else"
    altered = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    s.path.write_bytes(b"".join(lines[:4] + [altered] + lines[5:]))
    result = spool.verify(s.path)
    assert not result.ok and result.first_bad_id == 5 and "altered" in result.problem

    s.path.write_bytes(b"".join(lines[:4] + lines[5:]))
    result = spool.verify(s.path)
    assert not result.ok and result.first_bad_id == 5 and "removed" in result.problem


def test_a_torn_last_line_is_cut_off_by_the_next_writer(tmp_path: Path) -> None:
    s = Spool(tmp_path / "rc", "rc")
    s.append_sync([_event(i) for i in range(3)])
    with s.path.open("ab") as fh:
        fh.write(b'{"seq":4,"event":{"act')  # a writer crashed mid-write, before its fsync
    s.close()
    again = Spool(tmp_path / "rc", "rc")
    again.append_sync([_event(9)])
    result = spool.verify(again.path)
    assert result.ok and result.events == 4


def _write_from_process(directory: str, worker: int) -> None:
    s = Spool(Path(directory), "rc")
    for i in range(40):
        s.append_sync([_event(worker * 100 + i), _event(worker * 100 + i + 50)])


def test_several_processes_share_one_chain(tmp_path: Path) -> None:
    directory = tmp_path / "rc"
    Spool(directory, "rc").close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_from_process, args=(str(directory), w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    result = spool.verify(directory / spool.SPOOL_FILE, node="rc")
    assert result.ok and result.events == 3 * 40 * 2


def test_two_writers_of_one_spool_chain_on_each_other_from_the_last_line_even_a_long_one(tmp_path: Path) -> None:
    first, second = Spool(tmp_path / "n", "n"), Spool(tmp_path / "n", "n")  # two worker processes' handles
    try:
        for i in range(6):
            writer = first if i % 2 else second
            event = _event(i)
            if i == 3:  # a line longer than the block the tail is read back in
                event = AuditEvent(**{**event.__dict__, "detail": {"entry": "x" * 20_000}})
            writer.append_sync([event])
        with (tmp_path / "n" / spool.SPOOL_FILE).open("ab") as fh:
            fh.write(b'{"seq":7,"torn')  # a crash mid-write
        first.append_sync([_event(7)])
    finally:
        first.close()
        second.close()
    result = spool.verify(tmp_path / "n" / spool.SPOOL_FILE, node="n")
    assert result.ok and result.events == 7
