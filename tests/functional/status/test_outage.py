"""Fault injection: the journal's PostgreSQL is SIGKILLed; a status message issued through the
ops service with the CLI still reaches the running journal process (its API and its login-page
banner) within 10 s. Everything is a real subprocess."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from obruten.platform.pgserver import DATABASE, PostgresInstance
from obruten.record.schema import migrate
from pgtools import free_port, reachable_tempdir, wait_for

CLI = [sys.executable, "-c", "from obruten.cli import main; main()"]
DISTRIBUTION_S = 10  # R16: every node shows a new message within 10 s
NOT_YET = (httpx.HTTPError,)  # a server that does not answer yet


@pytest.fixture
def world() -> Iterator[dict[str, object]]:
    base = reachable_tempdir("obruten-status-outage-")
    pg = PostgresInstance.at(base / "db", free_port())
    procs: list[subprocess.Popen] = []
    try:
        pg.init()
        pg.start()
        pg.ensure_database(DATABASE)
        migrate(pg.url())
        yield {"base": base, "pg": pg, "procs": procs}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        pg.kill()
        shutil.rmtree(base, ignore_errors=True)


def spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(CLI + args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **env}, start_new_session=True)


@pytest.mark.fault
def test_status_message_reaches_the_journal_with_its_database_killed(world: dict[str, object]) -> None:
    base: Path = world["base"]  # type: ignore[assignment]
    pg: PostgresInstance = world["pg"]  # type: ignore[assignment]
    procs: list[subprocess.Popen] = world["procs"]  # type: ignore[assignment]
    ops_var, journal_var = base / "ops-var", base / "journal-var"

    # the ops service (status service inside), with its own SQLite store
    subprocess.run(CLI + ["--var-dir", str(ops_var), "ops", "seed-demo"], check=True, capture_output=True)
    ops_port = free_port()
    ops_url = f"http://127.0.0.1:{ops_port}"
    ops = spawn(["--var-dir", str(ops_var), "ops", "serve", "--port", str(ops_port), "--journal-url", pg.url()],
                base / "ops.log", {})
    procs.append(ops)
    wait_for(lambda: httpx.get(ops_url + "/healthz").status_code == 200, 60, "ops service up", proc=ops, ignore=NOT_YET)
    trusted = httpx.get(ops_url + "/api/v1/status/key").json()["trusted_line"]
    (journal_var / "status").mkdir(parents=True)
    (journal_var / "status" / "trusted_keys").write_text(trusted + "\n")

    # the journal, following the status service
    port = free_port()
    journal_url = f"http://127.0.0.1:{port}"
    journal = spawn(["--var-dir", str(journal_var), "serve", "--port", str(port)], base / "journal.log",
                    {"OBRUTEN_DATABASE_URL": pg.url(), "OBRUTEN_STATUS_URLS": ops_url, "OBRUTEN_STATUS_POLL_S": "2"})
    procs.append(journal)
    wait_for(lambda: httpx.get(journal_url + "/api/v1/health").status_code == 200, 60, "journal up", proc=journal,
             ignore=NOT_YET)
    assert httpx.get(journal_url + "/api/v1/status").json()["document"] is None

    pg.kill()  # SIGKILL the journal's PostgreSQL
    wait_for(lambda: httpx.get(journal_url + "/api/v1/health", timeout=5).status_code == 503, 30,
             "journal notices its database is gone", proc=journal, ignore=NOT_YET)

    issued = subprocess.run(
        CLI + ["--var-dir", str(base / "cli-var"), "status", "set", "--mode", "reservrutin", "--unit", "S1-AVD10",
               "--headline", "Journaldatabasen har kraschat", "--routine", "Pappersjournal enligt RR-1",
               "--system", "journal", "--next-update", "30m", "--reason", "Databasen borta enligt larm",
               "--ops-url", ops_url, "--user", "tib"],
        env={**os.environ, "OBRUTEN_OPS_PASSWORD": "demo"}, capture_output=True, text=True, timeout=60)
    assert issued.returncode == 0, issued.stderr
    started = time.monotonic()
    version = int(issued.stdout.split()[1])

    def journal_has_it() -> bool:
        doc = httpx.get(journal_url + "/api/v1/status", timeout=2).json()["document"]
        return bool(doc) and doc["version"] == version

    wait_for(journal_has_it, DISTRIBUTION_S, "the journal's API shows the new message", proc=journal, ignore=NOT_YET)
    page = httpx.get(journal_url + "/login", timeout=5).text
    assert 'id="status-banner"' in page and "Journaldatabasen har kraschat" in page
    assert "Pappersjournal enligt RR-1" in page and "S1-AVD10" in page
    print(f"status message v{version} seen on the journal {time.monotonic() - started:.2f} s after issue "
          f"(database killed)")
    assert httpx.get(journal_url + "/api/v1/health", timeout=5).status_code == 503  # still down throughout
