"""Passwords, session tokens and CSRF tokens.

A session is a signed token (HMAC-SHA256 over a small JSON payload): validating it needs the
secret key and a clock, never a database write, so a read-only replica can serve logged-in users.
The same token is the API's bearer token and the web UI's cookie. A token that is not ASCII, not
well formed or carries a payload of the wrong shape is ``InvalidToken`` (no session), never an
error of another kind: tokens come from anyone. Whether a signed, unexpired session was ended
early (logout, deactivation) is the application's question (``obruten.record.revocation``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from obruten.platform.errors import ObrutenError

ROLES = ("physician", "nurse", "admin", "it")
CLINICAL_ROLES = ("physician", "nurse")

_hasher = PasswordHasher()
# Compared against when the user does not exist, so a wrong username costs the same time.
_DUMMY_HASH = _hasher.hash("not-a-password")


MAX_TOKEN_LENGTH = 4096  # a session token is ~300 characters; anything far longer is not one of ours
VERIFIED_CACHE_SIZE = 20_000  # tokens whose signature this process has checked (a read copy's active sessions)
_FIELDS: dict[str, type] = {"user_id": int, "username": str, "full_name": str, "role": str, "sid": str,
                            "issued_at": int, "expires_at": int}


def same_secret(given: object, expected: str) -> bool:
    """Constant-time comparison of a secret someone sent (a token, a CSRF value, a MAC) with the
    expected one. Anything that is not an ASCII string is simply not the secret (``compare_digest``
    raises on non-ASCII text, which must never become a 500)."""
    return (isinstance(given, str) and given.isascii() and bool(given) and expected.isascii()
            and hmac.compare_digest(given, expected))


class InvalidToken(ObrutenError, ValueError):
    pass


@dataclass(frozen=True)
class Session:
    """Who is logged in. ``units`` are the care units the user works in."""

    user_id: int
    username: str
    full_name: str
    role: str
    units: tuple[str, ...]
    sid: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    issued_at: int = field(default_factory=lambda: int(time.time()))
    expires_at: int = 0

    @property
    def clinical(self) -> bool:
        return self.role in CLINICAL_ROLES


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _yield_the_cpu() -> None:
    """Run this thread (and the argon2 lanes it starts) at a lower priority than request handling,
    so a burst of logins slows the logins, not every other request (Linux: nice is per thread)."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed: normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


# argon2 takes tens of milliseconds of CPU per call: never on the event loop (it would stall every
# request), and at most one core's worth at a time per process, at a lower priority. Logins queue
# here under a burst; throttling (record.login_guard) keeps one account or address from making one.
_PASSWORD_WORK = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) - 1), thread_name_prefix="argon2",
                                    initializer=_yield_the_cpu)


async def check_password_off_loop(stored_hash: str | None, password: str) -> bool:
    """``check_password`` in the password threads (see ``_PASSWORD_WORK``)."""
    return await asyncio.get_running_loop().run_in_executor(_PASSWORD_WORK, check_password, stored_hash, password)


async def hash_password_off_loop(password: str) -> str:
    """``hash_password`` in the password threads (see ``_PASSWORD_WORK``)."""
    return await asyncio.get_running_loop().run_in_executor(_PASSWORD_WORK, hash_password, password)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, secret_key: str, lifetime_hours: int = 10) -> None:
        if len(secret_key) < 32:
            raise ValueError("secret_key must be at least 32 characters")
        self._key = secret_key.encode()
        self.lifetime = lifetime_hours * 3600
        # token -> its session, once the signature and payload checked out: the token is the signed
        # text itself, so the same string always verifies the same way under this key. Expiry is
        # still checked on every read, and revocation is the caller's (it never was the signature's).
        self._verified: dict[str, Session] = {}

    def _mac(self, body: str, purpose: str = "session") -> str:
        return _b64(hmac.new(self._key, f"{purpose}:{body}".encode(), hashlib.sha256).digest())

    def issue(self, session: Session) -> str:
        payload = asdict(session)
        payload["expires_at"] = payload["issued_at"] + self.lifetime
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def read(self, token: str, now: float | None = None) -> Session:
        """The session in a token this key signed and that has not expired; else ``InvalidToken``."""
        session = self._verified.get(token) if isinstance(token, str) else None
        if session is None:
            session = self._check(token)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]  # the oldest checked
            self._verified[token] = session
        if (now or time.time()) >= session.expires_at:
            raise InvalidToken("session has expired; log in again")
        return session

    def _check(self, token: str) -> Session:
        if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("malformed session token")
        body, dot, mac = token.partition(".")
        if not dot or not self.verify(body, mac, "session"):
            raise InvalidToken("session token signature does not match")
        try:
            payload = json.loads(_unb64(body))
            session = _session_from(payload)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidToken("session token payload is malformed") from exc
        return session

    def csrf_token(self, session: Session) -> str:
        return self._mac(session.sid, purpose="csrf")

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and self.verify(session.sid, token or "", "csrf")

    def verify(self, text: str, mac: str, purpose: str) -> bool:
        """Is ``mac`` this key's MAC of ``text`` for ``purpose``? False (never an error) for any
        string, ASCII or not, as comes from a cookie, header or form field."""
        if not (isinstance(mac, str) and mac.isascii() and isinstance(text, str)):
            return False
        try:
            expected = self._mac(text, purpose=purpose)
        except UnicodeError:  # lone surrogates cannot be encoded
            return False
        return hmac.compare_digest(mac, expected)

    def sign(self, text: str, purpose: str) -> str:
        """A MAC for links and other small values (e.g. acknowledgement links)."""
        return self._mac(text, purpose=purpose)


def _session_from(payload: object) -> Session:
    """A ``Session`` from a verified token's payload, every field of the type it must have."""
    if not isinstance(payload, dict):
        raise TypeError("payload is not an object")
    for name, kind in _FIELDS.items():
        value = payload[name]
        if type(value) is not kind:  # bool is not an int here
            raise TypeError(f"{name} is not {kind.__name__}")
    units = payload["units"]
    if not isinstance(units, list) or not all(isinstance(u, str) for u in units):
        raise TypeError("units is not a list of text")
    return Session(user_id=payload["user_id"], username=payload["username"], full_name=payload["full_name"],
                   role=payload["role"], units=tuple(units), sid=payload["sid"], issued_at=payload["issued_at"],
                   expires_at=payload["expires_at"])


def load_or_create_secret(path: Path) -> str:
    """The node's secret key, created once (0600). Nodes that must accept each other's sessions
    (journal, read copy) are given the same key through configuration."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
