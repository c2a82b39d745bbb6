"""The backup store's own WAL stream: ``pg_receivewal --synchronous`` into ``<backup root>/wal-stream``.

The archive (``archive_command``) only ever gets *finished* segments, so losing both sites loses
the open one (ADR 0012). The receiver closes that gap: it streams every WAL record to the backup
store as it is written, flushes it to disk and reports the flush at once (``--synchronous``), and
the primary counts it in the commit quorum (``obruten.cluster.backup_quorum``, ADR 0045). A commit
is then acknowledged only when the backup store holds it.

- It connects with a multi-host connection string and ``target_session_attrs=read-write``, so
  after a failover it lands on the new primary by itself (pg_receivewal retries every 5 s; a small
  supervisor restarts it when it gives up).
- It uses the permanent physical slot ``obruten_backup`` that Patroni keeps on every member
  (``slots`` in the DCS configuration), so the new primary still holds the WAL it has not received.
- The segment being written is ``<segment>.partial``; restore takes it as the last segment
  (``restore_command`` below), so a rebuild reaches the last acknowledged commit.

The supervisor runs as the service user: ``python -m obruten.backup.wal_receiver <run file>``.
In production it is a systemd unit on the backup host (``deploy/obruten-wal-receiver.service``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import psycopg

from obruten.backup.errors import BackupError
from obruten.cluster.topology import REPLICATION_USER, Topology
from obruten.platform.pgserver import pg_bin, process_alive
from obruten.platform.privileges import service_user

APP_NAME = "obruten_backup"
"""The receiver's ``application_name`` in ``synchronous_standby_names`` and its slot's name."""
SLOT = APP_NAME


def stream_dir(backup_root: Path) -> Path:
    return backup_root / "wal-stream"


def _run_file(topo: Topology) -> Path:
    return topo.run_dir() / "wal-receiver.json"


def _passfile(topo: Topology) -> Path:
    return topo.run_dir() / "wal-receiver.pgpass"


def _pid_file(topo: Topology) -> Path:
    return topo.root / "state" / "wal-receiver.pid"


def log_file(topo: Topology) -> Path:
    return topo.log_dir() / "wal-receiver.log"


def conninfo(topo: Topology) -> str:
    """Every member that can be primary, the writable one chosen at each connect."""
    hosts = [m for m in topo.members if m.can_be_primary]
    return (f"host={','.join(m.host for m in hosts)} port={','.join(str(m.pg_port) for m in hosts)} "
            f"user={REPLICATION_USER} passfile={_passfile(topo)} application_name={APP_NAME} "
            "target_session_attrs=read-write connect_timeout=2 keepalives_idle=5 keepalives_interval=2 "
            "keepalives_count=3")


def command(topo: Topology) -> list[str]:
    return [pg_bin("pg_receivewal"), "-d", conninfo(topo), "-D", str(stream_dir(topo.backup_root)),
            "--slot", SLOT, "--synchronous", "--status-interval", "1", "--no-password", "--verbose",
            "--no-loop"]  # every failure comes back to the supervisor (it restarts, and steps back if need be)


_RESTORE_SCRIPT = """#!/bin/sh
# obruten WAL restore: restore-wal <file name> <destination>
# the archive first, then the stream: whole, else the .partial being written (zero-padded past its
# end, which recovery reads as the end of WAL)
for f in "{archive}/$1" "{stream}/$1" "{stream}/$1.partial"; do
    if [ -f "$f" ]; then exec cp "$f" "$2"; fi
done
exit 1
"""


def restore_command(backup_root: Path) -> str:
    """``restore_command`` that reads the archive and the stream (writes its script if missing)."""
    script = backup_root / "restore-wal.sh"
    text = _RESTORE_SCRIPT.format(archive=backup_root / "wal", stream=stream_dir(backup_root))
    if not script.exists() or script.read_text() != text:
        tmp = script.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.rename(script)
    return f"{shlex.quote(str(script))} %f %p"


def prepare(topo: Topology) -> None:
    """The stream directory, the password file and the run file, all owned by the service user."""
    user = service_user(topo.user_name)
    d = stream_dir(topo.backup_root)
    d.mkdir(parents=True, exist_ok=True)
    user.own(d)
    for path, text in ((_passfile(topo), f"*:*:replication:{REPLICATION_USER}:"
                        f"{topo.passwords[REPLICATION_USER]}\n"),
                       (_run_file(topo), json.dumps({"argv": command(topo),
                                                     "stream": str(stream_dir(topo.backup_root))}))):
        path.write_text(text)
        path.chmod(0o600)
        user.own(path)


def pid(topo: Topology) -> int | None:
    try:
        p = int(_pid_file(topo).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return p if process_alive(p) else None


def start(topo: Topology) -> int:
    """Start the supervisor (it starts pg_receivewal); return its pid. Idempotent."""
    if (p := pid(topo)) is not None:
        return p
    prepare(topo)
    user = service_user(topo.user_name)
    log = log_file(topo)
    log.touch(exist_ok=True)
    user.own(log)
    (topo.root / "state").mkdir(exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "obruten.backup.wal_receiver", str(_run_file(topo))],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=str(topo.run_dir()), env=user.env(), start_new_session=True,
                                **user.popen_kwargs())
    _pid_file(topo).write_text(str(proc.pid))
    threading.Thread(target=proc.wait, name="reap-wal-receiver", daemon=True).start()
    return proc.pid


def stop(topo: Topology, sig: int = signal.SIGTERM, timeout: float = 15) -> str:
    """Stop the supervisor and its pg_receivewal (SIGTERM: pg_receivewal flushes and exits)."""
    p = pid(topo)
    if p is None:
        return "wal receiver: not running"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p, sig)
    deadline = time.monotonic() + timeout
    while process_alive(p) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_alive(p):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p, signal.SIGKILL)
        return "wal receiver: killed"
    return "wal receiver: stopped"


def streaming_state(url: str) -> tuple[str, str, str] | None:
    """(state, sync_state, flush_lsn) of the receiver as the primary at ``url`` sees it, or None."""
    with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
        row = conn.execute("SELECT state, sync_state, flush_lsn::text FROM pg_stat_replication "
                           "WHERE application_name = %s", (APP_NAME,)).fetchone()
    return (str(row[0]), str(row[1]), str(row[2])) if row else None


def wait_counted(url: str, timeout: float) -> None:
    """Wait until the primary counts the receiver in its commit quorum (sync_state ``quorum``)."""
    deadline = time.monotonic() + timeout
    last: tuple[str, str, str] | None = None
    while True:
        with contextlib.suppress(psycopg.OperationalError):
            last = streaming_state(url)
            if last is not None and last[0] == "streaming" and last[1] in ("quorum", "sync"):
                return
        if time.monotonic() > deadline:
            raise BackupError(f"the backup store's WAL receiver is not counted in the commit quorum after "
                              f"{timeout:.0f} s (last seen: {last or 'not connected'}); read its log "
                              "(<cluster root>/log/wal-receiver.log)")
        time.sleep(0.3)


# ---- the supervisor (runs as the service user) ------------------------------------------------
_stopping = False
_SEGMENT = re.compile(r"[0-9A-F]{24}(\.partial)?")


def _on_term(signum: int, frame: object) -> None:
    global _stopping
    _stopping = True


STEP_BACK_AFTER = 3  # failed starts at a timeline's switch point before stepping back one segment
_AT_SWITCH_POINT = 'could not send replication command "START_REPLICATION"'


def step_back(directory: Path) -> list[str]:
    """Move the newest whole segment (and any ``.partial``) of the stream aside, into
    ``.stepped-back/``, so pg_receivewal starts one segment earlier.

    pg_receivewal cannot start exactly at the point where its timeline ended on the new primary
    (a failover that happened at a segment boundary): the server then answers START_REPLICATION with
    the next timeline instead of streaming, and pg_receivewal gives up with an empty error, again
    and again. One segment earlier the server streams up to the switch and hands over to the new
    timeline, which pg_receivewal follows. The moved files are kept; the stream gets them again."""
    names = sorted(p for p in directory.iterdir() if _SEGMENT.fullmatch(p.name))
    partials = [p for p in names if p.name.endswith(".partial")]
    whole = [p for p in names if not p.name.endswith(".partial")]
    aside = directory / ".stepped-back"
    aside.mkdir(exist_ok=True)
    moved = []
    for path in [*partials, *whole[-1:]]:
        path.rename(aside / f"{path.name}.{int(time.time())}")
        moved.append(path.name)
    return moved


def _forward(stream: IO[str] | None, refused: list[bool]) -> None:
    """Copy pg_receivewal's messages to the log, noting refusals at a timeline's switch point."""
    for line in stream or ():
        print(line, end="", flush=True)
        if _AT_SWITCH_POINT in line:
            refused.append(True)


def supervise(argv: list[str], directory: Path | None = None, backoff: float = 1.0) -> None:
    """Run pg_receivewal until told to stop; restart it whenever it exits (it exits when no
    primary answers at start or the slot is missing: both pass after a failover). Its messages go
    to our output (the log); repeated refusals at a timeline's switch point make it step back."""
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    at_switch = 0
    while not _stopping:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        refused: list[bool] = []

        reader = threading.Thread(target=_forward, args=(proc.stderr, refused), daemon=True)
        reader.start()
        while proc.poll() is None:
            if _stopping:
                proc.terminate()
                proc.wait(timeout=30)
                return
            time.sleep(0.2)
        reader.join(timeout=5)
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} wal receiver: pg_receivewal exited with {proc.returncode}"
              f" after {time.monotonic() - started:.1f} s; restarting", flush=True)
        at_switch = at_switch + 1 if refused else 0
        if directory is not None and at_switch >= STEP_BACK_AFTER:
            moved = step_back(directory)
            print(f"wal receiver: refused {at_switch} times at the old timeline's end; stepped back one segment "
                  f"(moved aside: {', '.join(moved) or 'nothing'})", flush=True)
            at_switch = 0
        deadline = time.monotonic() + backoff
        while not _stopping and time.monotonic() < deadline:
            time.sleep(0.1)


def main() -> None:
    run_file = Path(sys.argv[1])
    run = json.loads(run_file.read_text())
    supervise(run["argv"], Path(run["stream"]) if run.get("stream") else None)


if __name__ == "__main__":
    main()
