"""What the backup root holds: base backups (each with a JSON record) and verification results.

Layout under the backup root (never beside the data):

    wal/                      archived WAL segments
    base/<label>/             a plain-format base backup (full or incremental), with backup_manifest
    base/<label>.json         its record: kind, parent, times, LSN, source
    verify.jsonl              one line per restore verification, newest last
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Backup:
    label: str
    kind: str  # "full" or "incremental"
    parent: str | None  # label of the backup this one is incremental to
    started_at: str  # ISO time on the database server when the backup started
    finished_at: str
    start_lsn: str
    timeline: int
    source: str  # member it was taken from
    size_bytes: int = 0

    @property
    def finished(self) -> datetime:
        return datetime.fromisoformat(self.finished_at)


@dataclass(frozen=True)
class Verification:
    at: str
    backup: str
    target_time: str
    ok: bool
    seconds: float
    checks: dict[str, object]
    problem: str = ""

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.at)


def base_dir(backup_root: Path) -> Path:
    return backup_root / "base"


def backups(backup_root: Path) -> list[Backup]:
    """Every completed base backup, oldest first (a backup without its record is incomplete)."""
    d = base_dir(backup_root)
    if not d.exists():
        return []
    found = [Backup(**json.loads(p.read_text())) for p in d.glob("*.json")]
    return sorted(found, key=lambda b: b.finished_at)


def record(backup_root: Path, b: Backup) -> None:
    path = base_dir(backup_root) / f"{b.label}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(b), indent=2))
    tmp.rename(path)


def chain(backup_root: Path, label: str) -> list[Backup]:
    """The full backup and the incrementals leading to ``label``, oldest first."""
    by_label = {b.label: b for b in backups(backup_root)}
    out: list[Backup] = []
    current: str | None = label
    while current is not None:
        b = by_label.get(current)
        if b is None:
            raise FileNotFoundError(f"backup {current} is missing from {base_dir(backup_root)}; take a new "
                                    "full backup with `obruten backup now --full`")
        out.append(b)
        current = b.parent
    return list(reversed(out))


def latest_before(backup_root: Path, when: datetime) -> Backup | None:
    """The newest backup finished before ``when`` (a restore to ``when`` starts from it)."""
    usable = [b for b in backups(backup_root) if b.finished <= when]
    return usable[-1] if usable else None


def verifications(backup_root: Path) -> list[Verification]:
    path = backup_root / "verify.jsonl"
    if not path.exists():
        return []
    return [Verification(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def add_verification(backup_root: Path, v: Verification) -> None:
    with (backup_root / "verify.jsonl").open("a") as fh:
        fh.write(json.dumps(asdict(v)) + "\n")


def last_good_verification(backup_root: Path) -> Verification | None:
    good = [v for v in verifications(backup_root) if v.ok]
    return good[-1] if good else None


def age(when: datetime, now: datetime | None = None) -> str:
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"
