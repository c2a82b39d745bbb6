"""The last status document a node accepted, kept on disk so it survives restarts and outages.

``var_dir/status/current.json`` is replaced atomically (write, fsync, rename, fsync the folder).
Several processes on one node (uvicorn workers, a read copy) share the file: each re-reads it
when it changes, so a document pushed to one worker is shown by all.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path

from obruten.platform.signing import TrustedKeys
from obruten.status.document import StatusDocument, StatusError, newer, parse


def status_dir(var_dir: Path) -> Path:
    return var_dir / "status"


def default_trusted_keys(var_dir: Path) -> Path:
    return status_dir(var_dir) / "trusted_keys"


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class Ledger:
    """Holds the node's current document; ``offer`` accepts only a newer, trusted one."""

    def __init__(self, var_dir: Path, trusted_keys: Path | None = None) -> None:
        self.path = status_dir(var_dir) / "current.json"
        self.keys_path = trusted_keys or default_trusted_keys(var_dir)
        self._lock = threading.Lock()
        self._doc: StatusDocument | None = None
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of the file last read
        self._keys: TrustedKeys | None = None
        self._keys_seen: tuple[int, int] | None = None

    def trusted(self) -> TrustedKeys:
        """The trusted keys, re-read when the file changes (key rotation needs no restart)."""
        stamp = _stamp(self.keys_path)
        if self._keys is None or stamp != self._keys_seen:
            self._keys = TrustedKeys.load(self.keys_path)
            self._keys_seen = stamp
        return self._keys

    def current(self) -> StatusDocument | None:
        with self._lock:
            stamp = _stamp(self.path)
            if stamp is not None and stamp != self._seen:
                try:
                    doc = parse(json.loads(self.path.read_bytes()))
                    doc.verify(self.trusted())
                    if self._doc is None or doc.version >= self._doc.version:
                        self._doc = doc
                except (OSError, ValueError, StatusError):
                    pass  # a damaged or untrusted file never replaces what we hold
                self._seen = stamp
            return self._doc

    def offer(self, data: object) -> StatusDocument:
        """Verify and keep ``data`` (a parsed JSON document); returns it. Raises ``NotNewer`` for
        an old or repeated version and ``StatusError`` for a malformed or untrusted one."""
        doc = data if isinstance(data, StatusDocument) else parse(data)
        doc.verify(self.trusted())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(".current.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one writer across this node's processes
            newer(doc, self.current())
            body = json.dumps(doc.as_dict(), ensure_ascii=False, sort_keys=True, indent=1).encode()
            with self._lock:
                write_atomically(self.path, body)
                self._doc = doc
                self._seen = _stamp(self.path)
        return doc

def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size
