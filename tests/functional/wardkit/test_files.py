"""The kit files: what the PDF and HTML say, and that any changed byte or a foreign key is caught."""

from __future__ import annotations

import json
from pathlib import Path

import pypdf
import pytest

from obruten.platform.signing import SigningKey, TrustedKeys, load_or_create_key
from obruten.wardkit import build
from obruten.wardkit import manifest as mf
from obruten.wardkit.store import KitStore

from .conftest import Ward


def _flip(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_pdf_names_unit_time_and_warnings_on_every_page(kit_dir: Path, ward: Ward) -> None:
    manifest = mf.load(kit_dir / "manifest.json")
    reader = pypdf.PdfReader(kit_dir / "kit.pdf")
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) >= 2
    for text in pages:
        assert "Uppgifter per 2026-11-20 10:00" in text            # Europe/Stockholm
        assert ward.unit in text
        assert manifest["body"]["data_sha256"] not in text and manifest["key_id"] not in text  # in the manifest
    everything = "\n".join(pages)
    assert "Anafylaxi mot testamin" in everything and "LIVSHOTANDE" in everything
    assert "Testocillin" in everything and "Utsattin" not in everything
    # every admitted patient's warnings are in the PDF
    data = json.loads((kit_dir / "kit.json").read_bytes())
    for p in data["patients"]:
        assert p["personal_number"] in everything
        for w in p["warnings"]:
            assert w["text"] in everything


def test_html_is_self_contained_and_carries_the_kit_marks(kit_dir: Path, ward: Ward) -> None:
    html = (kit_dir / "kit.html").read_text()
    manifest = mf.load(kit_dir / "manifest.json")
    assert "Uppgifter per 2026-11-20 10:00" in html and ward.unit in html
    # the digest and key are metadata for `wardkit verify`, not text for the nurse
    assert f'content="{manifest["body"]["data_sha256"]}"' in html and f'content="{manifest["key_id"]}"' in html
    assert manifest["body"]["data_sha256"] not in html.split("<body>", 1)[1]
    assert "Anafylaxi mot testamin" in html
    for outside in ("http://", "https://", "<link", "src="):
        assert outside not in html, f"the offline file must not load anything ({outside})"


@pytest.mark.parametrize("name", ["kit.pdf", "kit.html", "kit.json"])
def test_one_changed_byte_is_tampered(kit_dir: Path, trusted: TrustedKeys, name: str) -> None:
    manifest = mf.load(kit_dir / "manifest.json")
    assert mf.check_file(kit_dir / name, manifest, trusted).status == mf.VALID
    _flip(kit_dir / name)
    verdict = mf.check_file(kit_dir / name, manifest, trusted)
    assert verdict.status == mf.TAMPERED and "do not use" in verdict.message
    assert mf.check_kit(kit_dir, trusted).status == mf.TAMPERED


def test_reformatted_json_with_the_same_data_is_still_valid(kit_dir: Path, trusted: TrustedKeys,
                                                          tmp_path: Path) -> None:
    pretty = tmp_path / "copy.json"
    pretty.write_text(json.dumps(json.loads((kit_dir / "kit.json").read_bytes()), indent=2))
    assert mf.check_file(pretty, mf.load(kit_dir / "manifest.json"), trusted).ok


def test_altered_manifest_and_untrusted_key(kit_dir: Path, trusted: TrustedKeys, tmp_path: Path) -> None:
    manifest = mf.load(kit_dir / "manifest.json")
    other = load_or_create_key(tmp_path / "other.pem")
    verdict = mf.check_file(kit_dir / "kit.pdf", manifest, TrustedKeys.parse(other.trusted_line()))
    assert verdict.status == mf.UNTRUSTED and "trusted keys" in verdict.message
    # someone re-signs a changed body with their own key: untrusted, not valid
    forged = mf.sign({**manifest["body"], "patients": 0, "key_id": other.key_id}, other)
    assert mf.check_file(kit_dir / "kit.pdf", forged, trusted).status == mf.UNTRUSTED
    # someone edits the signed body in place: tampered
    manifest["body"]["as_of"] = "2030-01-01T00:00:00+00:00"
    assert mf.check_file(kit_dir / "kit.pdf", manifest, trusted).status == mf.TAMPERED


def test_verify_command_says_valid_tampered_untrusted(kit_dir: Path, key: SigningKey, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from obruten.cli import main

    keys = tmp_path / "trusted"
    keys.write_text(key.trusted_line() + "\n")
    runner = CliRunner()
    ok = runner.invoke(main, ["wardkit", "verify", str(kit_dir / "kit.pdf"), "--trusted-keys", str(keys)])
    assert ok.exit_code == 0 and "VALID" in ok.output
    _flip(kit_dir / "kit.html")
    bad = runner.invoke(main, ["wardkit", "verify", str(kit_dir / "kit.html"), "--trusted-keys", str(keys)])
    assert bad.exit_code == 1 and "TAMPERED" in bad.output
    keys.write_text(load_or_create_key(tmp_path / "o.pem").trusted_line() + "\n")
    foreign = runner.invoke(main, ["wardkit", "verify", str(kit_dir / "kit.json"), "--trusted-keys", str(keys)])
    assert foreign.exit_code == 2 and "UNTRUSTED" in foreign.output


def test_store_keeps_a_bounded_number_newest_first(ward: Ward, key: SigningKey, tmp_path: Path) -> None:
    from datetime import timedelta

    from .conftest import NOW

    store = KitStore(tmp_path / "kits", keep=3, trusted=TrustedKeys.parse(key.trusted_line()), unit=ward.unit)
    stamps = []
    for minutes in range(0, 25, 5):
        data = ward.kit(NOW + timedelta(minutes=minutes))
        data["generated_at"] = (NOW + timedelta(minutes=minutes)).isoformat()
        stamps.append(build.write_kit(data, store, key).stamp)
    assert [k.stamp for k in store.kits()] == list(reversed(stamps))[:3]
    newest = store.newest()
    assert newest is not None and newest.stamp == stamps[-1] and newest.data["unit"]["id"] == ward.unit
    _flip(newest.pdf_path)
    assert store.newest().stamp == stamps[-2]  # type: ignore[union-attr]  # a damaged kit is never handed out


def test_a_kit_for_another_unit_is_refused(kit_dir: Path, trusted: TrustedKeys, ward: Ward) -> None:
    assert mf.check_kit(kit_dir, trusted, ward.unit).ok
    verdict = mf.check_kit(kit_dir, trusted, "H99-AVD99")
    assert verdict.status == mf.TAMPERED and "not H99-AVD99" in verdict.message
