"""The signed status document: only a newer version, signed by a trusted key, is accepted."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from obruten.platform.signing import load_or_create_key
from obruten.status.document import NotNewer, StatusError, Untrusted, parse, parse_duration
from obruten.status.ledger import Ledger

from .conftest import make_doc, trust


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    key = load_or_create_key(tmp_path / "issuer.pem")
    trust(tmp_path / "var", key)
    return Ledger(tmp_path / "var"), key


def test_newer_version_is_accepted_and_survives_a_restart(node, tmp_path: Path) -> None:
    ledger, key = node
    ledger.offer(make_doc(key, 1, "storning").as_dict())
    ledger.offer(make_doc(key, 2, "reservrutin", unit_modes={"U1": "reservrutin"}).as_dict())
    again = Ledger(tmp_path / "var")  # a restarted process reads the file
    assert again.current() is not None and again.current().version == 2
    assert again.current().mode_for("U1") == "reservrutin"
    assert again.current().mode_for("U2") == "reservrutin"  # region mode too
    assert json.loads((tmp_path / "var" / "status" / "current.json").read_text())["version"] == 2


def test_older_and_repeated_versions_are_refused(node) -> None:
    ledger, key = node
    ledger.offer(make_doc(key, 5, "storning"))
    with pytest.raises(NotNewer):
        ledger.offer(make_doc(key, 4, "normal"))
    with pytest.raises(NotNewer):
        ledger.offer(make_doc(key, 5, "normal"))
    assert ledger.current().version == 5 and ledger.current().mode == "storning"


def test_untrusted_key_is_refused(node, tmp_path: Path) -> None:
    ledger, _ = node
    stranger = load_or_create_key(tmp_path / "stranger.pem")
    with pytest.raises(Untrusted, match="not trusted"):
        ledger.offer(make_doc(stranger, 1, "reservrutin"))
    assert ledger.current() is None


def test_tampered_document_is_refused(node) -> None:
    ledger, key = node
    doc = make_doc(key, 1, "reservrutin", unit_modes={"U1": "reservrutin"})
    for forged in (replace(doc, mode="normal"), replace(doc, version=99), replace(doc, unit_modes={}),
                   replace(doc, routine="Skriv som vanligt"), replace(doc, signature="")):
        with pytest.raises(Untrusted):
            ledger.offer(forged.as_dict())
    assert ledger.current() is None


def test_damaged_file_on_disk_never_replaces_what_is_held(node, tmp_path: Path) -> None:
    ledger, key = node
    ledger.offer(make_doc(key, 3, "storning"))
    path = tmp_path / "var" / "status" / "current.json"
    data = json.loads(path.read_text())
    data["mode"] = "normal"  # edited by hand: the signature no longer matches
    path.write_text(json.dumps(data))
    assert ledger.current().mode == "storning"
    assert Ledger(tmp_path / "var").current() is None  # a restart shows nothing rather than a forgery


def test_key_rotation_takes_effect_without_restart(node, tmp_path: Path) -> None:
    ledger, old = node
    ledger.offer(make_doc(old, 1, "storning"))
    new = load_or_create_key(tmp_path / "new.pem")
    with pytest.raises(Untrusted):
        ledger.offer(make_doc(new, 2, "normal"))
    (tmp_path / "var" / "status" / "trusted_keys").write_text(f"# rotated\n{new.trusted_line()}\n")
    ledger.offer(make_doc(new, 2, "normal"))
    with pytest.raises(Untrusted):
        ledger.offer(make_doc(old, 3, "storning"))  # the retired key is no longer accepted


@pytest.mark.parametrize("change, problem", [
    ({"mode": "panik"}, "not one of"),
    ({"version": 0}, "positive integer"),
    ({"issued_at": "yesterday"}, "ISO 8601"),
    ({"unit_modes": {"U1": "closed"}}, "unit_modes"),
    ({"surprise": 1}, "unknown fields"),
])
def test_malformed_documents_say_what_is_wrong(node, change: dict, problem: str) -> None:
    _, key = node
    with pytest.raises(StatusError, match=problem):
        parse({**make_doc(key, 1, "storning").as_dict(), **change})


def test_reserve_routine_needs_a_routine_and_a_headline(node) -> None:
    _, key = node
    with pytest.raises(StatusError, match="routine"):
        make_doc(key, 1, "storning", unit_modes={"U1": "reservrutin"}, routine="")
    with pytest.raises(StatusError, match="headline"):
        make_doc(key, 1, "storning", headline="")


def test_durations() -> None:
    assert parse_duration("30m").total_seconds() == 1800
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration("45").total_seconds() == 2700
    with pytest.raises(StatusError, match="duration"):
        parse_duration("soon")


def test_the_mode_in_force_follows_the_unit_override(node) -> None:
    _, key = node
    doc = make_doc(key, 1, "reservrutin", unit_modes={"U1": "normal", "U2": "storning"})
    assert doc.mode_for("U1") == "normal" and doc.mode_for("U3") == "reservrutin"
    assert doc.worst_mode(["U1"]) == "normal" and doc.worst_mode(["U1", "U2"]) == "storning"
    assert doc.worst_mode() == "reservrutin" and doc.worst_mode([]) == "reservrutin"
