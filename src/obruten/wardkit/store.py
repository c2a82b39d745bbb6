"""Kits on disk: one directory per kit under a unit's folder, newest by stamp, a bounded number kept.

The builder keeps ``var_dir/wardkits/<unit>/<stamp>/`` (``keep`` per unit); a ward agent keeps
its own unit's kits under ``var_dir/agent/kits/<stamp>/`` (three). A kit is added by renaming a
complete staging directory into place, so a reader never sees half a kit, and a crash mid-write
leaves only a ``.staging-*`` folder that the next add removes.

When the store is given trusted keys it only hands out kits that verify (signature and every
file's digest); the check is cached per kit directory and redone when a file changes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

from obruten.platform.private import make_private, private_dir
from obruten.platform.signing import TrustedKeys
from obruten.wardkit import manifest as mf

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
STAGING = ".staging-"
STALE_STAGING_S = 600


def safe_name(value: str, what: str = "unit") -> str:
    """``value`` if it can be a directory name (no path tricks); a clear error otherwise."""
    if not _SAFE.match(value):
        raise ValueError(f"{what} {value!r} is not a valid name (letters, digits, '.', '_', '-'; at most 80)")
    return value


@dataclass(frozen=True)
class Kit:
    path: Path

    @property
    def stamp(self) -> str:
        return self.path.name

    @cached_property
    def manifest(self) -> dict:
        return mf.load(self.path / mf.MANIFEST)

    @property
    def body(self) -> dict:
        return self.manifest["body"]

    @cached_property
    def data(self) -> dict:
        return json.loads((self.path / "kit.json").read_bytes())

    @property
    def unit(self) -> str:
        return str(self.body["unit"])

    @property
    def pdf_path(self) -> Path:
        return self.path / "kit.pdf"

    @property
    def html_path(self) -> Path:
        return self.path / "kit.html"

    @property
    def json_path(self) -> Path:
        return self.path / "kit.json"

    @property
    def as_of(self) -> datetime:
        return datetime.fromisoformat(self.body["as_of"])

    @property
    def built_at(self) -> datetime:
        return datetime.fromisoformat(self.body["generated_at"])

    @property
    def patients(self) -> int:
        return int(self.body["patients"])

    def _fingerprint(self) -> tuple:
        out = []
        for name in (mf.MANIFEST, *mf.KIT_FILES):
            try:
                st = (self.path / name).stat()
                out.append((name, st.st_size, st.st_mtime_ns))
            except FileNotFoundError:
                out.append((name, -1, -1))
        return tuple(out)


class KitStore:
    """The kits of one unit under ``root``, newest first."""

    def __init__(self, root: Path, keep: int = 3, trusted: TrustedKeys | None = None,
                 unit: str | None = None, durable: bool = True) -> None:
        """``durable``: fsync a kit's files before it is renamed into place (the ward agent's copy is the
        one that must survive a power cut; the builder rebuilds every few minutes and skips it)."""
        if keep < 1:
            raise ValueError("keep at least one kit")
        self.root, self.keep, self.trusted, self.unit, self.durable = root, keep, trusted, unit, durable
        self._checked: dict[str, tuple[tuple, mf.Verdict]] = {}

    def trust(self, trusted: TrustedKeys) -> None:
        """Check against these keys from now on (every kit is checked again)."""
        self.trusted = trusted
        self._checked.clear()

    def all(self) -> list[Kit]:
        """Every complete kit (a manifest is present), newest first; unverified."""
        if not self.root.is_dir():
            return []
        kits = [Kit(p) for p in self.root.iterdir()
                if p.is_dir() and not p.name.startswith(".") and (p / mf.MANIFEST).exists()]
        return sorted(kits, key=lambda k: k.stamp, reverse=True)

    def verdict(self, kit: Kit) -> mf.Verdict:
        if self.trusted is None:
            return mf.Verdict(mf.VALID, "no trusted keys given: not checked")
        fingerprint = kit._fingerprint()
        cached = self._checked.get(kit.stamp)
        if cached and cached[0] == fingerprint:
            return cached[1]
        verdict = mf.check_kit(kit.path, self.trusted, self.unit)
        self._checked[kit.stamp] = (fingerprint, verdict)
        return verdict

    def kits(self) -> list[Kit]:
        """The kits that verify (all of them when no trusted keys were given), newest first."""
        return [k for k in self.all() if self.verdict(k).ok]

    def newest(self) -> Kit | None:
        for kit in self.all():
            if self.verdict(kit).ok:
                return kit
        return None

    def get(self, stamp: str) -> Kit | None:
        try:
            safe_name(stamp, "kit")
        except ValueError:
            return None
        kit = Kit(self.root / stamp)
        if not (kit.path / mf.MANIFEST).exists() or not self.verdict(kit).ok:
            return None
        return kit

    def free_stamp(self, stamp: str) -> str:
        """``stamp``, or ``stamp-2``, ``stamp-3`` … when a kit with that stamp is already kept."""
        safe_name(stamp, "kit")
        candidate, n = stamp, 1
        while (self.root / candidate).exists():
            n += 1
            candidate = f"{stamp}-{n:02d}"
        return candidate

    def staging(self, stamp: str) -> Path:
        """A fresh, empty directory to write a kit into before ``add``."""
        private_dir(self.root)  # kits hold names and personal numbers
        path = self.root / f"{STAGING}{safe_name(stamp, 'kit')}-{os.getpid()}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(mode=0o700)
        return path

    def add(self, staged: Path, stamp: str) -> Kit:
        """Move a complete staged kit into place (atomic rename) and drop the oldest beyond ``keep``."""
        target = self.root / safe_name(stamp, "kit")
        if target.exists():
            raise FileExistsError(f"kit {stamp} is already kept in {self.root}")
        make_private(staged)
        if self.durable:
            for name in (*mf.KIT_FILES, mf.MANIFEST):
                _fsync(staged / name)
        os.replace(staged, target)
        if self.durable:
            _fsync_dir(self.root)
        self.prune()
        return Kit(target)

    def prune(self) -> list[str]:
        """Remove kits beyond ``keep`` (oldest first) and stale staging folders; return removed stamps."""
        removed = []
        for kit in self.all()[self.keep:]:
            shutil.rmtree(kit.path, ignore_errors=True)
            self._checked.pop(kit.stamp, None)
            removed.append(kit.stamp)
        stale = time.time() - STALE_STAGING_S
        for path in self.root.glob(f"{STAGING}*"):
            if path.stat().st_mtime < stale:   # a crashed writer's leftovers, never a live writer's
                shutil.rmtree(path, ignore_errors=True)
        return removed


def _fsync(path: Path) -> None:
    if path.exists():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
