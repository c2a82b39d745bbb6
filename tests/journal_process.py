"""The journal served by uvicorn in its own process, so tests can SIGKILL it and start it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from pgtools import free_port

SECRET = "downtime-test-secret-" + "z" * 40


class JournalProcess:
    def __init__(self, db_url: str, var_dir: Path) -> None:
        self.db_url, self.var_dir, self.port = db_url, var_dir, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "OBRUTEN_SERVE_DATABASE_URL": self.db_url, "OBRUTEN_VAR_DIR": str(self.var_dir),
               "OBRUTEN_SECRET_KEY": SECRET}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "obruten.record.app:create_from_env", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"], env=env)
        wait_for(lambda: _healthy(self.base), "the journal process to answer /api/v1/health")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(base + "/api/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(condition, what: str, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


