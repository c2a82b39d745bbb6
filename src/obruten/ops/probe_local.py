"""Probes that need no database of the journal: storage, backup age, ward kits.

Backup and restore-verification times come from system events (emitted by the backup tooling,
ingested into the ops store); ward-kit ages come from what the ward agents report to the ops API.
"""

from __future__ import annotations

import shutil
import time
from datetime import datetime
from pathlib import Path

from obruten.ops.clock import iso, parse
from obruten.ops.findings import Finding
from obruten.ops.store import Store


class StorageProbe:
    """Free space on each named path (data, WAL, backup), and how fast it is being used."""

    name = "storage"
    target = "storage"
    deadline_s = 2.0

    def __init__(self, paths: dict[str, Path], warn_free_pct: float = 15, down_free_pct: float = 5,
                 warn_hours_left: float = 24) -> None:
        self.paths, self.warn_free_pct, self.down_free_pct = paths, warn_free_pct, down_free_pct
        self.warn_hours_left = warn_hours_left
        self._last: dict[str, tuple[float, int]] = {}  # name → (monotonic time, used bytes)

    def check(self, now: datetime) -> list[Finding]:
        findings = []
        for name, path in self.paths.items():
            try:
                usage = shutil.disk_usage(path)
            except OSError as exc:
                findings.append(Finding(self.name, f"path:{name}", "down", None, f"{path}: {exc}", now))
                continue
            free_pct = round(100 * usage.free / usage.total, 2) if usage.total else 0.0
            hours_left = self._hours_left(name, usage.used, usage.free)
            status = "ok"
            if free_pct < self.down_free_pct:
                status = "down"
            elif free_pct < self.warn_free_pct or (hours_left is not None and hours_left < self.warn_hours_left):
                status = "warn"
            left = "" if hours_left is None else f", full in {hours_left:.1f} h at the current rate"
            findings.append(Finding(self.name, f"path:{name}", status, free_pct,
                                    f"{path}: {free_pct:.1f} % free ({usage.free // 2**20} MiB){left}", now))
        return findings

    def _hours_left(self, name: str, used: int, free: int) -> float | None:
        t = time.monotonic()
        previous = self._last.get(name)
        self._last[name] = (t, used)
        if previous is None or t - previous[0] < 1:
            return None
        growth_per_h = (used - previous[1]) / (t - previous[0]) * 3600
        return free / growth_per_h if growth_per_h > 0 else None


class BackupProbe:
    """Age in hours of the newest base backup and of the newest good restore verification."""

    name = "backups"
    target = "backups"
    deadline_s = 2.0

    def __init__(self, store: Store, base_kind: str = "backup.base_completed",
                 verify_kind: str = "backup.restore_verified", base_max_h: float = 26,
                 verify_max_h: float = 8 * 24) -> None:
        self.store, self.kinds = store, {"base_backup": (base_kind, base_max_h),
                                         "restore_verification": (verify_kind, verify_max_h)}

    def check(self, now: datetime) -> list[Finding]:
        findings = []
        for target, (kind, max_h) in self.kinds.items():
            row = self.store.one("SELECT max(at) AS at FROM timeline_entry WHERE kind = ?", (kind,))
            at = parse(row["at"]) if row else None
            if at is None:
                findings.append(Finding(self.name, target, "down", None, f"no {kind} event recorded", now))
                continue
            hours = round((now - at).total_seconds() / 3600, 2)
            status = "down" if hours > max_h else "ok"
            findings.append(Finding(self.name, target, status, hours, f"newest {hours:.1f} h ago (limit {max_h:g} h)", now))
        return findings


class WardKitProbe:
    """Each unit's newest downtime kit (minutes old) and whether its ward agent still reports."""

    name = "ward_kits"
    target = "ward_kits"
    deadline_s = 2.0

    def __init__(self, store: Store, max_kit_age_min: float = 30, silent_after_min: float = 10) -> None:
        self.store, self.max_kit_age_min, self.silent_after_min = store, max_kit_age_min, silent_after_min

    def check(self, now: datetime) -> list[Finding]:
        findings = []
        for row in self.store.all("SELECT unit, agent, last_seen_at, kit_at FROM ward_agent ORDER BY unit"):
            seen = parse(row["last_seen_at"])
            silent_min = (now - seen).total_seconds() / 60 if seen else float("inf")
            findings.append(Finding(self.name, f"agent:{row['unit']}",
                                    "down" if silent_min > self.silent_after_min else "ok", round(silent_min, 1),
                                    f"agent {row['agent']} last reported {silent_min:.0f} min ago", now))
            kit_at = parse(row["kit_at"])
            age_min = (now - kit_at).total_seconds() / 60 if kit_at else float("inf")
            findings.append(Finding(self.name, f"unit:{row['unit']}",
                                    "slow" if age_min > self.max_kit_age_min else "ok",
                                    None if kit_at is None else round(age_min, 1),
                                    f"newest kit {age_min:.0f} min old" if kit_at else "no kit reported", now))
        return findings


def report_ward_agent(store: Store, unit: str, agent: str, kit_at: datetime | None, now: datetime) -> None:
    """Record a ward agent's report (called by the ops API)."""
    store.execute("INSERT INTO ward_agent (unit, agent, last_seen_at, kit_at) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT (unit) DO UPDATE SET agent = excluded.agent, last_seen_at = excluded.last_seen_at, "
                  "kit_at = COALESCE(excluded.kit_at, ward_agent.kit_at)",
                  (unit, agent, iso(now), iso(kit_at) if kit_at else None))
