"""`obruten demo` stops everything within 5 s of Ctrl-C, and a second Ctrl-C orphans nothing.

A real `obruten demo --patients 100` (the smallest region the seed makes) runs in a subprocess on free ports, with its var dir under
pytest's own temporary directory (0700, root's, as a checkout in root's home is): the journal, the
ops service, the kit builder, the ward PC's agent and the embedded PostgreSQL. Once the journal
answers, the test sends SIGINT, a second SIGINT 0.5 s later, and requires that the whole process
tree is gone within 5 s.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from obruten.platform.pgserver import PostgresInstance, children_of, process_alive
from pgtools import free_port

pytestmark = pytest.mark.fault

STOP_WITHIN_S = 5.0


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        for child in children_of(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _wait_until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f} s"
        time.sleep(0.1)


def test_two_ctrl_c_stop_the_whole_demo_within_5_s(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)  # a checkout in root's home: the service user cannot enter it
    var_dir = home / "var"
    port, ops_port, ward_port, pg_port = free_port(), free_port(), free_port(), free_port()
    pg = PostgresInstance.at(var_dir, pg_port)
    env = {**os.environ, "OBRUTEN_PG_PORT": str(pg_port)}
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from obruten.cli import main; main()", "--var-dir",
                                 str(var_dir), "demo", "--patients", "100", "--port", str(port), "--ops-port",
                                 str(ops_port), "--ward-pc-port", str(ward_port)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    tree: set[int] = set()
    try:
        def up() -> bool:
            assert proc.poll() is None, log.read_text()
            tree.update(_descendants(proc.pid))
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_until(up, 180, "the journal answers")

        def all_started() -> bool:  # ops, kit builder and ward agent are spawned before the journal serves
            tree.update(_descendants(proc.pid))
            return len(children_of(proc.pid)) >= 3

        _wait_until(all_started, 30, "the side processes run")
        postmaster = pg.postmaster_pid()
        assert postmaster is not None and process_alive(postmaster), log.read_text()
        tree.update({postmaster, *_descendants(postmaster)})

        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        time.sleep(0.5)  # the operator's second Ctrl-C, half a second after the first
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"obruten demo still runs {STOP_WITHIN_S:.0f} s after Ctrl-C:\n{log.read_text()}")
        _wait_until(lambda: not any(process_alive(p) for p in tree),
                    max(0.1, STOP_WITHIN_S - (time.monotonic() - started)), "every process of the demo is gone")
        elapsed = time.monotonic() - started
        print(f"demo stopped in {elapsed:.2f} s ({len(tree)} processes)")
        assert proc.returncode in (0, 1, 130, -signal.SIGINT), log.read_text()
    finally:
        for pid in [proc.pid, *tree]:
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        if pg.moved:
            shutil.rmtree(pg.data_dir.parent, ignore_errors=True)
