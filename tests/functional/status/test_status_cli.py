"""``obruten status``: keys and trust, offline signing with a push to a running journal, show."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner

from obruten.cli import main


def run(var: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--var-dir", str(var), "status", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_offline_issue_is_refused_until_the_key_is_trusted_then_pushed(tmp_path: Path, journal_server,
                                                                         publisher) -> None:
    var = tmp_path / "node"
    offline = ["set", "--offline", "--issuer", "Tove Beredskap, TIB", "--mode", "reservrutin", "--unit", "U9",
               "--headline", "Statusservern nere", "--routine", "RR-1", "--reason", "ops-tjänsten svarar inte",
               "--push", journal_server.base]
    refused = CliRunner().invoke(main, ["--var-dir", str(var), "status", *offline])
    assert refused.exit_code != 0 and "is not in" in refused.output and "trusted_keys" in refused.output

    line = run(var, "key").strip()
    assert "trusted" in run(var, "trust", line)
    assert "already trusted" in run(var, "trust", line)
    bad = CliRunner().invoke(main, ["--var-dir", str(var), "status", "trust", "abc nonsense"])
    assert bad.exit_code != 0 and "trusted keys line 1" in bad.output

    # the journal under test trusts this node's key too
    with (journal_server.var_dir / "status" / "trusted_keys").open("a") as fh:
        fh.write(line + "\n")
    out = CliRunner().invoke(main, ["--var-dir", str(var), "status", *offline])
    assert out.exit_code == 0, out.output
    assert "pushed to" in out.output and "U9=reservrutin" in out.output
    shown = httpx.get(journal_server.base + "/api/v1/status").json()["document"]
    assert shown["unit_modes"] == {"U9": "reservrutin"} and shown["issuer_name"] == "Tove Beredskap"
    assert "Statusservern nere" in run(var, "show")
    assert "Statusservern nere" in run(var, "show", "--url", journal_server.base)


def test_set_says_what_to_do_when_the_service_is_down(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--var-dir", str(tmp_path), "status", "set", "--mode", "storning",
                                       "--headline", "x", "--reason", "test", "--user", "tib",
                                       "--ops-url", "http://127.0.0.1:9"])
    assert result.exit_code != 0 and "--offline" in result.output
    result = CliRunner().invoke(main, ["--var-dir", str(tmp_path), "status", "set", "--mode", "storning",
                                       "--reason", "x", "--next-update", "snart"])
    assert result.exit_code != 0 and "30m" in result.output


def test_normal_ends_the_outage_from_the_command_line(tmp_path: Path, service, live) -> None:  # type: ignore[no-untyped-def]
    from obruten.ops.status_service import StatusIssuer, StatusSettings, current
    from obruten.ops.users import authenticate

    issuer = StatusIssuer(service.store, service.var_dir, StatusSettings(key_file=tmp_path / "k.pem"))
    service.status_issuer = issuer
    tib = authenticate(service.store, "tib", "demo")
    issuer.issue(tib, mode="storning", headline="Nere", routine="RR-1", unit_modes={"U1": "reservrutin"},  # type: ignore[arg-type]
                 reason="Larm", now=service.clock.now())
    result = CliRunner().invoke(main, ["--var-dir", str(tmp_path), "status", "normal", "--ops-url", live.base,
                                       "--user", "tib", "--password", "demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = current(service.store)
    assert doc is not None and (doc.mode, doc.unit_modes, doc.routine, doc.headline) == ("normal", {}, "", "")
    assert "mode normal" in result.output
