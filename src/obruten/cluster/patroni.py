"""Patroni for each member: its configuration, and starting, stopping and killing its processes.

Patroni runs as the service user with the virtual environment's Python (Debian's /usr/bin/python3,
readable by that user). Each member gets its own YAML file (0600, owned by the service user, it
holds passwords), its own log, a pid file, and a Raft data directory.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from obruten.backup import archive, wal_receiver
from obruten.cluster.topology import REPLICATION_USER, SCOPE, Member, Topology
from obruten.platform import events
from obruten.platform.errors import ObrutenError
from obruten.platform.pgserver import SUPERUSER, bin_dir, process_alive
from obruten.platform.privileges import ServiceUser, check_reachable, service_user

# Timing agreed for the single-machine cluster (ttl >= loop_wait + 2 * retry_timeout).
TTL, LOOP_WAIT, RETRY_TIMEOUT = 20, 2, 5
SYNCHRONOUS_MODE = "quorum"  # ADR 0011: "on" left /sync empty while the sync role moved back
# No /dev/watchdog on a development machine: "off" here. Production sets "required" (ADR 0051,
# docs/operations.md, deploy/patroni-production.yml): Patroni then refuses to lead without a
# watchdog it can arm, and a Patroni that stops renewing its leader lock has its host reset.
WATCHDOG_MODE = "off"


class PatroniError(ObrutenError, RuntimeError):
    """A member's Patroni could not be started or stopped; the message says what to do next."""


def render(topo: Topology, m: Member, promotable: bool = False) -> dict[str, object]:
    """The Patroni configuration of one member, as a dict (written as YAML). ``promotable`` lifts
    the read copy's ``nofailover`` tag (an operator's explicit failover to it)."""
    voters = [f"{v.host}:{v.raft_port}" for v in topo.members if v.voter]
    raft: dict[str, object] = {"data_dir": str(topo.root / "raft" / m.name),
                               "partner_addrs": [a for a in voters if a != f"{m.host}:{m.raft_port}"]}
    if m.voter:
        raft["self_addr"] = f"{m.host}:{m.raft_port}"
    recovery_conf: dict[str, str] = {"restore_command": archive.restore_command(topo.wal_archive)}
    if m.kind == "lagged-copy":
        recovery_conf["recovery_min_apply_delay"] = topo.lag_delay
    dcs: dict[str, object] = {
        "ttl": TTL, "loop_wait": LOOP_WAIT, "retry_timeout": RETRY_TIMEOUT,
        "maximum_lag_on_failover": 1024 * 1024,
        **sync_settings(topo),
        "postgresql": {
            "use_pg_rewind": True,
            "use_slots": True,
            "parameters": {
                "wal_level": "replica", "hot_standby": "on", "wal_log_hints": "on",
                "max_connections": 100, "max_wal_senders": 10, "max_replication_slots": 10,
                "wal_keep_size": "256MB", "max_wal_size": "512MB",
                "archive_mode": "on", "archive_command": archive.archive_command(topo.backup_root),
                "archive_timeout": 30,
                # on only on the primary, turned on by the role hook (obruten.cluster.role_hook)
                "summarize_wal": "off", "track_commit_timestamp": "on",
                "hot_standby_feedback": "off",
                "wal_receiver_status_interval": "1s",
            },
        },
    }
    return {
        "scope": SCOPE,
        "name": m.name,
        "log": {"level": "INFO", "format": "%(asctime)s %(levelname)s: %(message)s"},
        "restapi": {"listen": f"{m.host}:{m.rest_port}", "connect_address": f"{m.host}:{m.rest_port}"},
        "raft": raft,
        "bootstrap": {
            "dcs": dcs,
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums",
                       {"auth-host": "scram-sha-256"}, {"auth-local": "scram-sha-256"}],
        },
        "postgresql": {
            # a member in its own network namespace also listens on that namespace's loopback (the role hook)
            "listen": f"127.0.0.1:{m.pg_port}" if m.host == "127.0.0.1" else f"127.0.0.1,{m.host}:{m.pg_port}",
            "connect_address": f"{m.host}:{m.pg_port}",
            "data_dir": str(topo.data_dir(m)),
            "bin_dir": str(bin_dir()),
            "pgpass": str(topo.run_dir() / f"{m.name}.pgpass"),
            "authentication": {
                "superuser": {"username": SUPERUSER, "password": topo.passwords[SUPERUSER]},
                "replication": {"username": REPLICATION_USER, "password": topo.passwords[REPLICATION_USER]},
            },
            "parameters": {
                "unix_socket_directories": str(topo.run_dir()),
                "shared_buffers": "128MB",
                "password_encryption": "scram-sha-256",
                "logging_collector": "on",
                "log_directory": str(topo.log_dir() / f"{m.name}-postgres"),
                "log_filename": "postgresql-%a.log",
                "log_min_messages": "warning",
                "log_line_prefix": "%m [%p] ",
                "timezone": "UTC", "log_timezone": "UTC",
            },
            "pg_hba": [
                f"host replication {REPLICATION_USER} 127.0.0.1/32 scram-sha-256",
                "host all all 127.0.0.1/32 scram-sha-256",
                "local all all scram-sha-256",
                *_namespace_hba(topo),
            ],
            "recovery_conf": recovery_conf,
            "basebackup": [{"checkpoint": "fast"}],
            "callbacks": {action: role_hook_command(topo, m) for action in ("on_start", "on_role_change")},
        },
        "watchdog": {"mode": WATCHDOG_MODE},
        "tags": m.tags(promotable),
    }


def _namespace_hba(topo: Topology) -> list[str]:
    """pg_hba lines for members on their own addresses (the partition drill's layout): their /24s."""
    nets = sorted({m.host.rsplit(".", 1)[0] + ".0/24" for m in topo.members if m.host != "127.0.0.1"})
    return [line for net in nets for line in (f"host replication {REPLICATION_USER} {net} scram-sha-256",
                                              f"host all all {net} scram-sha-256")]


def role_hook_command(topo: Topology, m: Member) -> str:
    """Patroni's on_role_change callback (``obruten.cluster.role_hook``): wakes the WAL summarizer
    during a promotion and records ``cluster.promoted``."""
    args = [sys.executable, "-m", "obruten.cluster.role_hook", "--data-dir", str(topo.data_dir(m)),
            "--member", m.name, "--port", str(m.pg_port), "--passfile", str(hook_passfile(topo))]
    if topo.events_dir:
        args += ["--events-dir", topo.events_dir]
    return shlex.join(args)


def hook_passfile(topo: Topology) -> Path:
    return topo.run_dir() / "role-hook.pgpass"


def _write_hook_passfile(topo: Topology, user: ServiceUser) -> None:
    path = hook_passfile(topo)
    path.write_text(f"127.0.0.1:*:*:{SUPERUSER}:{topo.superuser_password}\n")
    path.chmod(0o600)
    user.own(path)


def _give_events_file(topo: Topology, user: ServiceUser) -> None:
    """The role hook runs as the service user: let it append to the system-event file."""
    if not topo.events_dir or user.is_self:
        return

    path = events.events_file(Path(topo.events_dir))
    try:
        check_reachable(user, path)
    except PermissionError:
        return  # the hook then reports on stderr (Patroni's log); everything else still records events
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)
    os.chown(path, user.uid, os.stat(path).st_gid)


def write_config(topo: Topology, m: Member, promotable: bool = False) -> bool:
    """Write the member's YAML; a running Patroni re-reads it (SIGHUP) when it changed.
    Returns whether it changed."""
    path = topo.config_file(m)
    text = yaml.safe_dump(render(topo, m, promotable), sort_keys=False)
    changed = not path.exists() or path.read_text() != text
    if changed:
        path.write_text(text)
        path.chmod(0o600)
        user_of(topo).own(path)
        if (pid := patroni_pid(topo, m)) is not None:
            os.kill(pid, signal.SIGHUP)
    return changed


def sync_settings(topo: Topology) -> dict[str, object]:
    """Cluster-wide synchronous replication settings (ADR 0011): quorum commit, so the /sync key
    moves between standbys without ever naming none; commits wait for ANY 1 eligible standby and
    for the backup store's WAL receiver, whose permanent slot Patroni keeps on every member
    (ADR 0045, ``obruten.cluster.backup_quorum``)."""
    return {"synchronous_mode": SYNCHRONOUS_MODE, "synchronous_mode_strict": topo.strict_sync,
            "synchronous_node_count": 1, "slots": {wal_receiver.SLOT: {"type": "physical"}}}


def user_of(topo: Topology) -> ServiceUser:
    return service_user(topo.user_name)


def prepare(topo: Topology) -> None:
    """Create every directory and configuration file the members need."""
    user = user_of(topo)
    check_reachable(user, topo.root / "x")
    check_reachable(user, Path(sys.executable))
    for d in (topo.root / "data", topo.root / "raft", topo.root / "patroni", topo.log_dir(), topo.run_dir()):
        d.mkdir(parents=True, exist_ok=True)
    for m in topo.members:
        (topo.root / "raft" / m.name).mkdir(exist_ok=True)
        (topo.log_dir() / f"{m.name}-postgres").mkdir(exist_ok=True)
        write_config(topo, m)
    archive.prepare(topo.backup_root, user)
    _give_events_file(topo, user)
    _write_hook_passfile(topo, user)
    user.own(topo.root / "data")
    for name in ("raft", "patroni", "log", "run"):
        user.own(topo.root / name)
    topo.root.chmod(0o755)
    (topo.root / "data").chmod(0o700)


def _pid_file(topo: Topology, m: Member) -> Path:
    return topo.root / "state" / f"{m.name}.patroni.pid"


def patroni_pid(topo: Topology, m: Member) -> int | None:
    try:
        pid = int(_pid_file(topo, m).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if process_alive(pid) else None


def postmaster_pid(topo: Topology, m: Member) -> int | None:
    try:
        pid = int((topo.data_dir(m) / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError, PermissionError):
        return None
    return pid if process_alive(pid) else None


def start(topo: Topology, m: Member) -> int:
    """Start the member's Patroni (which starts or creates its PostgreSQL); return its pid."""
    pid = patroni_pid(topo, m)
    if pid is not None:
        return pid
    user = user_of(topo)
    patroni = Path(sys.executable).parent / "patroni"
    if not patroni.exists():
        raise PatroniError(f"Patroni is not installed in {patroni.parent}; run `make setup`")
    # Patroni itself, with the backup store's WAL receiver counted in the commit quorum (ADR 0045)
    log = topo.log_dir() / f"{m.name}-patroni.log"
    log.touch(exist_ok=True)
    user.own(log)
    (topo.root / "state").mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "obruten.cluster.backup_quorum", str(topo.config_file(m))]
    with log.open("ab") as out:
        if m.netns:  # the partition drill's layout: enter the namespace as root, then drop to the user (exec, same pid)
            argv = ["ip", "netns", "exec", m.netns, "setpriv", f"--reuid={user.uid}", f"--regid={user.gid}",
                    "--clear-groups", "--", *argv]
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=str(topo.run_dir()), env=user.env(), start_new_session=True)
        else:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=str(topo.run_dir()), env=user.env(), start_new_session=True,
                                    **user.popen_kwargs())
    _pid_file(topo, m).write_text(str(proc.pid))
    # Patroni outlives this call (it is found again by its pid file): a thread waits for it, so it
    # is reaped the moment it exits (no zombie that looks alive) and its Popen is never dropped
    # while it runs
    threading.Thread(target=proc.wait, name=f"reap-patroni-{m.name}", daemon=True).start()
    return proc.pid


def kill(topo: Topology, m: Member, patroni: bool = True, postgres: bool = True) -> list[int]:
    """SIGKILL the member's Patroni and/or postmaster (a crash); return the pids killed."""
    pids = []
    if patroni and (pid := patroni_pid(topo, m)) is not None:
        pids.append(pid)
    if postgres and (pid := postmaster_pid(topo, m)) is not None:
        pids.append(pid)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def stop(topo: Topology, m: Member, timeout: float = 60) -> str:
    """Stop Patroni (it shuts PostgreSQL down cleanly); kill both if that takes too long."""
    pid = patroni_pid(topo, m)
    if pid is None:
        if (pm := postmaster_pid(topo, m)) is not None:
            os.kill(pm, signal.SIGINT)  # fast shutdown of an orphaned postmaster
            _wait_gone([pm], timeout)
            return f"{m.name}: Patroni was not running; stopped its orphaned PostgreSQL"
        return f"{m.name}: not running"
    os.kill(pid, signal.SIGTERM)
    if _wait_gone([pid], timeout) and postmaster_pid(topo, m) is None:
        return f"{m.name}: stopped"
    killed = kill(topo, m)
    _wait_gone(killed, 10)
    return f"{m.name}: did not stop within {timeout:.0f} s, killed {killed}"


def _wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(process_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False
