"""The journal served by uvicorn in its own process, so tests can SIGKILL it and start it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from pgtools import free_port, wait_for

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
        wait_for(lambda: _healthy(self.base), 120, "the journal process to answer /api/v1/health", proc=self.proc)

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



