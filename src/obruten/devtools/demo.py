"""The demo's side processes: the ward-kit builder and one ward PC's agent, beside the journal and
the ops service, so ``make demo`` shows the whole chain on one machine (kits every five minutes,
the agent's offline page, downtime documentation and its post-registration).

Each process is started the way an operator would start it (the ``obruten`` CLI), in a session
(process group) of its own, and logs to ``var/log/<name>.log``.

Stopping (``Stopping`` and ``stop()``): the first Ctrl-C (or SIGTERM) stops everything, the side
processes' groups and the embedded PostgreSQL at once, each terminated and, past a deadline,
killed; a further Ctrl-C never interrupts that, it only hurries it (kill now, PostgreSQL's
immediate shutdown), so no process is ever left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import psycopg

from obruten.platform.pgserver import PostgresInstance, process_alive
from obruten.platform.progress import Say
from obruten.status.ledger import default_trusted_keys
from obruten.wardkit.tokens import agent_token

DEMO_NURSE = "sjukskoterska"


def _cli(var_dir: Path) -> list[str]:
    return [sys.executable, "-c", "from obruten.cli import main; main()", "--var-dir", str(var_dir)]


def _spawn(args: list[str], log_name: str, var_dir: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    log_file = var_dir / "log" / f"{log_name}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)


def demo_ward(url: str) -> str | None:
    """The ward of the demo nurse (so the demo login can review what the ward PC documented)."""
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SELECT su.unit_id FROM staff s JOIN staff_unit su ON su.staff_id = s.id"
                           " WHERE s.username = %s ORDER BY su.unit_id LIMIT 1", (DEMO_NURSE,)).fetchone()
    return row[0] if row else None


def spawn_kit_builder(var_dir: Path, url: str, every_min: float = 5) -> subprocess.Popen:
    """``obruten wardkit run``: every unit's kit now, then every ``every_min`` minutes."""
    return _spawn([*_cli(var_dir), "--database-url", url, "wardkit", "run", "--every", f"{every_min:g}"],
                  "wardkit", var_dir)


def spawn_ward_agent(var_dir: Path, unit: str, journal: str, status: str, port: int = 8020) -> subprocess.Popen:
    """A ward PC's agent for ``unit`` with its own state under ``var_dir/ward-pc``: it trusts the
    kit builder's key and the status service's key, as a configured ward PC would."""
    # the kit builder brings reportlab and PIL: ~120 ms at import (python -X importtime), which
    # `obruten --help` would pay through devtools.cli if this import were at the top
    from obruten.wardkit.build import signing_key

    pc = var_dir / "ward-pc"
    kit_keys = pc / "agent" / "trusted_keys"
    kit_keys.parent.mkdir(parents=True, exist_ok=True)
    kit_keys.write_text(signing_key(var_dir).trusted_line() + "\n")
    status_keys = default_trusted_keys(var_dir)  # written by status.cli.wire_demo
    env = {**os.environ, "OBRUTEN_AGENT_TOKEN": agent_token(var_dir, unit)}
    return _spawn([*_cli(pc), "ward-agent", "--unit", unit, "--journal-url", journal, "--status-url", status,
                   "--status-trusted-keys", str(status_keys), "--port", str(port), "--every", "30"],
                  "ward-agent", var_dir, env)


class Stopping:
    """The demo's SIGINT/SIGTERM handler: the first signal raises KeyboardInterrupt (stop now), every
    later one only sets ``hurry`` and returns, so the stopping itself is never interrupted."""

    def __init__(self) -> None:
        self.begun = False
        self.hurry = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.begun:
            self.hurry.set()
            return
        self.begun = True
        raise KeyboardInterrupt

    def begin(self) -> None:
        """From now on a signal hurries the stopping instead of interrupting it."""
        self.begun = True


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    # the leader is our child and not yet reaped, so its pid (the group's id) cannot have been reused
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _postmaster_signal(pg: PostgresInstance, sig: int) -> int | None:
    pid = pg.postmaster_pid()
    if pid is not None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return None
    return pid


def stop(procs: list[subprocess.Popen], pg: PostgresInstance | None, within_s: float,
         hurry: threading.Event, say: Say) -> str:
    """Stop the side processes (their whole groups) and PostgreSQL together: SIGTERM and a fast
    shutdown first; whatever still runs after ``within_s`` seconds, or once ``hurry`` is set, is
    killed (PostgreSQL: immediate shutdown, crash-safe by its WAL). Returns a sentence."""
    started = time.monotonic()
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    postmaster = _postmaster_signal(pg, signal.SIGINT) if pg else None  # SIGINT: PostgreSQL's fast shutdown

    def running() -> list[int]:
        pids = [p.pid for p in procs if process_alive(p.pid)]
        return pids + ([postmaster] if postmaster is not None and process_alive(postmaster) else [])

    deadline = started + within_s
    while running() and time.monotonic() < deadline and not hurry.is_set():
        time.sleep(0.05)
    late = running()
    for proc in procs:  # the groups' other members too (the kit builder's worker processes)
        _signal_group(proc, signal.SIGKILL)
    if postmaster is not None and process_alive(postmaster):
        _postmaster_signal(pg, signal.SIGQUIT)  # type: ignore[arg-type]  # immediate shutdown
        while process_alive(postmaster) and time.monotonic() < deadline + 5:
            time.sleep(0.05)
    for proc in procs:
        proc.wait()
    seconds = time.monotonic() - started
    if late:
        say(f"Stopped in {seconds:.1f} s; {len(late)} process(es) did not stop in time and were killed "
            f"(pids {', '.join(map(str, late))}); their logs are under var/log")
    return f"stopped in {seconds:.1f} s"
