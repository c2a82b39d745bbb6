"""The audit spool: a read-only node's own append-only, hash-chained, fsynced access log.

A hot standby cannot write ``audit_event``, yet every read must be logged before it is shown (R3).
The read copy therefore logs to a local file, ``var_dir/spool/<node>/audit.spool``, one JSON line
per event::

    {"seq": 17, "event": {<AuditEvent.canonical() fields>}, "prev": "<hex>", "hash": "<hex>"}

``hash = sha256(prev || canonical(event))`` -- the rule of the database chain (``audit.link``).
Each event carries ``node`` = the spool's node and ``source_seq`` = its ``seq``, so the primary's
``UNIQUE (node, source_seq)`` makes shipping exactly-once (see ``shipper``).

Several worker processes of one node share the file. An append takes ``flock``, reads the last
line other processes appended since (to learn the chain's tail), writes the whole batch with one
``write`` and one ``fsync`` (group commit: ``AuditWriter`` batches concurrent events), then
unlocks. A line torn by a crash mid-write was never acknowledged (the fsync had not returned), so
the next writer cuts it off.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from obruten.platform.errors import ObrutenError
from obruten.record.audit import GENESIS, AuditEvent, VerifyResult, link

SPOOL_FILE = "audit.spool"
CURSOR_FILE = "shipped.json"


class SpoolError(ObrutenError, RuntimeError):
    """The spool cannot be written or read; the message says what to do."""


class SpoolTampered(SpoolError):
    """A spool line does not match the chain: it was altered, removed or inserted."""

    def __init__(self, seq: int, problem: str) -> None:
        super().__init__(f"audit spool event {seq}: {problem}. Keep the spool file as evidence, do not ship "
                         "it, and report it to the information-security officer.")
        self.seq = seq
        self.problem = problem


def spool_dir(var_dir: Path, node: str) -> Path:
    return var_dir / "spool" / node


@dataclass(frozen=True)
class Position:
    """A point in the spool: the last event before it (``seq``, ``hash``) and its byte offset."""

    seq: int = 0
    offset: int = 0
    hash: bytes = GENESIS


@dataclass(frozen=True)
class SpooledEvent:
    seq: int
    event: AuditEvent
    end: Position  # the position just after this event


def encode(seq: int, event: AuditEvent, prev: bytes, digest: bytes, canonical: bytes | None = None) -> bytes:
    """One spool line; ``canonical`` is ``event.canonical()`` when the caller has it already (it is
    compact JSON with sorted keys, so it is embedded as it is)."""
    body = event.canonical() if canonical is None else canonical
    return b'{"seq":%d,"event":%s,"prev":"%s","hash":"%s"}\n' % (seq, body, prev.hex().encode(),
                                                                digest.hex().encode())


def decode_event(fields: dict) -> AuditEvent:
    return AuditEvent(actor=fields["actor"], action=fields["action"], actor_id=fields["actor_id"],
                      patient_id=fields["patient_id"], purpose=fields["purpose"], detail=fields["detail"],
                      at=datetime.fromisoformat(fields["at"]), node=fields["node"],
                      source_seq=fields["source_seq"])


def read_events(path: Path, start: Position = Position(), node: str | None = None) -> Iterator[SpooledEvent]:
    """Complete events after ``start``, each checked against the chain; raises ``SpoolTampered``.

    A torn last line (no newline yet: a writer is mid-write or crashed) is not returned."""
    prev, seq, offset = start.hash, start.seq, start.offset
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return
    with fh:
        fh.seek(offset)
        for raw in fh:
            if not raw.endswith(b"\n"):
                return
            offset += len(raw)
            seq += 1
            try:
                line = json.loads(raw)
                event = decode_event(line["event"])
                stored_prev, stored_hash = bytes.fromhex(line["prev"]), bytes.fromhex(line["hash"])
                line_seq = int(line["seq"])
            except (ValueError, KeyError, TypeError) as exc:
                raise SpoolTampered(seq, f"line is not a valid spool record ({type(exc).__name__})") from exc
            if line_seq != seq or event.source_seq != seq:
                raise SpoolTampered(seq, f"sequence number {line_seq} where {seq} was expected "
                                         "(an event was removed or inserted)")
            if node is not None and event.node != node:
                raise SpoolTampered(seq, f"event belongs to node {event.node!r}, not {node!r}")
            if stored_prev != prev:
                raise SpoolTampered(seq, "link to the previous event is broken (an event was removed or inserted)")
            digest = link(prev, event)
            if digest != stored_hash:
                raise SpoolTampered(seq, "event content does not match its hash (it was altered)")
            prev = digest
            yield SpooledEvent(seq, event, Position(seq, offset, digest))


def verify(path: Path, node: str | None = None) -> VerifyResult:
    """Recompute the whole spool chain (``first_bad_id`` is the bad event's seq)."""
    count = 0
    try:
        for _ in read_events(path, node=node):
            count += 1
    except SpoolTampered as exc:
        return VerifyResult(count + 1, False, exc.seq, exc.problem)
    return VerifyResult(count, True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Appends to one node's spool file; safe across threads of one process and across processes."""

    def __init__(self, directory: Path, node: str) -> None:
        self.directory = directory
        self.node = node
        self.path = directory / SPOOL_FILE
        created = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        if created:
            _fsync_dir(directory.parent)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        _fsync_dir(directory)
        self._tail = Position()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _catch_up(self) -> None:
        """Under the lock: learn the tail other processes wrote (from the last line only: the chain
        is verified where it is read, by ``verify``, the shipper and ``LocalGrants``); cut a torn
        last line (a writer that crashed before its fsync: never acknowledged)."""
        size = os.fstat(self._fd).st_size
        if size == self._tail.offset:
            return
        end, last = self._last_line(size)
        if end < size:
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)
        if end == self._tail.offset or last is None:
            if last is None:
                self._tail = Position()
            return
        try:
            line = json.loads(last)
            self._tail = Position(int(line["seq"]), end, bytes.fromhex(line["hash"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise SpoolTampered(self._tail.seq + 1, "the last line is not a valid spool record "
                                                    f"({type(exc).__name__})") from exc

    def _last_line(self, size: int) -> tuple[int, bytes | None]:
        """(offset just after the last complete line, that line) -- (0, None) for no complete line."""
        chunk, pos, tail = 8192, size, b""
        while pos > 0:  # find the last newline: the end of the last complete line
            start = max(0, pos - chunk)
            tail = os.pread(self._fd, pos - start, start) + tail
            cut = tail.rfind(b"\n")
            if cut >= 0:
                end = start + cut + 1
                break
            pos = start
        else:
            return 0, None
        body = tail[: cut]
        begin = body.rfind(b"\n")
        while begin < 0 and start > 0:  # the line starts before what was read: read further back
            more = max(0, start - chunk)
            body = os.pread(self._fd, start - more, more) + body
            start = more
            begin = body.rfind(b"\n")
        return end, body[begin + 1:]

    def append_sync(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        """Number, chain and durably append ``events``; returns them as written."""
        if self._fd < 0:
            raise SpoolError("the audit spool is closed")
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._catch_up()
            tail, chunks, written = self._tail, [], []
            prev, seq = tail.hash, tail.seq
            for event in events:
                seq += 1
                stamped = replace(event, node=self.node, source_seq=seq)
                canonical = stamped.canonical()
                digest = hashlib.sha256(prev + canonical).digest()  # audit.link, canonical made once
                chunks.append(encode(seq, stamped, prev, digest, canonical))
                written.append(stamped)
                prev = digest
            data = b"".join(chunks)
            try:
                os.write(self._fd, data)
                os.fsync(self._fd)
            except OSError as exc:
                os.ftruncate(self._fd, tail.offset)  # never leave a half-written batch behind
                raise SpoolError(f"cannot write the audit spool {self.path} ({exc.strerror}); "
                                 "free disk space there, reads are refused until it can be written") from exc
            self._tail = Position(seq, tail.offset + len(data), prev)
            return written
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def events(self, start: Position = Position()) -> Iterator[SpooledEvent]:
        return read_events(self.path, start, self.node)


class SpoolSink:
    """An ``AuditSink`` for read-only nodes: one fsync per batch, off the event loop."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._lock = asyncio.Lock()

    async def append(self, events: Sequence[AuditEvent]) -> None:
        async with self._lock:
            await asyncio.to_thread(self.spool.append_sync, events)


# ---- the shipping cursor ------------------------------------------------------------------------------
def load_cursor(directory: Path) -> Position:
    try:
        data = json.loads((directory / CURSOR_FILE).read_text())
        return Position(int(data["seq"]), int(data["offset"]), bytes.fromhex(data["hash"]))
    except FileNotFoundError:
        return Position()
    except (ValueError, KeyError, TypeError) as exc:
        raise SpoolError(f"the shipping cursor {directory / CURSOR_FILE} is unreadable; remove it and ship "
                         "again (shipping is idempotent, it restarts from the primary's high-water mark)") from exc


def save_cursor(directory: Path, position: Position) -> None:
    """Atomically and durably: write a temp file, fsync, rename over, fsync the directory."""
    tmp = directory / (CURSOR_FILE + ".tmp")
    data = json.dumps({"seq": position.seq, "offset": position.offset, "hash": position.hash.hex()})
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, directory / CURSOR_FILE)
    _fsync_dir(directory)
