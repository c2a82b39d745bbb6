"""The demo's side processes: the ward-kit builder and one ward PC's agent, beside the journal and
the ops service, so ``make demo`` shows the whole chain on one machine (kits every five minutes,
the agent's offline page, downtime documentation and its post-registration).

Each process is started the way an operator would start it (the ``obruten`` CLI) and logs to
``var/log/<name>.log``; the caller stops them with ``stop()``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psycopg

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
    import os

    from obruten.status.ledger import default_trusted_keys
    from obruten.wardkit.build import signing_key
    from obruten.wardkit.tokens import agent_token

    pc = var_dir / "ward-pc"
    kit_keys = pc / "agent" / "trusted_keys"
    kit_keys.parent.mkdir(parents=True, exist_ok=True)
    kit_keys.write_text(signing_key(var_dir).trusted_line() + "\n")
    status_keys = default_trusted_keys(var_dir)  # written by status.cli.wire_demo
    env = {**os.environ, "OBRUTEN_AGENT_TOKEN": agent_token(var_dir, unit)}
    return _spawn([*_cli(pc), "ward-agent", "--unit", unit, "--journal-url", journal, "--status-url", status,
                   "--status-trusted-keys", str(status_keys), "--port", str(port), "--every", "30"],
                  "ward-agent", var_dir, env)


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
