"""Back from nothing: a new primary from the backup store alone, to the end of the WAL it holds.

For the day both sites and their disks are gone. The latest base backup chain plus the archive
plus the receiver's stream (its ``.partial`` segment included, ADR 0045) are replayed to their
end: no time to guess, every acknowledged commit the backup store holds. The instance is built
aside and renamed into place only when it is promoted (``restore.restore``), so a failure leaves
nothing half-made and a retry starts clean. It needs only the backup root: ``cluster up`` keeps a
copy of the topology (ports, service user, passwords) there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from obruten.backup import catalog
from obruten.backup.restore import EndOfRecovery, end_of_recovery, restore
from obruten.cluster import announce
from obruten.cluster.topology import Topology
from obruten.platform.pgserver import PostgresInstance
from obruten.platform.progress import Progress, Say


@dataclass(frozen=True)
class Rebuilt:
    instance: PostgresInstance
    backup: catalog.Backup
    seconds: float  # from the command's start until the new primary accepts writes
    end: EndOfRecovery  # LSN where replay ended and the last commit it holds

    def sentence(self) -> str:
        last = self.end.last_commit.astimezone(UTC).isoformat() if self.end.last_commit else "none"
        return (f"rebuilt a primary from the backup store in {self.seconds:.1f} s (base backup "
                f"{self.backup.label}); WAL replayed to LSN {self.end.lsn or '?'}, last commit at {last}")


def default_dest(topo: Topology, now: datetime | None = None) -> Path:
    return topo.backup_root / "rebuilt" / (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def rebuild(topo: Topology, dest: Path, port: int, say: Say, progress: Progress | None = None,
            timeout: float = 1800) -> Rebuilt:
    """Replay the backup store to its end into ``dest``; return the running new primary."""
    t0 = time.monotonic()
    pg, b = restore(topo, None, dest, port, say, verify=True, timeout=timeout, announce=False,
                    progress=progress)
    seconds = round(time.monotonic() - t0, 1)
    end = end_of_recovery(pg.log_tail(10_000))
    done = Rebuilt(pg, b, seconds, end)
    announce.emit(topo, "backup.rebuilt", f"Ny primär återuppbyggd ur backuplagret på {seconds:.0f} s; "
                  f"senaste commit {end.last_commit.isoformat() if end.last_commit else 'ingen'}", "backup",
                  backup=b.label, port=port, data_dir=str(dest), seconds=seconds, lsn=end.lsn,
                  last_commit=end.last_commit.isoformat() if end.last_commit else None)
    return done
