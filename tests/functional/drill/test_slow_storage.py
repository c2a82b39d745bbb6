"""The primary's write path frozen under load (SIGSTOP of our OWN PostgreSQL, never the shared
one): the write-path probe must see it, an alarm and an incident must follow within the rule's
duration plus the probe's timeout, well inside the 60 s goal."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace

import pytest

from obruten.drill import slow_storage as drill_slow_storage
from obruten.ops import alarms, incidents, preparedness
from obruten.ops.clock import SystemClock
from obruten.ops.probe_database import JournalWriteProbe
from obruten.ops.rules import Rule
from obruten.ops.service import OpsService
from obruten.ops.settings import Settings, default_rules
from obruten.ops.store import Store
from obruten.platform import events
from obruten.platform.pgserver import DATABASE, PostgresInstance
from obruten.record.schema import migrate
from pgtools import free_port, reachable_tempdir

RULE_FOR_S = 5.0
PROBE_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def own_pg() -> Iterator[PostgresInstance]:
    base = reachable_tempdir("obruten-ops-freeze-")
    instance = PostgresInstance.at(base, free_port())
    instance.init({"shared_buffers": "32MB", "max_connections": "40"})
    instance.start()
    try:
        instance.ensure_database(DATABASE)
        migrate(instance.url())
        yield instance
    finally:
        instance.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


def test_probe_writes_and_reads_back(own_pg: PostgresInstance) -> None:
    [finding] = JournalWriteProbe(own_pg.url(), timeout_s=PROBE_TIMEOUT_S).check(SystemClock().now())
    assert finding.status == "ok", finding.detail
    assert finding.value is not None and finding.value < 500


def test_slow_write_path_is_a_finding(own_pg: PostgresInstance) -> None:
    [finding] = JournalWriteProbe(own_pg.url(), slow_ms=0).check(SystemClock().now())
    assert finding.status == "slow"


def test_frozen_primary_raises_alarm_and_incident_in_time(own_pg: PostgresInstance, tmp_path) -> None:
    rules = tuple(replace(r, for_s=RULE_FOR_S) if r.name == "journal-write" else r for r in default_rules())
    assert any(isinstance(r, Rule) and r.name == "journal-write" for r in rules)
    settings = Settings(var_dir=tmp_path / "var", journal_url=own_pg.url(), write_timeout_s=PROBE_TIMEOUT_S,
                        backup_probe=False, rules=rules)
    store = Store(settings.store_file)
    service = OpsService(settings, store=store, channels={})
    try:
        service.tick()
        assert not alarms.active(store), "no alarm while the primary is healthy"
        report = drill_slow_storage.run(own_pg, store, var_dir=settings.var_dir, mode="freeze",
                                        tick=service.tick, limit_s=45, recover_limit_s=45)
    finally:
        # whatever happened, the server must run again (the drill SIGCONTs in a finally too)
        drill_slow_storage.thaw(own_pg)
        store.close()
    print("\n" + report.sentence())
    assert report.detected, report.sentence()
    budget = RULE_FOR_S + PROBE_TIMEOUT_S + 1.0 + settings.write_timeout_s + 2.0  # duration + one probe round + slack
    assert report.detect_s is not None and report.detect_s <= budget, report.sentence()
    assert report.passed  # ≤ 60 s
    assert report.incident_id is not None
    store = Store(settings.store_file)
    inc = incidents.get(store, report.incident_id)
    assert inc is not None and inc.auto and inc.classification == 1 and inc.affected_systems == ["journal"]
    assert report.recovered_s is not None, "the alarm resolves once the primary answers again"
    # the stabsläge proposal was made, and withdrawn once the alarm behind it resolved (it stops ringing)
    assert preparedness.open_proposals(store) == []
    proposal = store.one("SELECT level, state, reason FROM preparedness_proposal WHERE incident_id = ?",
                         (report.incident_id,))
    assert proposal is not None and proposal["level"] == "stabsläge" and proposal["state"] == "declined"
    assert proposal["reason"] == preparedness.WITHDRAWN
    assert report.writes_before > 0
    store.close()


def test_throttled_primary_alarms_and_recovers(own_pg: PostgresInstance, tmp_path) -> None:
    """Throttle mode: the server keeps answering, slowly (SIGSTOP/SIGCONT duty cycle); the
    write-path rule must fire on the slow findings and resolve once the throttle ends."""
    rules = tuple(replace(r, for_s=3.0) if r.name == "journal-write" else r for r in default_rules())
    settings = Settings(var_dir=tmp_path / "var", journal_url=own_pg.url(), write_timeout_s=PROBE_TIMEOUT_S,
                        write_slow_ms=200, backup_probe=False, rules=rules)
    store = Store(settings.store_file)
    service = OpsService(settings, store=store, channels={})
    try:
        report = drill_slow_storage.run(own_pg, store, var_dir=settings.var_dir, mode="throttle",
                                        tick=service.tick, limit_s=45, recover_limit_s=45)
    finally:
        drill_slow_storage.thaw(own_pg)
    try:
        print("\n" + report.sentence())
        assert report.mode == "throttle" and report.detected, report.sentence()
        assert report.writes_during > 0, "a throttled server still takes some writes"
        alarm = alarms.get(store, report.alarm_id)  # type: ignore[arg-type]
        assert alarm is not None and alarm.rule == "journal-write" and alarm.state == "resolved"
        assert report.recovered_s is not None, "the alarm resolves once the throttle ends"
    finally:
        store.close()


RULE_TOML = """tick_s = 1.0
write_timeout_s = 2.0
[[rules]]
name = "journal-write"
probe = "journal_write"
statuses = ["slow", "down"]
for_s = 3
severity = "critical"
chain = "journal"
title = "Skrivvägen: {detail}"
incident = true
classification = 1
propose_level = "stabsläge"
"""


def test_drill_command_writes_json_and_markdown(own_pg: PostgresInstance, tmp_path, monkeypatch) -> None:
    """`obruten drill run slow-storage` against the embedded database of a var dir (our own server,
    laid out as `obruten db start` lays it out), judged by the ops settings found there."""
    import json

    from click.testing import CliRunner

    from obruten.cli import main

    var_dir = own_pg.data_dir.parent
    (var_dir / "ops").mkdir(exist_ok=True)
    (var_dir / "ops" / "ops.toml").write_text(RULE_TOML)
    monkeypatch.setenv("OBRUTEN_PG_PORT", str(own_pg.port))
    reports = tmp_path / "reports"
    try:
        result = CliRunner().invoke(main, ["--var-dir", str(var_dir), "drill", "run", "slow-storage",
                                           "--report-dir", str(reports), "--timeout", "45"])
    finally:
        drill_slow_storage.thaw(own_pg)
        (var_dir / "ops" / "ops.toml").unlink()
    assert result.exit_code == 0, result.output
    assert "froze the primary" in result.output and "Report:" in result.output
    [json_file] = reports.glob("*-slow-storage-freeze.json")
    data = json.loads(json_file.read_text())
    assert data["scenario"] == "slow-storage" and data["passed"] and data["detect_s"] is not None
    kinds = [e.kind for _, e in events.read(var_dir, 0)]
    assert "drill.fault_injected" in kinds and "alarm.fired" not in kinds  # the judge's alarms stay in scratch
    [md_file] = reports.glob("*-slow-storage-freeze.md")
    assert md_file.read_text().startswith("# Drill `slow-storage` (freeze) — PASSED")
    refused = CliRunner().invoke(main, ["--database-url", "postgresql://u:p@127.0.0.1:1/x", "drill", "run",
                                        "slow-storage"])
    assert refused.exit_code == 1 and "needs the embedded database" in refused.output
