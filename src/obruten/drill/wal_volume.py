"""A small, separate filesystem for one member's ``pg_wal``, to fill up in the ``disk-full`` drill.

A loop-mounted ext4 image (the closest thing to a real, separate WAL disk; needs root and a free
loop device), or a size-limited tmpfs when no loop device can be had. The member's ``pg_wal``
becomes a symlink into the mount (PostgreSQL supports a symlinked ``pg_wal``, as ``initdb
--waldir`` makes). Moving WAL in and out needs the member's PostgreSQL stopped; the drill does it
on a standby and switches over to it.

Filling is a ballast file written until only ``leave`` bytes are free; freeing deletes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from obruten.platform.errors import ObrutenError
from obruten.platform.privileges import ServiceUser

BALLAST = "ballast.drill"


class VolumeError(ObrutenError, RuntimeError):
    """The WAL volume could not be made, filled or removed; the message says what to do."""


def _run(args: list[str], what: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise VolumeError(f"{what} failed ({' '.join(args[:2])} exit {result.returncode}): "
                          f"{(result.stderr or result.stdout).strip()[-400:]}")


@dataclass(frozen=True)
class WalVolume:
    data_dir: Path  # the member's data directory
    work: Path  # where the image and the mount point live (never inside the data directory)
    size_mb: int

    @property
    def image(self) -> Path:
        return self.work / "wal.img"

    @property
    def mount(self) -> Path:
        return self.work / "mnt"

    @property
    def wal(self) -> Path:
        return self.mount / "pg_wal"

    @property
    def saved(self) -> Path:
        return self.data_dir / "pg_wal.before-drill"

    @property
    def mounted(self) -> bool:
        return os.path.ismount(self.mount)

    # ---- lifecycle -------------------------------------------------------------------------
    def create(self) -> str:
        """Make and mount the filesystem; returns what kind it is, as a sentence."""
        if os.geteuid() != 0:
            raise VolumeError("the disk-full drill mounts a small filesystem and needs root; run it as root")
        self.work.mkdir(parents=True, exist_ok=True)
        self.mount.mkdir(exist_ok=True)
        if self.mounted:
            raise VolumeError(f"{self.mount} is already mounted (an earlier drill?); "
                              f"unmount it with `umount {self.mount}` after checking what uses it")
        try:
            _run(["truncate", "-s", f"{self.size_mb}M", str(self.image)], "creating the image")
            _run(["mkfs.ext4", "-q", "-F", "-m", "0", str(self.image)], "mkfs.ext4")
            _run(["mount", "-o", "loop", str(self.image), str(self.mount)], "loop mount")
            return f"a {self.size_mb} MB ext4 filesystem loop-mounted at {self.mount}"
        except VolumeError as loop_error:
            self.image.unlink(missing_ok=True)
            try:
                _run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}M,mode=0755", "tmpfs", str(self.mount)],
                     "tmpfs mount")
            except VolumeError as exc:
                raise VolumeError(f"{loop_error}; {exc}") from exc
            return (f"a {self.size_mb} MB tmpfs at {self.mount} (no loop device: {str(loop_error)[:120]}); "
                    "tmpfs fills up like a disk but is not durable")

    def move_wal_in(self, user: ServiceUser) -> None:
        """Copy the (stopped) member's pg_wal onto the volume and link it there."""
        pg_wal = self.data_dir / "pg_wal"
        if pg_wal.is_symlink():
            raise VolumeError(f"{pg_wal} is already a symlink; restore it before running the drill again")
        _run(["cp", "-a", str(pg_wal), str(self.wal)], "copying pg_wal onto the volume")
        pg_wal.rename(self.saved)
        pg_wal.symlink_to(self.wal)
        os.lchown(pg_wal, user.uid, user.gid)
        user.own(self.mount)

    def move_wal_out(self, user: ServiceUser) -> None:
        """Copy the (stopped) member's WAL back into its data directory, replacing the symlink."""
        pg_wal = self.data_dir / "pg_wal"
        if not pg_wal.is_symlink():
            return
        fresh = self.data_dir / "pg_wal.after-drill"
        shutil.rmtree(fresh, ignore_errors=True)
        _run(["cp", "-a", str(self.wal), str(fresh)], "copying pg_wal back from the volume")
        pg_wal.unlink()
        fresh.rename(pg_wal)
        user.own(pg_wal)
        shutil.rmtree(self.saved, ignore_errors=True)

    def remove(self) -> None:
        if self.mounted:
            _run(["umount", str(self.mount)], "unmounting the WAL volume")
        self.image.unlink(missing_ok=True)

    # ---- the fault -------------------------------------------------------------------------
    def free_bytes(self) -> int:
        return shutil.disk_usage(self.mount).free

    def fill(self, leave: int) -> int:
        """Write a ballast file until at most ``leave`` bytes are free; returns its size."""
        ballast = self.mount / BALLAST
        chunk = b"\0" * (1 << 20)
        written = 0
        with open(ballast, "ab") as fh:
            while self.free_bytes() > leave + len(chunk):
                try:
                    fh.write(chunk)
                    fh.flush()
                    os.fsync(fh.fileno())
                except OSError:
                    break
                written += len(chunk)
        return written

    def free(self) -> int:
        """Delete the ballast; returns the bytes free afterwards."""
        (self.mount / BALLAST).unlink(missing_ok=True)
        return self.free_bytes()
