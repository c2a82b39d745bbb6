"""The ward PC's offline identification and the reservnummer format, without a server (ADR 0049)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from obruten.platform.signing import SignatureError, TrustedKeys, load_or_create_key
from obruten.postreg import reserve, verifier
from obruten.record import personal_number
from obruten.ward_agent import identity

# cheap parameters: these tests check the rules, not argon2's cost
_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("rätt-lösenord")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup(tmp_path: Path, issued: datetime | None = None) -> tuple[identity.Identifier, Clock, TrustedKeys]:
    key = load_or_create_key(tmp_path / "key.pem")
    trusted = TrustedKeys()
    trusted.add(key)
    staff = [{"username": name, "full_name": name.title(), "role": "nurse", "password_hash": _HASH}
             for name in ["anna", *(f"user{i}" for i in range(identity.MAX_PC_FAILURES))]]
    staff[0]["full_name"] = "Anna A"
    doc = verifier.sign("AVD-1", staff, key, now=issued)
    (tmp_path / "v.json").write_text(json.dumps(doc))
    clock = Clock()
    return identity.Identifier(tmp_path / "v.json", "AVD-1", lambda: trusted, clock=clock), clock, trusted


def test_right_password_identifies_wrong_is_refused(tmp_path) -> None:
    ident, _, _ = setup(tmp_path)
    assert ident.identify(" Anna ", "rätt-lösenord").full_name == "Anna A"
    for user, password in (("anna", "fel"), ("anna", "")):
        with pytest.raises(identity.NotIdentified):
            ident.identify(user, password)


def test_a_name_not_on_the_verifier_is_refused(tmp_path) -> None:
    ident, _, _ = setup(tmp_path)
    with pytest.raises(identity.NotIdentified) as nobody:
        ident.identify("nisse", "rätt-lösenord")
    assert nobody.value.reason == "wrong"


def test_lockout_after_repeated_failures_and_it_ends(tmp_path) -> None:
    ident, clock, _ = setup(tmp_path)
    for _ in range(identity.MAX_FAILURES):
        with pytest.raises(identity.NotIdentified) as wrong:
            ident.identify("anna", "fel")
        assert wrong.value.reason == "wrong"
    with pytest.raises(identity.NotIdentified) as locked:
        ident.identify("anna", "rätt-lösenord")
    assert locked.value.reason == "locked"
    clock.now += identity.LOCKOUT + 1
    assert ident.identify("anna", "rätt-lösenord").username == "anna"


def test_guessing_across_usernames_pauses_the_pc(tmp_path) -> None:
    ident, clock, _ = setup(tmp_path)
    for i in range(identity.MAX_PC_FAILURES):
        with pytest.raises(identity.NotIdentified):
            ident.identify(f"user{i}", "x")
    with pytest.raises(identity.NotIdentified) as paused:
        ident.identify("anna", "rätt-lösenord")
    assert paused.value.reason == "pc_paused"
    clock.now += identity.PC_PAUSE + 1
    assert ident.identify("anna", "rätt-lösenord")


def test_an_altered_or_foreign_or_expired_verifier_is_refused(tmp_path) -> None:
    ident, _, trusted = setup(tmp_path)
    doc = json.loads((tmp_path / "v.json").read_text())
    doc["body"]["staff"].append({"username": "mallory", "full_name": "M", "role": "nurse", "password_hash": _HASH})
    with pytest.raises(SignatureError):
        verifier.check(doc, trusted, "AVD-1")
    with pytest.raises(SignatureError):
        verifier.check(json.loads((tmp_path / "v.json").read_text()), trusted, "AVD-2")
    (tmp_path / "old").mkdir()
    old, _, _ = setup(tmp_path / "old", issued=datetime.now(UTC) - verifier.VALID_FOR - timedelta(hours=1))
    with pytest.raises(identity.NotIdentified) as expired:
        old.identify("anna", "rätt-lösenord")
    assert expired.value.reason == "expired"


def test_reservnummer_round_trip_check_digit_and_never_a_real_identity() -> None:
    for serial in (1, 50, 51, 123_456_789, reserve.MAX_SERIAL):
        number = reserve.make(serial)
        assert reserve.serial_of(number) == serial and len(number) == 13
        assert not personal_number.is_valid(number) and not personal_number.is_synthetic(number)
    number = reserve.make(4711)
    typo = number[:-2] + str((int(number[-2]) + 1) % 10) + number[-1]
    assert reserve.serial_of(typo) is None
    with pytest.raises(ValueError):
        reserve.make(0)
