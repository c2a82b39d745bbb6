"""System events: the one place every part of Obruten reports what happened to it.

A system event is an operational fact (failover, switchover, restore, drill started, mode
changed, status message issued, alarm fired …), never patient data. Events are appended as JSON
lines to an events file (fsynced) that does not depend on the journal database, so they are
recorded during an outage; the ops service reads the file to build incident timelines.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

_lock = threading.Lock()


@dataclass(frozen=True)
class SystemEvent:
    kind: str  # dotted, e.g. "cluster.failover", "backup.verified", "drill.started"
    summary: str  # one plain sentence
    source: str  # which node or command emitted it
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    data: dict[str, object] = field(default_factory=dict)


def events_file(var_dir: Path) -> Path:
    return var_dir / "events" / "events.jsonl"


def emit(var_dir: Path, kind: str, summary: str, source: str, **data: object) -> SystemEvent:
    """Append one event durably; returns it. Never raises for a full or missing disk: an event
    that cannot be written is reported on stderr (the caller's work must not fail for it)."""
    event = SystemEvent(kind=kind, summary=summary, source=source, data=data)
    path = events_file(var_dir)
    line = json.dumps(asdict(event), ensure_ascii=False, separators=(",", ":")) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _lock, open(path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        import sys

        print(f"obruten: could not record system event {kind}: {exc}", file=sys.stderr)
    return event


def read(var_dir: Path, offset: int = 0) -> Iterator[tuple[int, SystemEvent]]:
    """Events from byte ``offset`` on, each with the offset after it (to resume from)."""
    path = events_file(var_dir)
    if not path.exists():
        return
    with open(path, "rb") as fh:
        fh.seek(offset)
        for raw in fh:
            if not raw.endswith(b"\n"):
                return  # a line still being written
            offset += len(raw)
            try:
                yield offset, SystemEvent(**json.loads(raw))
            except (ValueError, TypeError):
                continue
