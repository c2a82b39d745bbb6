"""Ed25519 signing: what status messages and ward kits rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from obruten.platform.signing import SignatureError, TrustedKeys, canonical, load_or_create_key


def test_signed_document_verifies_and_a_changed_byte_does_not(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k.pem")
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    trusted = TrustedKeys.parse(key.trusted_line() + "\n# comment\n")
    doc = {"b": 1, "a": "Läskopia"}
    sig = key.sign(canonical(doc))
    trusted.verify(key.key_id, canonical({"a": "Läskopia", "b": 1}), sig)  # key order does not matter
    with pytest.raises(SignatureError, match="altered"):
        trusted.verify(key.key_id, canonical({"a": "Läskopia", "b": 2}), sig)


def test_untrusted_key_and_reloaded_key(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k.pem")
    again = load_or_create_key(tmp_path / "k.pem")
    assert again.key_id == key.key_id
    other = load_or_create_key(tmp_path / "other.pem")
    trusted = TrustedKeys.parse(key.trusted_line())
    with pytest.raises(SignatureError, match="not trusted"):
        trusted.verify(other.key_id, b"x", other.sign(b"x"))
    with pytest.raises(SignatureError, match="does not match its key"):
        TrustedKeys.parse(f"{other.key_id} {key.public_b64}")
