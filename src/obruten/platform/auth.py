"""Passwords, session tokens and CSRF tokens.

A session is a signed token (HMAC-SHA256 over a small JSON payload): validating it needs the
secret key and a clock, never a database write, so a read-only replica can serve logged-in users.
The same token is the API's bearer token and the web UI's cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
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

    def _mac(self, body: str, purpose: str = "session") -> str:
        return _b64(hmac.new(self._key, f"{purpose}:{body}".encode(), hashlib.sha256).digest())

    def issue(self, session: Session) -> str:
        payload = asdict(session)
        payload["expires_at"] = payload["issued_at"] + self.lifetime
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def read(self, token: str, now: float | None = None) -> Session:
        try:
            body, mac = token.split(".", 1)
        except ValueError as exc:
            raise InvalidToken("malformed session token") from exc
        if not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidToken("session token signature does not match")
        try:
            payload = json.loads(_unb64(body))
            session = Session(**{**payload, "units": tuple(payload["units"])})
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidToken("session token payload is malformed") from exc
        if (now or time.time()) >= session.expires_at:
            raise InvalidToken("session has expired; log in again")
        return session

    def csrf_token(self, session: Session) -> str:
        return self._mac(session.sid, purpose="csrf")

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token or "", self.csrf_token(session))

    def sign(self, text: str, purpose: str) -> str:
        """A MAC for links and other small values (e.g. acknowledgement links)."""
        return self._mac(text, purpose=purpose)


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
