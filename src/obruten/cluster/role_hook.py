"""Patroni's callbacks: WAL summarization only on the primary, and promotions reported.

Patroni runs ``python -m obruten.cluster.role_hook --data-dir D --member M --port P --passfile F
[--events-dir E]`` with ``<action> <role> <scope>`` appended (on_start, on_role_change, …), as the
service user, without waiting for it.

**Why summarization only on the primary.** With ``summarize_wal = on`` (needed for incremental
backups, which are taken from the primary) and archiving on, PostgreSQL's end of recovery waits
until the WAL summarizer has written the summary of the old timeline before it renames the last
segment to ``.partial``. On a standby whose primary died the summarizer has seen no WAL for the
whole leader-key TTL and sleeps in naps of up to 30 s that the promotion does not cut short:
measured here, writes came back up to 26 s later than they needed to, and still ~5 s later when
the summarizer was woken by signals. So the cluster-wide setting is ``summarize_wal = off`` and
this hook turns it on (``ALTER SYSTEM``) on a member that starts as or becomes the primary, and
off again on a replica, removing that member's old summaries (they describe WAL it no longer
has, and would stall the summarizer when it is next turned on). If the hook cannot run, backups
stay correct: an incremental backup without summaries falls back to a full one (ADR 0012).
During a promotion the hook also wakes a summarizer that is still on (SIGHUP, every half second
while ``pg_control`` says "in archive recovery"), for a member whose hook has not yet run.

**The event.** A promotion is recorded as a ``cluster.promoted`` system event (automatic
failovers included), so the ops incident timeline shows it without anyone typing it in.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from obruten.platform import events
from obruten.platform.pgserver import children_of

PROMOTED = ("primary", "master", "promoted")


DB_IN_ARCHIVE_RECOVERY = 5  # PostgreSQL's DBState enum (pg_control.h)


def postmaster(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, IndexError, ValueError):
        return None


def in_archive_recovery(data_dir: Path) -> bool:
    """``pg_control``'s state field (after the system identifier and two version numbers): it
    changes to "in production" only once the end of recovery is done."""
    try:
        with open(data_dir / "global" / "pg_control", "rb") as fh:
            head = fh.read(20)
    except OSError:
        return False
    return len(head) == 20 and int.from_bytes(head[16:20], sys.byteorder) == DB_IN_ARCHIVE_RECOVERY


def summarizer_pids(postmaster: int) -> list[int]:
    """The postmaster's children whose title says they are the WAL summarizer."""

    found = []
    for pid in children_of(postmaster):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"walsummarizer" in fh.read():
                    found.append(pid)
        except OSError:
            continue
    return found


def nudge_summarizer(data_dir: Path, limit_s: float = 60.0, every_s: float = 0.5) -> int:
    """SIGHUP the WAL summarizer until the server has left recovery; returns how many signals."""
    sent = 0
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        pid = postmaster(data_dir)
        if pid is None or not in_archive_recovery(data_dir):
            break
        for child in summarizer_pids(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGHUP)
                sent += 1
        time.sleep(every_s)
    return sent


def set_summarization(port: int, passfile: Path, data_dir: Path, on: bool, wait_s: float = 60) -> str:
    """``ALTER SYSTEM SET summarize_wal`` and reload, once the server takes connections; returns a
    sentence. Off also removes the member's WAL summaries."""
    import psycopg

    deadline = time.monotonic() + wait_s
    while True:
        try:
            with psycopg.connect(host="127.0.0.1", port=port, user="obruten", dbname="postgres",
                                 passfile=str(passfile), autocommit=True, connect_timeout=3) as conn:
                conn.execute(f"ALTER SYSTEM SET summarize_wal = {'on' if on else 'off'}")
                conn.execute("SELECT pg_reload_conf()")
            break
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                return f"could not set summarize_wal: {exc}"
            time.sleep(1)
    if not on:
        time.sleep(1)  # the summarizer takes the reload before its files go
        for f in (data_dir / "pg_wal" / "summaries").glob("*.summary"):
            f.unlink(missing_ok=True)
    return f"summarize_wal {'on' if on else 'off'}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--member", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--passfile", type=Path, required=True)
    ap.add_argument("--events-dir", type=Path)
    ap.add_argument("action")
    ap.add_argument("role")
    ap.add_argument("scope", nargs="?", default="")
    args = ap.parse_args(argv)
    if args.action not in ("on_start", "on_restart", "on_role_change"):
        return
    primary = args.role in PROMOTED
    started = time.monotonic()
    signals = nudge_summarizer(args.data_dir) if primary and args.action == "on_role_change" else 0
    result = set_summarization(args.port, args.passfile, args.data_dir, on=primary)
    print(f"obruten role hook: {args.member} {args.action} {args.role}: {result}", flush=True)
    if primary and args.action == "on_role_change" and args.events_dir is not None:

        events.emit(args.events_dir, "cluster.promoted", f"{args.member} är ny primär (Patroni)", "cluster",
                    member=args.member, role=args.role, summarizer_wakeups=signals, summarization=result,
                    promotion_s=round(time.monotonic() - started, 1))


if __name__ == "__main__":
    main()
