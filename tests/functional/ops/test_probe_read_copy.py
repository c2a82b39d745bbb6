"""The read-copy probe against a real hot standby of our own small primary: healthy, replay
paused so it falls behind, resumed; a primary named as the read copy; nothing listening."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from obruten.ops.clock import SystemClock
from obruten.ops.findings import Finding
from obruten.ops.probe_database import ReadCopyProbe
from obruten.platform.pgserver import DATABASE, PostgresInstance, pg_bin
from pgtools import free_port, reachable_tempdir, wait_for

SMALL = {"shared_buffers": "32MB", "max_connections": "30"}


@pytest.fixture(scope="module")
def primary_and_standby() -> Iterator[tuple[PostgresInstance, PostgresInstance]]:
    base = reachable_tempdir("obruten-ops-readcopy-")
    primary = PostgresInstance.at(base, free_port(), name="primary")
    standby = PostgresInstance.at(base, free_port(), name="standby")
    try:
        primary.init(SMALL)
        primary.start()
        primary.ensure_database(DATABASE)
        with psycopg.connect(primary.url(), autocommit=True) as c:
            c.execute("CREATE TABLE tick (n int)")
        standby.data_dir.mkdir(mode=0o700)
        primary.user.own(standby.data_dir)
        subprocess.run([pg_bin("pg_basebackup"), "-d", primary.url(), "-D", str(standby.data_dir), "-X", "stream",
                        "-c", "fast", "-R"], check=True, capture_output=True, env=primary.user.env(),
                       **primary.user.popen_kwargs())
        standby.password_file.write_text(primary.password)
        with open(standby.data_dir / "postgresql.auto.conf", "a") as fh:
            fh.write(f"\nport = {standby.port}\n")
        standby.start()
        yield primary, standby
    finally:
        standby.stop(mode="immediate")
        primary.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


def _until(check: Callable[[], Finding], want: str, limit_s: float = 30) -> Finding:
    """Probe until the status is ``want`` (replication is asynchronous); fails after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while True:
        finding = check()
        if finding.status == want or time.monotonic() > deadline:
            return finding
        time.sleep(0.2)


def test_standby_in_step_falls_behind_when_replay_pauses_and_catches_up(primary_and_standby) -> None:
    primary, standby = primary_and_standby
    probe = ReadCopyProbe(standby.url(), lag_warn_s=1.0, lag_down_s=3600)
    check = lambda: probe.check(SystemClock().now())[0]  # noqa: E731
    with psycopg.connect(primary.url(), autocommit=True) as p, psycopg.connect(standby.url(), autocommit=True) as s:
        p.execute("INSERT INTO tick VALUES (1)")
        _replayed(s, 1)
        ok = check()
        assert (ok.target, ok.status, ok.value) == ("read_copy", "ok", 0.0), ok.detail
        s.execute("SELECT pg_wal_replay_pause()")
        try:
            p.execute("INSERT INTO tick VALUES (2)")
            behind = _until(check, "slow")
            assert behind.status == "slow" and behind.value is not None and behind.value >= 1.0, behind.detail
            assert behind.detail.startswith("replay lag")
        finally:
            s.execute("SELECT pg_wal_replay_resume()")
        caught_up = _until(check, "ok")
        assert caught_up.status == "ok", caught_up.detail


def _replayed(standby: psycopg.Connection, rows: int, limit_s: float = 30) -> None:
    wait_for(lambda: standby.execute("SELECT count(*) FROM tick").fetchone()[0] >= rows, limit_s,  # type: ignore[index]
             "the standby to replay the insert")


def test_a_primary_is_not_a_read_copy_and_silence_is_down(primary_and_standby) -> None:
    primary, _ = primary_and_standby
    [warn] = ReadCopyProbe(primary.url()).check(SystemClock().now())
    assert (warn.status, warn.detail) == ("warn", "answers, but is not a standby")
    [down] = ReadCopyProbe(f"postgresql://x:y@127.0.0.1:{free_port()}/obruten", timeout_s=1).check(SystemClock().now())
    assert down.status == "down" and down.value is None and "OperationalError" in down.detail
