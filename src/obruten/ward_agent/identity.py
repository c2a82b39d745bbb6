"""Who documents on the ward PC: each entry is signed with the person's own journal credentials,
checked here against the unit's staff verifier (``postreg.verifier``) so it works offline.

Nothing is remembered between entries: every form carries username and password, they are
checked when it is saved and then forgotten (no cookie, no session). Failed attempts are
throttled on this PC: ``MAX_FAILURES`` wrong passwords for one username within ``WINDOW`` lock that
username for ``LOCKOUT``; ``MAX_PC_FAILURES`` for any usernames within ``WINDOW`` pause every
identification for ``PC_PAUSE`` (guessing across accounts). The counts live in memory: restarting the
agent clears them (it takes an administrator on the PC; see ADR 0049).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from obruten.platform.auth import check_password
from obruten.platform.errors import Invalid
from obruten.platform.private import private_dir, private_file
from obruten.platform.signing import SignatureError, TrustedKeys
from obruten.postreg import verifier

MAX_FAILURES = 5
MAX_PC_FAILURES = 20
WINDOW = 15 * 60.0
LOCKOUT = 15 * 60.0
PC_PAUSE = 60.0


class NotIdentified(Invalid):
    """Wrong username or password, locked, or no verifier: the message says which (in English;
    the page translates by ``reason``)."""

    def __init__(self, message: str, reason: str, **values: object) -> None:
        super().__init__(message)
        self.reason, self.values = reason, values


@dataclass(frozen=True)
class Author:
    username: str
    full_name: str
    role: str


class Identifier:
    """The verifier on disk and the throttle; ``identify`` is the only way to an ``Author``."""

    def __init__(self, path: Path, unit: str, trusted: Callable[[], TrustedKeys],
                 clock: Callable[[], float] = time.monotonic, now: Callable[[], datetime] | None = None) -> None:
        self.path, self.unit, self._trusted, self._clock = Path(path), unit, trusted, clock
        self._now = now or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}
        self._pc_failures: deque[float] = deque()
        self._locked_until: dict[str, float] = {}
        self._pc_paused_until = 0.0
        self._body: dict[str, Any] | None = None
        self.problem = ""
        self._load()

    # ---- the verifier --------------------------------------------------------------------------
    def _load(self) -> None:
        if not self.path.exists():
            self.problem = "no staff verifier fetched yet"
            return
        try:
            self._body = verifier.check(json.loads(self.path.read_text()), self._trusted(), self.unit)
            self.problem = ""
        except (ValueError, SignatureError) as exc:
            self._body, self.problem = None, f"the staff verifier on disk is refused: {exc}"

    def offer(self, document: Any) -> str:
        """Keep a verifier fetched from the journal if it checks out and is newer; say what happened."""
        try:
            body = verifier.check(document, self._trusted(), self.unit)
        except SignatureError as exc:
            return f"refused the staff verifier: {exc}"
        if self._body is not None and body["issued_at"] <= self._body["issued_at"]:
            return "staff verifier unchanged"
        private_dir(self.path.parent)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(document, ensure_ascii=False))
        private_file(tmp)
        tmp.replace(self.path)
        with self._lock:
            self._body, self.problem = body, ""
        return f"kept the staff verifier issued {body['issued_at']} ({len(body['staff'])} accounts)"

    @property
    def issued_at(self) -> datetime | None:
        return datetime.fromisoformat(self._body["issued_at"]) if self._body else None

    @property
    def accounts(self) -> int:
        return len(self._body["staff"]) if self._body else 0

    def full_name(self, username: str) -> str:
        """The name the verifier gives ``username`` (the username itself if it is not listed)."""
        body = self._body
        row = next((s for s in body["staff"] if s.get("username") == username), None) if body else None
        return str(row.get("full_name", username)) if row else username

    # ---- identification ------------------------------------------------------------------------
    def identify(self, username: str, password: str) -> Author:
        """The verified author, or ``NotIdentified`` (and the attempt counted)."""
        name = (username or "").strip().lower()
        if not name or not password:
            raise NotIdentified("give your username and password", "missing")
        now = self._clock()
        with self._lock:
            if now < self._pc_paused_until:
                raise NotIdentified("too many wrong passwords on this PC; wait a minute", "pc_paused",
                                    seconds=int(self._pc_paused_until - now) + 1)
            if now < self._locked_until.get(name, 0.0):
                raise NotIdentified(f"{name} is locked after {MAX_FAILURES} wrong passwords", "locked",
                                    minutes=int((self._locked_until[name] - now) / 60) + 1)
            body = self._body
        if body is None:
            raise NotIdentified(f"cannot check passwords: {self.problem}", "no_verifier")
        if datetime.fromisoformat(body["valid_until"]) < self._now():
            raise NotIdentified("the staff verifier has expired; connect the PC to the journal", "expired")
        row = next((s for s in body["staff"] if s.get("username") == name), None)
        # the same argon2 work whether or not the username exists (no account enumeration by time)
        if check_password(row["password_hash"] if row else None, password) and row is not None:
            with self._lock:
                self._failures.pop(name, None)
            return Author(username=name, full_name=str(row.get("full_name", name)), role=str(row.get("role", "")))
        self._fail(name, now)
        raise NotIdentified("wrong username or password", "wrong")

    def _fail(self, name: str, now: float) -> None:
        with self._lock:
            mine = self._failures.setdefault(name, deque())
            for q in (mine, self._pc_failures):
                q.append(now)
                while q and q[0] < now - WINDOW:
                    q.popleft()
            if len(mine) >= MAX_FAILURES:
                self._locked_until[name] = now + LOCKOUT
                mine.clear()
            if len(self._pc_failures) >= MAX_PC_FAILURES:
                self._pc_paused_until = now + PC_PAUSE
                self._pc_failures.clear()
