"""The WAL archive: a directory under the backup root, never beside the data.

PostgreSQL calls ``archive_command`` for each finished WAL segment; ours copies it to a temporary
name, flushes it to disk and renames it into place, so a crash never leaves a half-written segment
under its real name. A segment that is already archived with the same content is accepted (a new
primary may archive it again after a failover); a different one is refused loudly.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from obruten.platform.privileges import ServiceUser

_SCRIPT = """#!/bin/sh
# obruten WAL archiver: archive-wal <path of segment> <file name>
set -eu
dest="{archive}/$2"
if [ -f "$dest" ]; then
    if cmp -s "$1" "$dest"; then exit 0; fi
    echo "obruten archive: $dest exists with other content; inspect the archive before deleting anything" >&2
    exit 1
fi
cp "$1" "$dest.tmp"
sync "$dest.tmp"
mv "$dest.tmp" "$dest"
sync "{archive}"
"""


def script_path(backup_root: Path) -> Path:
    return backup_root / "archive-wal.sh"


def prepare(backup_root: Path, user: ServiceUser) -> Path:
    """Create the archive and its script, owned by the service user; return the archive dir."""
    archive = backup_root / "wal"
    for d in (backup_root, archive, backup_root / "base"):
        d.mkdir(parents=True, exist_ok=True)
    script = script_path(backup_root)
    script.write_text(_SCRIPT.format(archive=archive))
    script.chmod(0o755)
    user.own(backup_root)
    return archive


def archive_command(backup_root: Path) -> str:
    return f"{shlex.quote(str(script_path(backup_root)))} %p %f"


def segments_dir(backup_root: Path) -> Path:
    return backup_root / "wal"


def restore_command(archive: Path) -> str:
    return f"cp {shlex.quote(str(archive))}/%f %p"


def segments(archive: Path) -> list[str]:
    return sorted(p.name for p in archive.iterdir() if not p.name.endswith(".tmp")) if archive.exists() else []
