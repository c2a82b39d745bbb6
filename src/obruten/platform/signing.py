"""Ed25519 signatures: the one place Obruten signs and checks documents.

Used for status messages (every node accepts only a newer message from a trusted key) and for
ward downtime kits (``obruten wardkit verify`` checks a kit offline). A signature covers bytes;
structured documents are signed over their canonical JSON (sorted keys, no whitespace, UTF-8),
so the same document signs the same on every node.

Keys: a private key is a PEM file created once with mode 0600; a *trusted keys* file holds one
public key per line as ``<key id> <base64 raw public key>`` (``#`` starts a comment). The key id
is the first 16 hex digits of the SHA-256 of the raw public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from obruten.platform.errors import ObrutenError


class SignatureError(ObrutenError):
    """A signature does not verify, or its key is not trusted."""


def canonical(document: object) -> bytes:
    """The bytes a structured document is signed over."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public_b64(self) -> str:
        return base64.b64encode(_raw(self.private.public_key())).decode()

    @property
    def key_id(self) -> str:
        return key_id_of(self.private.public_key())

    def sign(self, data: bytes) -> str:
        """A base64 signature of ``data``."""
        return base64.b64encode(self.private.sign(data)).decode()

    def trusted_line(self) -> str:
        """This key's line for a trusted-keys file."""
        return f"{self.key_id} {self.public_b64}"


def key_id_of(public: Ed25519PublicKey) -> str:
    return sha256_hex(_raw(public))[:16]


def load_or_create_key(path: Path) -> SigningKey:
    """The private key at ``path``, created (0600) the first time."""
    if path.exists():
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise SignatureError(f"{path} is not an Ed25519 private key; move it away and a new key is created")
        return SigningKey(private)
    path.parent.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    return SigningKey(private)


class TrustedKeys:
    """Public keys a node accepts signatures from, by key id."""

    def __init__(self, keys: dict[str, Ed25519PublicKey] | None = None) -> None:
        self._keys = dict(keys or {})

    @classmethod
    def parse(cls, text: str) -> TrustedKeys:
        keys: dict[str, Ed25519PublicKey] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                kid, b64 = line.split()
                public = Ed25519PublicKey.from_public_bytes(base64.b64decode(b64, validate=True))
            except ValueError as exc:
                raise SignatureError(f"trusted keys line {number} is not '<key id> <base64 public key>'") from exc
            if key_id_of(public) != kid:
                raise SignatureError(f"trusted keys line {number}: key id {kid} does not match its key")
            keys[kid] = public
        return cls(keys)

    @classmethod
    def load(cls, path: Path) -> TrustedKeys:
        if not path.exists():
            return cls()
        return cls.parse(path.read_text())

    def add(self, key: SigningKey) -> None:
        self._keys[key.key_id] = key.private.public_key()

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def verify(self, kid: str, data: bytes, signature_b64: str) -> None:
        """Raise ``SignatureError`` unless ``signature_b64`` is a signature of ``data`` by trusted key ``kid``."""
        public = self._keys.get(kid)
        if public is None:
            raise SignatureError(f"key {kid} is not trusted on this node; add its line to the trusted keys file")
        try:
            public.verify(base64.b64decode(signature_b64, validate=True), data)
        except (InvalidSignature, ValueError) as exc:
            raise SignatureError("the signature does not match: the document was altered or signed by another key") \
                from exc
