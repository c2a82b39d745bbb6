"""Order numbers never repeat: across a clean restart, a crash, a point-in-time restore, and two
histories that diverged (a restore beside the old cluster, both on the same timeline number).

The restore case is the 2008 failure: the database was restored to an earlier point, the series
restarted, and numbers already printed on lab samples were handed out again.
"""

from __future__ import annotations

import shutil
import subprocess

import psycopg
import pytest

from obruten.platform.pgserver import DATABASE, PostgresInstance, pg_bin
from obruten.record.schema import migrate
from pgtools import free_port, reachable_tempdir, wait_for


def in_recovery(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as c:
        return bool(c.execute("SELECT pg_is_in_recovery()").fetchone()[0])  # type: ignore[index]


def issue(url: str, n: int) -> list[str]:
    with psycopg.connect(url, autocommit=True) as c:
        return [c.execute("SELECT next_order_number('lab')").fetchone()[0] for _ in range(n)]


@pytest.mark.fault
def test_restart_crash_and_restore_never_repeat_a_number() -> None:
    base = reachable_tempdir("obruten-orders-")
    archive = base / "archive"
    archive.mkdir()
    primary = PostgresInstance.at(base, free_port(), name="primary")
    primary.user.own(archive)
    primary.init({"archive_mode": "on", "archive_command": f"'cp %p {archive}/%f'"})
    restored = PostgresInstance.at(base, free_port(), name="restored")
    try:
        primary.start()
        primary.ensure_database(DATABASE)
        migrate(primary.url())
        issued = issue(primary.url(), 5)

        primary.stop()
        primary.start()
        issued += issue(primary.url(), 5)

        primary.kill()  # a crash: no shutdown checkpoint
        primary.start()
        issued += issue(primary.url(), 5)

        backup = base / "basebackup"
        backup.mkdir(mode=0o700)
        primary.user.own(backup)
        subprocess.run([pg_bin("pg_basebackup"), "-d", primary.url(), "-D", str(backup), "-X", "stream", "-c", "fast"],
                       check=True, capture_output=True, **primary.user.popen_kwargs(), env=primary.user.env())
        with psycopg.connect(primary.url(), autocommit=True) as c:
            c.execute("SELECT pg_create_restore_point('before_lost_work')")
        lost = issue(primary.url(), 5)  # handed out after the restore point: labels already printed
        with psycopg.connect(primary.url(), autocommit=True) as c:
            c.execute("SELECT pg_switch_wal()")
            wait_for(lambda: c.execute("SELECT last_failed_wal IS NULL AND archived_count > 0 FROM pg_stat_archiver")
                     .fetchone()[0] is True, 30, "the WAL segment to be archived")
        primary.stop()

        shutil.copytree(backup, restored.data_dir)
        restored.password_file.write_text(primary.password)
        with open(restored.data_dir / "postgresql.auto.conf", "a") as fh:
            fh.write(f"\nport = {restored.port}\nrestore_command = 'cp {archive}/%f %p'\n"
                     "recovery_target_name = 'before_lost_work'\nrecovery_target_action = 'promote'\n"
                     "archive_mode = off\n")
        (restored.data_dir / "recovery.signal").touch()
        restored.user.own(restored.data_dir)
        restored.start()
        wait_for(lambda: not in_recovery(restored.url()), 60, "the restored server to finish recovery")
        after = issue(restored.url(), 10)

        # The way it failed in production: the old cluster keeps running beside the restored
        # instance and fails over once, so both histories are now on timeline 2.
        (primary.data_dir / "standby.signal").touch()
        primary.user.own(primary.data_dir / "standby.signal")
        primary.start()
        with psycopg.connect(primary.url(), autocommit=True) as c:
            c.execute("SELECT pg_promote(wait => true)")
        old_history = issue(primary.url(), 10)
        restored_history = issue(restored.url(), 60)
    finally:
        restored.stop(mode="immediate")
        primary.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)

    everything = issued + lost + after
    assert len(set(everything)) == len(everything), "an order number was handed out twice"
    timelines = {n.split("-")[1].rstrip("ABCDEFGHJKLMNPQR") for n in after}
    assert timelines == {"2"} and {n.split("-")[1].rstrip("ABCDEFGHJKLMNPQR") for n in issued + lost} == {"1"}
    # the number part alone did fall back (that is what the timeline series protects against)
    assert min(int(n.split("-")[2]) for n in after) <= max(int(n.split("-")[2]) for n in lost)

    # two divergent histories on the same timeline number, with overlapping number parts …
    def timeline(n: str) -> str:
        return n.split("-")[1].rstrip("ABCDEFGHJKLMNPQR")

    assert {timeline(n) for n in old_history} == {timeline(n) for n in restored_history} == {"2"}
    assert {n.split("-")[2] for n in old_history} & {n.split("-")[2] for n in restored_history}
    # … never issue the same order number
    both = everything + old_history + restored_history
    assert len(set(both)) == len(both), "two histories handed out the same order number"
