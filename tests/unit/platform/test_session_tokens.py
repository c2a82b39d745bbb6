"""Session tokens from anyone: whatever the string, it is a session or ``InvalidToken``."""

from __future__ import annotations

import base64
import json

import pytest

from obruten.platform.auth import InvalidToken, Session, TokenSigner

SIGNER = TokenSigner("k" * 40)
SESSION = Session(user_id=7, username="anna", full_name="Anna A", role="nurse", units=("AVD1",))


def _signed(payload: object) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{body}.{SIGNER.sign(body, 'session')}"


def test_a_good_token_reads_back() -> None:
    session = SIGNER.read(SIGNER.issue(SESSION))
    assert (session.user_id, session.units, session.sid) == (7, ("AVD1",), SESSION.sid)


GOOD = SIGNER.issue(SESSION)
BAD = ["", ".", "abc", "å", "Ärlig.token", GOOD + "é", "é" + GOOD, GOOD.replace(".", "\u00ff."), "\udc80.x",
       "x" * 10_000, GOOD[:-1] + ("A" if GOOD[-1] != "A" else "B"), "a.b.c", "\x00.\x00", "😀.😀",
       GOOD.split(".")[0] + "." + "é" * 43]


@pytest.mark.parametrize("token", BAD)
def test_malformed_tokens_are_invalid_never_another_error(token: str) -> None:
    with pytest.raises(InvalidToken):
        SIGNER.read(token)


@pytest.mark.parametrize("payload", [
    [], "text", 1, None, {},
    {"user_id": "7", "username": "a", "full_name": "a", "role": "nurse", "units": [], "sid": "s" * 12,
     "issued_at": 0, "expires_at": 2**40},
    {"user_id": 7, "username": "a", "full_name": "a", "role": "nurse", "units": "AVD1", "sid": "s" * 12,
     "issued_at": 0, "expires_at": 2**40},
    {"user_id": 7, "username": "a", "full_name": "a", "role": "nurse", "units": [1], "sid": "s" * 12,
     "issued_at": 0, "expires_at": 2**40},
    {"user_id": True, "username": "a", "full_name": "a", "role": "nurse", "units": [], "sid": "s" * 12,
     "issued_at": 0, "expires_at": 2**40},
    {"user_id": 7, "username": "a", "full_name": "a", "role": "nurse", "units": [], "sid": "s" * 12,
     "issued_at": 0, "expires_at": "never"},
])
def test_signed_payloads_of_the_wrong_shape_are_invalid(payload: object) -> None:
    with pytest.raises(InvalidToken):
        SIGNER.read(_signed(payload))


@pytest.mark.parametrize("token", [None, "", "é", "\udc80", "x" * 43, SIGNER.csrf_token(SESSION) + "é"])
def test_csrf_tokens_of_any_kind_are_checked_without_error(token: str | None) -> None:
    assert SIGNER.check_csrf(SESSION, token) is False
    assert SIGNER.check_csrf(SESSION, SIGNER.csrf_token(SESSION)) is True


def test_verify_takes_any_text() -> None:
    assert SIGNER.verify("body", SIGNER.sign("body", "p"), "p")
    assert not SIGNER.verify("body", SIGNER.sign("body", "p"), "q")
    assert not SIGNER.verify("\udc80", "x", "p") and not SIGNER.verify("b", "ö", "p")
