"""Running server processes as an unprivileged OS user.

PostgreSQL and Patroni refuse to run as root. When we are root we run them as a service user
(``postgres`` if the system has it, else an ``obruten`` system user that we create) and hand that
user the directories it needs. When we are not root we run them as ourselves.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict


class PopenUser(TypedDict, total=False):
    """The ``subprocess`` keyword arguments that run a child as another user."""

    user: int
    group: int
    extra_groups: list[int]


@dataclass(frozen=True)
class ServiceUser:
    name: str
    uid: int
    gid: int
    home: str

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()

    def popen_kwargs(self) -> PopenUser:
        """Keyword arguments for subprocess that drop privileges to this user (none if it is us)."""
        if self.is_self:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        if not self.is_self:
            env.update({"HOME": self.home, "USER": self.name, "LOGNAME": self.name})
        env.setdefault("LC_ALL", "C.UTF-8")
        env.setdefault("LANG", "C.UTF-8")
        return env

    def own(self, path: Path) -> None:
        """Make ``path`` (recursively) belong to this user, so the server can write it."""
        if self.is_self:
            return
        os.chown(path, self.uid, self.gid)
        for root, dirs, files in os.walk(path):
            os.chown(root, self.uid, self.gid)
            for name in dirs + files:
                os.lchown(os.path.join(root, name), self.uid, self.gid)


def service_user(preferred: str | None = None) -> ServiceUser:
    """The OS user that runs PostgreSQL and Patroni."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)
    candidates = [preferred] if preferred else ["postgres", "obruten"]
    for name in candidates:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir or "/tmp")
    name = preferred or "obruten"
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True)
    entry = pwd.getpwnam(name)
    return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid, "/tmp")


# where a server's files go when the var dir lies where the service user cannot enter (a checkout in
# root's 0700 home): one directory per var dir, named by a stable hash of the var dir's path
REACHABLE_ROOT = Path("/var/lib/obruten")


def blocked_by(user: ServiceUser, path: Path) -> Path | None:
    """The first parent of ``path`` that ``user`` cannot pass through (no o+x), or None."""
    if user.is_self:
        return None
    for parent in reversed(path.resolve().parents):
        if parent.exists() and not parent.stat().st_mode & 0o001:
            return parent
    return None


def reachable_home(user: ServiceUser, var_dir: Path, root: Path = REACHABLE_ROOT) -> tuple[Path, str | None]:
    """Where ``user``'s server files for ``var_dir`` go: ``var_dir`` itself when ``user`` can enter
    it, else ``root/<hash of var_dir>``; with the sentence that says why they moved (None if not).

    We never loosen permissions on directories we do not own (the wheel's own root handling opens
    every parent up to ``/``; we refuse to do that): the files move instead."""
    var_dir = var_dir.resolve()
    blocked = blocked_by(user, var_dir / "x")
    if blocked is None:
        return var_dir, None
    home = root / hashlib.sha256(str(var_dir).encode()).hexdigest()[:16]
    return home, (f"the service user {user.name!r} cannot enter {blocked} (no o+x permission), so the embedded "
                  f"PostgreSQL of {var_dir} keeps its data in {home}")


def check_reachable(user: ServiceUser, path: Path) -> None:
    """Fail clearly if ``user`` cannot pass through every parent of ``path``."""
    blocked = blocked_by(user, path)
    if blocked is not None:
        raise PermissionError(
            f"the service user {user.name!r} cannot enter {blocked} (no o+x permission); "
            f"put the data directory somewhere it can reach, e.g. OBRUTEN_VAR_DIR=/var/lib/obruten")
