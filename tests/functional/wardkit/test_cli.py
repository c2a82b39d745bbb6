"""``obruten wardkit build``/``run`` against the seeded region: kits appear, bad input is a clear
error and leaves nothing behind, a failed unit does not stop the others."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from obruten.cli import main
from obruten.platform.signing import TrustedKeys
from obruten.wardkit import manifest as mf
from obruten.wardkit.store import KitStore

from .conftest import Ward


def test_build_units_and_verify_them(ward: Ward, tmp_path: Path) -> None:
    runner = CliRunner()
    var = tmp_path / "var"
    result = runner.invoke(main, ["--var-dir", str(var), "wardkit", "build", "--unit", ward.unit,
                                  "--database-url", ward.url, "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "built 1 of 1 unit kits" in result.output
    trusted = TrustedKeys.load(var / "wardkits" / "trusted_keys")
    kit = KitStore(var / "wardkits" / ward.unit, trusted=trusted, unit=ward.unit).newest()
    assert kit is not None and mf.check_kit(kit.path, trusted, ward.unit).ok
    assert any(p["id"] == ward.patient for p in kit.data["patients"])
    again = runner.invoke(main, ["--var-dir", str(var), "wardkit", "run", "--rounds", "1", "--unit", ward.unit,
                                 "--database-url", ward.url, "--workers", "1"])
    assert again.exit_code == 0 and "built 1 of 1" in again.output
    assert len(KitStore(var / "wardkits" / ward.unit).all()) == 2


def test_bad_unit_fails_clearly_and_the_good_one_is_still_built(ward: Ward, tmp_path: Path) -> None:
    var = tmp_path / "var"
    result = CliRunner().invoke(main, ["--var-dir", str(var), "wardkit", "build", "--unit", "NO-SUCH",
                                       "--unit", ward.unit, "--database-url", ward.url, "--workers", "2"])
    assert result.exit_code == 1
    assert "built 1 of 2" in result.output and "NO-SUCH" in result.output and "no care unit" in result.output
    assert not (var / "wardkits" / "NO-SUCH").exists() or not any((var / "wardkits" / "NO-SUCH").iterdir())
    assert KitStore(var / "wardkits" / ward.unit).newest() is not None
    unsafe = CliRunner().invoke(main, ["--var-dir", str(var), "wardkit", "build", "--unit", "../etc",
                                       "--database-url", ward.url])
    assert unsafe.exit_code != 0 and "not a valid name" in unsafe.output


def test_build_needs_units_or_all(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--var-dir", str(tmp_path), "wardkit", "build",
                                       "--database-url", "postgresql://x@127.0.0.1:1/x"])
    assert result.exit_code == 2 and "--all" in result.output


def test_unreachable_database_says_what_to_do(tmp_path: Path) -> None:
    from pgtools import free_port

    result = CliRunner().invoke(main, ["--var-dir", str(tmp_path), "wardkit", "build", "--all",
                                       "--database-url", f"postgresql://x@127.0.0.1:{free_port()}/x"])
    assert result.exit_code == 1 and "cannot reach the database" in result.output and "read copy" in result.output


def test_ward_agent_refuses_to_start_without_trusted_keys(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--var-dir", str(tmp_path), "ward-agent", "--unit", "H01-AVD10",
                                       "--journal-url", "http://127.0.0.1:1", "--token", "t"])
    assert result.exit_code == 1 and "obruten wardkit key" in result.output
    from obruten.platform.signing import load_or_create_key

    keys = tmp_path / "trusted"
    keys.write_text(load_or_create_key(tmp_path / "k.pem").trusted_line() + "\n")
    bad = CliRunner().invoke(main, ["--var-dir", str(tmp_path), "ward-agent", "--unit", "../x",
                                    "--journal-url", "http://127.0.0.1:1", "--token", "t",
                                    "--trusted-keys", str(keys)])
    assert bad.exit_code == 1 and "--unit" in bad.output and "not a valid name" in bad.output
