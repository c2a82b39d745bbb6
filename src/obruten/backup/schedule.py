"""The backup timer: each tick takes a snapshot of the backup root, decides what is due, does it
and returns a sentence. Run it often (systemd timer every 15 min, `deploy/obruten-backup.timer`);
it does nothing when nothing is due.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from obruten.backup import catalog


@dataclass(frozen=True)
class Policy:
    backup_every: timedelta = timedelta(hours=24)
    full_every: timedelta = timedelta(days=7)  # incrementals in between
    verify_every: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    last_backup: datetime | None
    last_full: datetime | None
    last_verified: datetime | None  # last *successful* verification
    verified_backup: str | None
    latest_backup: str | None


def snapshot(backup_root_backups: list[catalog.Backup], good: catalog.Verification | None,
             now: datetime | None = None) -> Snapshot:
    fulls = [b for b in backup_root_backups if b.kind == "full"]
    latest = backup_root_backups[-1] if backup_root_backups else None
    return Snapshot(now or datetime.now(UTC), latest.finished if latest else None,
                    fulls[-1].finished if fulls else None, good.when if good else None,
                    good.backup if good else None, latest.label if latest else None)


def decide(s: Snapshot, p: Policy) -> tuple[str, str]:
    """Return (action, why): action is "full", "incremental", "verify" or "nothing"."""
    if s.last_full is None:
        return "full", "no full backup exists"
    if s.now - s.last_full >= p.full_every:
        return "full", f"the last full backup is older than {p.full_every}"
    if s.last_backup is None or s.now - s.last_backup >= p.backup_every:
        return "incremental", f"the last backup is older than {p.backup_every}"
    if s.last_verified is None or s.now - s.last_verified >= p.verify_every or s.verified_backup != s.latest_backup:
        return "verify", "the latest backup has not been proven by a restore yet"
    return "nothing", "backups and verification are current"


def tick(take: Callable[[bool], catalog.Backup], verify: Callable[[], catalog.Verification],
         s: Snapshot, p: Policy) -> str:
    action, why = decide(s, p)
    if action in ("full", "incremental"):
        b = take(action == "full")
        return f"took {b.kind} backup {b.label} because {why}"
    if action == "verify":
        v = verify()
        return (f"verified backup {v.backup} by restoring to {v.target_time}" if v.ok
                else f"verification of {v.backup} FAILED: {v.problem}")
    return f"nothing to do: {why}"
