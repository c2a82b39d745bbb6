"""Prove a backup restores: latest backup + WAL into a scratch instance, then check it.

Checks, in order: ``pg_verifybackup`` (manifest and checksums of the restored files),
``pg_amcheck`` (heap and B-tree consistency), and the application's own checks against the
source at the recovery point: row counts and checksums of every entry table, the audit chain
(recomputed by ``obruten.record.audit``), and order-number sequences ahead of every number issued. The result is recorded in the
backup root, where `cluster status` reads it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from obruten.backup import catalog
from obruten.backup.basebackup import primary, run_as_service, switch_and_wait_archived
from obruten.backup.errors import BackupError
from obruten.backup.restore import discard, restore
from obruten.cluster import announce
from obruten.cluster.topology import Topology
from obruten.platform.pgserver import DATABASE, SUPERUSER, pg_bin
from obruten.platform.progress import Say
from obruten.platform.rows import one
from obruten.record import audit

ENTRY_TABLES = ("admission", "note", "diagnosis", "warning", "medication_order", "medication_administration",
                "referral", "referral_result", "emergency_access", "audit_event")


def table_digest(conn: psycopg.Connection, table: str, until: datetime | None) -> tuple[int, str]:
    """Row count and md5 of the rows (in id order), optionally only those committed by ``until``."""
    where = "" if until is None else "WHERE coalesce(pg_xact_commit_timestamp(t.xmin) <= %(until)s, true)"
    row = one(conn.execute(f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t.id)), '') "
                           f"FROM {table} t {where}", {"until": until}).fetchone())
    return int(row[0]), str(row[1])


def sequence_behind(conn: psycopg.Connection) -> int:
    """How many issued order numbers are at or above the sequence's next value (must be 0)."""
    return int(one(conn.execute("""
        WITH s AS (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS v FROM order_number_seq),
             issued AS (SELECT substring(order_number FROM '([0-9]+)$')::bigint AS n FROM referral)
        SELECT count(*) FROM issued, s WHERE issued.n > s.v""").fetchone())[0])


def _table_exists(conn: psycopg.Connection, table: str) -> bool:
    return one(conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone())[0]


def run(topo: Topology, say: Say, port: int | None = None) -> catalog.Verification:
    """Verify the latest backup; record and return the result (never raises on a failed check)."""
    t0 = time.monotonic()
    backups = catalog.backups(topo.backup_root)
    if not backups:
        raise BackupError("no backup to verify; take one with `obruten backup now`")
    # the recovery point: a whole second in the past, after the latest backup, then make sure the
    # archive reaches beyond it
    target = datetime.now(UTC).replace(microsecond=0)
    while datetime.now(UTC) < target + timedelta(seconds=1):
        time.sleep(0.05)
    switch_and_wait_archived(topo)
    scratch = topo.backup_root / "scratch" / f"verify-{target.strftime('%Y%m%dT%H%M%SZ')}"
    port = port or topo.base_port + 30
    checks: dict[str, object] = {}
    problem = ""
    pg = None
    label = catalog.latest_before(topo.backup_root, target)
    try:
        pg, b = restore(topo, target, scratch, port, say, verify=True, announce=False)
        label = b
        checks["pg_verifybackup"] = "ok"
        out = run_as_service(topo, [pg_bin("pg_amcheck"), "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER,
                                    "--install-missing", "--heapallindexed", "-d", DATABASE], "pg_amcheck")
        checks["pg_amcheck"] = out.strip() or "ok"
        say("pg_amcheck: ok")
        src_url = topo.member_url(primary(topo))
        with psycopg.connect(pg.url(), autocommit=True) as restored, \
                psycopg.connect(src_url, autocommit=True) as source:
            mismatches = []
            for table in ENTRY_TABLES:
                if not _table_exists(restored, table):
                    continue
                got, want = table_digest(restored, table, None), table_digest(source, table, target)
                checks[f"{table}"] = {"rows": got[0], "matches_source": got == want}
                if got != want:
                    mismatches.append(f"{table}: restored {got[0]} rows, source had {want[0]} at {target}")
            behind = sequence_behind(restored)
            checks["order_numbers_at_or_above_sequence"] = behind
        chain = audit.verify(pg.url())
        checks["audit_chain"] = {"events": chain.events, "ok": chain.ok, "problem": chain.problem}
        problems = mismatches + ([f"audit chain broken at event {chain.first_bad_id}: {chain.problem}"]
                                 if not chain.ok else []) + \
            ([f"{behind} order numbers not below the sequence"] if behind else [])
        problem = "; ".join(problems)
    except BackupError as exc:
        problem = str(exc)
    finally:
        if pg is not None and not problem:
            discard(pg)
        elif pg is not None:
            pg.stop(mode="immediate")
            say(f"Kept the failed restore in {scratch} for inspection")
    v = catalog.Verification(at=datetime.now(UTC).isoformat(timespec="seconds"),
                             backup=label.label if label else "-", target_time=target.isoformat(),
                             ok=not problem, seconds=round(time.monotonic() - t0, 1), checks=checks,
                             problem=problem)
    catalog.add_verification(topo.backup_root, v)
    announce.verification(topo, v)
    return v


def scratch_root(topo: Topology) -> Path:
    return topo.backup_root / "scratch"
