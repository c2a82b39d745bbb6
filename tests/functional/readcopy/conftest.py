"""A primary with a seeded region, a streaming hot standby of it, the journal on the primary (uvicorn
thread) and a read copy on the standby (`obruten serve --read-copy`, its own process)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from obruten.devtools import seed
from obruten.platform import config as config_mod
from obruten.platform.pgserver import DATABASE, PostgresInstance
from obruten.readcopy.standby import create_standby
from obruten.record.app import create_app
from obruten.record.schema import migrate
from pgtools import free_port, reachable_tempdir, wait_for

SECRET = "read-copy-test-secret-" + "y" * 40
OBRUTEN = str(Path(sys.executable).parent / "obruten")


@dataclass
class Site:
    base: Path
    primary: PostgresInstance
    standby: PostgresInstance
    journal: str  # base URL of the journal on the primary
    read_copy: str  # base URL of the read copy
    read_copy_var: Path
    read_copy_proc: subprocess.Popen[bytes]


def _wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    wait_for(lambda: httpx.get(url, timeout=2).status_code < 500, timeout, f"{url} to answer", proc=proc,
             ignore=(httpx.HTTPError,))


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    base = reachable_tempdir("obruten-readcopy-")
    primary = PostgresInstance.at(base, free_port(), name="primary")
    primary.init()
    primary.start()
    primary.ensure_database(DATABASE)
    migrate(primary.url())
    seed.generate(primary.url(), 400, seed=7)
    standby = create_standby(primary, base, free_port())

    cfg = config_mod.load(environ={}, var_dir=base / "journal-var", secret_key=SECRET)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(cfg, primary.url()), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    rc_var = base / "read-copy-var"
    rc_port = free_port()
    env = {**os.environ, "OBRUTEN_SECRET_KEY": SECRET, "OBRUTEN_READ_COPY_STALE_SECONDS": "3"}
    proc = subprocess.Popen([OBRUTEN, "--var-dir", str(rc_var), "serve", "--read-copy", "--database-url",
                             standby.url(), "--primary-url", primary.url(), "--port", str(rc_port)],
                            env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/v1/health")
        _wait_http(f"http://127.0.0.1:{rc_port}/api/v1/health", proc)
        yield Site(base, primary, standby, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{rc_port}", rc_var, proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        server.should_exit = True
        thread.join(timeout=10)
        standby.stop(mode="immediate")
        primary.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)
