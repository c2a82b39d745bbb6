"""Switching a flag: recorded for good, audited, on the system timeline; the app role cannot
rewrite the history of switches."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from obruten.cli import main
from obruten.platform.pgserver import PostgresInstance
from obruten.record.schema import app_url
from pgtools import seeded_database


@pytest.fixture(scope="module")
def region(pg: PostgresInstance) -> str:
    return seeded_database(pg, "flags_region", patients=100)


def test_switch_on_for_a_unit_is_listed_audited_and_an_event(region: str, tmp_path: Path) -> None:
    with psycopg.connect(region) as conn:
        unit = conn.execute("SELECT id FROM care_unit WHERE kind = 'ward' ORDER BY id LIMIT 1").fetchone()[0]
    runner = CliRunner()
    base = ["--database-url", region, "--var-dir", str(tmp_path)]
    result = runner.invoke(main, [*base, "flags", "on", "kit_mar_grid", "--unit", unit, "--reason", "pilot på avdelningen",
                                  "--by", "it-anna"])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(main, [*base, "flags", "list", "--unit", unit])
    line = next(row for row in listing.output.splitlines() if row.startswith("kit_mar_grid"))
    assert " av " in line and f"{unit}: PÅ" in line  # region off, the unit on
    with psycopg.connect(region) as conn:
        detail = conn.execute("SELECT detail FROM audit_event WHERE action = 'flag_switch' ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert detail == {"flag": "kit_mar_grid", "unit": unit, "on": True, "reason": "pilot på avdelningen"}
    events = [json.loads(row) for row in (tmp_path / "events" / "events.jsonl").read_text().splitlines()]
    assert events[-1]["kind"] == "flag.switched" and events[-1]["data"]["unit"] == unit


def test_an_unknown_flag_or_no_reason_is_refused_and_nothing_recorded(region: str, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--database-url", region, "--var-dir", str(tmp_path)]
    with psycopg.connect(region) as conn:
        before = conn.execute("SELECT count(*) FROM feature_flag_switch").fetchone()[0]
    bad = runner.invoke(main, [*base, "flags", "on", "no_such_flag", "--reason", "för att"])
    assert bad.exit_code != 0 and "flags list" in bad.output
    short = runner.invoke(main, [*base, "flags", "off", "kit_mar_grid", "--reason", "x"])
    assert short.exit_code != 0 and "say why" in short.output
    with psycopg.connect(region) as conn:
        assert conn.execute("SELECT count(*) FROM feature_flag_switch").fetchone()[0] == before


def test_the_app_role_cannot_rewrite_switches(region: str, tmp_path: Path) -> None:
    app = app_url(region, tmp_path / "app-password")
    with psycopg.connect(app) as conn, pytest.raises(psycopg.Error):
        conn.execute("UPDATE feature_flag_switch SET enabled = NOT enabled")
    with psycopg.connect(app) as conn, pytest.raises(psycopg.Error):
        conn.execute("DELETE FROM feature_flag_switch")
