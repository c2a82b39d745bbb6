"""The cluster's shape on one machine: which members exist, their ports, roles and directories.

This module is the contract the rest of ``obruten.cluster``, ``obruten.backup`` and
``obruten.drill`` build on. ``cluster up`` writes it to ``<cluster root>/topology.json``; every
later command reads it back, so ports and paths are chosen once.

Members (production layout in docs/operations.md):

* ``site-a``, ``site-b``: the two sites, both may become primary, preferred sync standbys.
* ``read-copy`` (läskopia): asynchronous hot standby serving reads; the last sync candidate
  (quorum commit takes a ``nofailover`` member only when no site standby streams) and never
  promoted automatically (``nofailover``; ``cluster failover --to read-copy`` lifts it; ADR 0011).
* ``lagged-copy``: ``recovery_min_apply_delay`` behind, ``nofailover`` + ``nosync``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

from obruten.platform.errors import ObrutenError
from obruten.platform.pgserver import DATABASE, SUPERUSER

SCOPE = "obruten"
REPLICATION_USER = "replicator"


class TopologyError(ObrutenError, RuntimeError):
    """No cluster here, or its description is unreadable; the message says what to do."""


@dataclass(frozen=True)
class Member:
    name: str
    index: int
    kind: str  # "site", "read-copy" or "lagged-copy"
    pg_port: int
    rest_port: int
    raft_port: int
    voter: bool  # takes part in the Raft quorum
    # the partition drill's own layout (obruten.drill.netns): the member's address and the network
    # namespace it runs in; the default layout keeps every member on 127.0.0.1 in this namespace
    host: str = "127.0.0.1"
    netns: str | None = None

    @property
    def can_be_primary(self) -> bool:
        return self.kind in ("site", "read-copy")

    def tags(self, promotable: bool = False) -> dict[str, object]:
        """Patroni tags; ``promotable`` lifts the read copy's ``nofailover`` (explicit failover to it)."""
        if self.kind == "site":
            return {"failover_priority": 2, "sync_priority": 2}
        if self.kind == "read-copy":
            # last sync candidate, never promoted by Patroni itself (ADR 0011)
            return {"failover_priority": 1, "sync_priority": 1} if promotable else \
                {"nofailover": True, "sync_priority": 1}
        return {"nofailover": True, "nosync": True, "noloadbalance": True}


@dataclass(frozen=True)
class Topology:
    root: Path
    backup_root: Path
    base_port: int
    lag_delay: str  # recovery_min_apply_delay of the lagged copy, e.g. "6h" or "10s"
    strict_sync: bool = False
    user_name: str | None = None
    passwords: dict[str, str] = field(default_factory=dict)
    members: tuple[Member, ...] = ()
    events_dir: str | None = None  # var dir whose system-event file gets our events (None: none)

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, backup_root: Path, base_port: int = 25400, lag_delay: str = "6h",
               strict_sync: bool = False, user_name: str | None = None, events_dir: Path | None = None) -> Topology:
        root, backup_root = root.resolve(), backup_root.resolve()
        if backup_root == root or root in backup_root.parents or backup_root in root.parents:
            raise TopologyError(f"the backup root {backup_root} must not lie inside or around the cluster "
                                f"root {root}: backups belong on separate storage (--backup-root)")
        kinds = [("site-a", "site"), ("site-b", "site"), ("read-copy", "read-copy"), ("lagged-copy", "lagged-copy")]
        members = tuple(
            Member(name, i, kind, base_port + i, base_port + 10 + i, base_port + 20 + i, voter=kind != "lagged-copy")
            for i, (name, kind) in enumerate(kinds))
        passwords = {role: secrets.token_urlsafe(18) for role in (SUPERUSER, REPLICATION_USER)}
        return cls(root, backup_root, base_port, lag_delay, strict_sync, user_name, passwords, members,
                   str(events_dir.resolve()) if events_dir else None)

    @classmethod
    def load(cls, root: Path) -> Topology:
        path = root.resolve() / "topology.json"
        if not path.exists():
            raise TopologyError(f"no cluster in {root.resolve()} (no topology.json); start one with "
                                "`obruten cluster up` or pass --cluster-root")
        data = json.loads(path.read_text())
        members = tuple(Member(**m) for m in data.pop("members"))
        return cls(root=Path(data.pop("root")), backup_root=Path(data.pop("backup_root")),
                   members=members, **data)

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["root"], data["backup_root"] = str(self.root), str(self.backup_root)
        # a copy in the backup store: `backup rebuild --backup-root` needs nothing else (ADR 0045)
        self.backup_root.mkdir(parents=True, exist_ok=True)
        for path in (self.root / "topology.json", self.backup_root / "topology.json"):
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=2))
            tmp.chmod(0o600)
            tmp.rename(path)

    # ---- lookup ----------------------------------------------------------------------------
    def member(self, name: str) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        raise TopologyError(f"no member {name!r}; members: {', '.join(m.name for m in self.members)}")

    @property
    def sites(self) -> list[Member]:
        return [m for m in self.members if m.kind == "site"]

    @property
    def read_copy(self) -> Member:
        return next(m for m in self.members if m.kind == "read-copy")

    @property
    def lagged_copy(self) -> Member:
        return next(m for m in self.members if m.kind == "lagged-copy")

    # ---- paths -----------------------------------------------------------------------------
    def data_dir(self, m: Member) -> Path:
        return self.root / "data" / m.name

    def config_file(self, m: Member) -> Path:
        return self.root / "patroni" / f"{m.name}.yml"

    def log_dir(self) -> Path:
        return self.root / "log"

    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def wal_archive(self) -> Path:
        return self.backup_root / "wal"

    # ---- connection strings ----------------------------------------------------------------
    @property
    def superuser_password(self) -> str:
        return self.passwords[SUPERUSER]

    def member_url(self, m: Member, dbname: str = DATABASE, timeout: int = 3) -> str:
        return (f"postgresql://{SUPERUSER}:{quote(self.superuser_password)}@{m.host}:{m.pg_port}/{dbname}"
                f"?connect_timeout={timeout}")

    def write_url(self, dbname: str = DATABASE, timeout: int = 2) -> str:
        """Multi-host URL that always lands on the primary (the journal app uses this)."""
        hosts = ",".join(f"{m.host}:{m.pg_port}" for m in self.members if m.can_be_primary)
        return (f"postgresql://{SUPERUSER}:{quote(self.superuser_password)}@{hosts}/{dbname}"
                f"?target_session_attrs=read-write&connect_timeout={timeout}")

    def read_url(self, dbname: str = DATABASE, timeout: int = 2) -> str:
        """The read copy first; any other member if it is down (reads may land on the primary)."""
        order = [self.read_copy, *self.sites]
        hosts = ",".join(f"{m.host}:{m.pg_port}" for m in order)
        return (f"postgresql://{SUPERUSER}:{quote(self.superuser_password)}@{hosts}/{dbname}"
                f"?target_session_attrs=any&connect_timeout={timeout}")
