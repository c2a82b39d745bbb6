"""What the benchmarks share: log lines, ports and temp dirs, CPU accounting of process trees,
percentiles, seeding progress, the journal server as a subprocess, results files and clean-up.
Imported as ``_harness`` (the bench scripts put this folder on ``sys.path``)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from obruten.platform.pgserver import PostgresInstance, children_of

_TICKS = os.sysconf("SC_CLK_TCK")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable_tempdir(prefix: str) -> Path:
    """A temp dir the PostgreSQL service user can enter (as in tests/conftest.py)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(path, 0o755)
    return path


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_cpu(root: int | None) -> float:
    """CPU seconds used so far by ``root`` and its live descendants."""
    if root is None:
        return 0.0
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += _proc_cpu(pid)
        todo.extend(children_of(pid))
    return total


def pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def seed_progress() -> Callable[[str, int, int], None]:
    last: dict[str, float] = {}

    def report(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage not in last or done >= total or now - last[stage] > 5:
            last[stage] = now
            say(f"  seed {stage:<26} {done:>10,} / {total:,}")

    return report


def start_server(url: str, var_dir: Path, port: int, workers: int, pool_size: int | None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update({"OBRUTEN_SERVE_DATABASE_URL": url, "OBRUTEN_VAR_DIR": str(var_dir),
                "OBRUTEN_SECRET_KEY": secrets.token_urlsafe(48)})
    if pool_size is not None:
        env["OBRUTEN_POOL_SIZE"] = str(pool_size)
    code = ("import os, sys; from obruten.platform import config; from obruten.record.cli import serve_journal; "
            "serve_journal(config.load(environ=os.environ, http_host='127.0.0.1', http_port=int(sys.argv[1]), "
            "workers=int(sys.argv[2])), os.environ['OBRUTEN_SERVE_DATABASE_URL'])")
    return subprocess.Popen([sys.executable, "-c", code, str(port), str(workers)], env=env,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def start_read_copy(standby_url: str, var_dir: Path, port: int, workers: int,
                    pool_size: int | None) -> subprocess.Popen[bytes]:
    """``obruten serve --read-copy`` on ``standby_url`` (its own process group, a fresh secret)."""
    env = {**os.environ, "OBRUTEN_SECRET_KEY": secrets.token_urlsafe(48)}
    if pool_size is not None:
        env["OBRUTEN_POOL_SIZE"] = str(pool_size)
    obruten = str(Path(sys.executable).parent / "obruten")
    return subprocess.Popen([obruten, "--var-dir", str(var_dir), "serve", "--read-copy", "--database-url",
                             standby_url, "--port", str(port), "--workers", str(workers)],
                            env=env, stdin=subprocess.DEVNULL, start_new_session=True)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def write_results(path: Path, payload: dict[str, object]) -> None:
    """The run's figures as JSON beside the printed table (``bench/results/`` is not committed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    say(f"results written to {path}")


def clean_up(server: subprocess.Popen[bytes] | None, instances: Iterable[PostgresInstance | None],
             *folders: Path) -> None:
    """Stop the served journal and the PostgreSQL instances, remove the scratch folders; never raises."""
    if server is not None:
        stop_server(server)
    for instance in instances:
        if instance is not None:
            try:
                instance.stop(mode="immediate")
            except Exception as exc:  # noqa: BLE001 - keep cleaning up
                say(f"could not stop PostgreSQL: {exc}")
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def exit_on_sigterm() -> None:
    """SIGTERM runs the caller's ``finally`` (stop the servers) instead of killing the bench outright."""

    def _terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)


def start_seeded(pg: PostgresInstance, patients: int) -> dict[str, int]:
    """Create, start and migrate ``pg`` and seed a synthetic region of ``patients``; returns the counts."""
    from obruten.devtools import seed
    from obruten.platform.pgserver import DATABASE
    from obruten.record.schema import migrate

    say(f"PostgreSQL in {pg.data_dir} on port {pg.port}")
    pg.init()
    pg.start()
    pg.ensure_database(DATABASE)
    migrate(pg.url())
    started = time.monotonic()
    say(f"seeding {patients:,} patients …")
    counts = seed.generate(pg.url(), patients, progress=seed_progress())
    say(f"seeded in {time.monotonic() - started:.0f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return counts
