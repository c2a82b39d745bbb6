"""System events from the cluster, backups and drills, for the ops service's incident timelines.

Every command that changes the cluster's state reports it through :func:`emit` into
``obruten.platform.events`` (the ops service ingests them): ``cluster.*`` (started, stopped, switchover,
failover, lagged_recovered), ``backup.*`` (base_completed, base_failed, restore_verified,
restore_verification_failed, restore) and ``drill.*`` (started, fault_injected, recovered,
finished). The ops backup probe reads the age of the newest ``backup.base_completed`` and
``backup.restore_verified``. Summaries are Swedish (they are shown in the ops console); data
fields are plain facts, never patient data.
"""

from __future__ import annotations

from pathlib import Path

from obruten.backup.catalog import Backup, Verification
from obruten.cluster.topology import Topology
from obruten.platform import events

# what the ops backup probe reads (obruten.ops.probe_local.BackupProbe)
BASE_COMPLETED = "backup.base_completed"
RESTORE_VERIFIED = "backup.restore_verified"


def emit(topo: Topology, kind: str, summary: str, source: str, **data: object) -> None:
    """Record one event when the topology names an events directory (tests may leave it out)."""
    if topo.events_dir is not None:
        events.emit(Path(topo.events_dir), kind, summary, source, **data)


def base_backup_completed(topo: Topology, b: Backup, seconds: float) -> None:
    kind = "Inkrementell" if b.kind == "incremental" else "Full"
    emit(topo, BASE_COMPLETED, f"{kind} basbackup {b.label} klar ({b.size_bytes / 1e6:.0f} MB, {seconds:.0f} s)",
         "backup", label=b.label, backup_kind=b.kind, parent=b.parent, timeline=b.timeline, member=b.source,
         size_bytes=b.size_bytes, seconds=seconds, finished_at=b.finished_at)


def verification(topo: Topology, v: Verification) -> None:
    if v.ok:
        emit(topo, RESTORE_VERIFIED, f"Återläsning av {v.backup} till {v.target_time} verifierad ({v.seconds:.0f} s)",
             "backup", backup=v.backup, target_time=v.target_time, seconds=v.seconds)
    else:
        emit(topo, "backup.restore_verification_failed", f"Återläsning av {v.backup} misslyckades: {v.problem[:200]}",
             "backup", backup=v.backup, target_time=v.target_time)
