"""A flag switch is a system event on the timeline of every incident open at the time (R22): an
on-call reading "what changed?" during an incident sees it; an incident closed before does not.
An upgrade and a new installation are recorded the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from obruten.cli import main
from obruten.ops import incidents, timeline
from obruten.ops.store import Store
from obruten.platform.pgserver import PostgresInstance
from obruten.record import flags
from pgtools import fresh_database


def test_a_switch_during_an_open_incident_is_on_its_timeline(pg: PostgresInstance, tmp_path: Path) -> None:
    url = fresh_database(pg, "flag_timeline")
    var = tmp_path / "var"
    store = Store(var / "ops" / "ops.sqlite3")
    try:
        now = datetime.now(UTC)
        earlier = incidents.open_incident(store, var, title="Gammal störning", classification=3, by="it",
                                          now=now - timedelta(hours=5))
        for state in ("mitigated", "resolved", "closed"):
            incidents.change_state(store, var, earlier, state, "it", now - timedelta(hours=4))
        open_now = incidents.open_incident(store, var, title="Läkemedelslistan visas fel", classification=2,
                                           by="it", now=now - timedelta(minutes=1))
        flag = flags.CATALOGUE[0].name
        result = CliRunner().invoke(main, ["--database-url", url, "--var-dir", str(var), "flags", "off", flag,
                                           "--reason", "misstänkt orsak till störningen", "--by", "sysf1"])
        assert result.exit_code == 0, result.output
        assert timeline.ingest(store, var) >= 1
        on_open = [e for e in timeline.entries(store, open_now) if e["kind"] == "flag.switched"]
        assert len(on_open) == 1 and flag in str(on_open[0]["summary"]) and "sysf1" in str(on_open[0]["summary"])
        assert "misstänkt orsak" in str(on_open[0]["summary"]) and not on_open[0]["manual"]
        assert not [e for e in timeline.entries(store, earlier) if e["kind"] == "flag.switched"]
    finally:
        store.close()


def test_a_new_installation_has_every_flag_on_recorded_as_by_installation(pg: PostgresInstance, tmp_path: Path) -> None:
    import psycopg

    with psycopg.connect(pg.url("postgres"), autocommit=True) as c:
        c.execute('DROP DATABASE IF EXISTS "flag_install" WITH (FORCE)')
        c.execute('CREATE DATABASE "flag_install"')
    url = pg.url("flag_install")
    result = CliRunner().invoke(main, ["--database-url", url, "--var-dir", str(tmp_path / "var"), "flags", "list"])
    assert result.exit_code == 0, result.output
    for f in flags.CATALOGUE:
        assert any(line.split()[:2] == [f.name, "PÅ"] for line in result.output.splitlines()), result.output
    with psycopg.connect(url) as conn:
        by = {r[0] for r in conn.execute("SELECT DISTINCT switched_by FROM feature_flag_switch")}
    assert by == {flags.INSTALLATION}
