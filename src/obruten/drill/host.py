"""A member's whole host, as a process set: found, frozen and killed together (host loss).

A real host loss takes every process of the machine at once: Patroni, the postmaster and all its
children (backends, walsender, walwriter, checkpointer, archiver …), a ``pg_rewind`` or archive
command under way, ``pg_receivewal`` if any, and whatever else was started for that site. On this
one machine a member's "host" is:

* the process trees under its Patroni and its postmaster (found from their pid files), with every
  process in their sessions or process groups (Patroni starts the postmaster in a session of its
  own; an orphaned child keeps its session);
* any process whose command line names the member's data directory or Patroni configuration
  (a postmaster whose Patroni died, an orphaned ``pg_rewind``);
* any process started with ``OBRUTEN_HOST=<member>`` in its environment (how a journal or
  read-copy process bound to that site is marked as living on it).

``kill_host`` first stops every one of them (SIGSTOP, so nothing forks or restarts a child while we
look), then SIGKILLs them all, and repeats until a scan finds none left.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from dataclasses import dataclass

from obruten.cluster import patroni
from obruten.cluster.topology import Member, Topology

HOST_ENV = "OBRUTEN_HOST"


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgrp: int
    sid: int
    state: str
    cmdline: str


def _read(pid: int) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            rest = fh.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (OSError, IndexError):
        return None
    return Proc(pid, int(rest[1]), int(rest[2]), int(rest[3]), rest[0], cmdline)


def processes() -> dict[int, Proc]:
    """Every live (not zombie) process on the machine."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (p := _read(int(entry))) is not None and p.state not in ("Z", "X"):
            found[p.pid] = p
    return found


def _marked(pid: int, member: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return f"{HOST_ENV}={member}".encode() in fh.read().split(b"\0")
    except OSError:
        return False


def _own_lineage() -> set[int]:
    """This process and its ancestors: never part of a member's host, whatever they are called."""
    mine, pid = set(), os.getpid()
    while pid > 1 and pid not in mine:
        mine.add(pid)
        p = _read(pid)
        pid = p.ppid if p else 0
    return mine


def host_pids(topo: Topology, m: Member) -> list[int]:
    """The pids of every process that belongs to ``m``'s host (see the module docstring)."""
    procs = processes()
    paths = [str(topo.data_dir(m)), str(topo.config_file(m))]
    named = re.compile("|".join(re.escape(p) + r"(?![\w.-])" for p in paths))
    roots = {pid for pid in (patroni.patroni_pid(topo, m), patroni.postmaster_pid(topo, m)) if pid is not None}
    mine = _own_lineage()
    chosen = {p.pid for p in procs.values()
              if p.pid in roots or p.sid in roots or p.pgrp in roots or named.search(p.cmdline)
              or _marked(p.pid, m.name)}
    # and every descendant of those
    children: dict[int, list[int]] = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    todo = list(chosen)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in chosen:
                chosen.add(child)
                todo.append(child)
    return sorted(chosen - mine)


def describe(pids: list[int]) -> str:
    """``pid name`` for each, as ``ps`` would show the program."""
    procs = processes()
    return ", ".join(f"{pid} {procs[pid].cmdline.split(' ')[0].rsplit('/', 1)[-1] if pid in procs else '?'}"
                     for pid in pids)


def kill_host(topo: Topology, m: Member, timeout: float = 10.0) -> list[int]:
    """Stop then SIGKILL every process of ``m``'s host until none is left; return every pid killed.

    Raises RuntimeError naming the survivors when some are still alive after ``timeout``.
    """
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        pids = host_pids(topo, m)
        if not pids:
            return killed
        if time.monotonic() > deadline:
            raise RuntimeError(f"{m.name}'s host: still alive after SIGKILL: {describe(pids)}")
        for sig in (signal.SIGSTOP, signal.SIGKILL):  # frozen first: nothing forks or respawns meanwhile
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        killed += [p for p in pids if p not in killed]
        gone_by = time.monotonic() + 2.0
        while time.monotonic() < gone_by and set(pids) & processes().keys():
            time.sleep(0.02)
