"""The contract between probes and rules: a finding is what one probe saw of one target."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

STATUSES = ("ok", "slow", "warn", "down", "unknown")


@dataclass(frozen=True)
class Finding:
    probe: str  # journal_write, read_copy, cluster, storage, backups, ward_kits
    target: str  # primary, member:pg2, path:wal, unit:AVD12 …
    status: str  # one of STATUSES; "slow" is a finding in its own right (F1)
    value: float | None = None  # the figure behind the status (ms, s, %, h …)
    detail: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"finding status {self.status!r} is not one of {STATUSES}")
