"""`obruten upgrade`: the plan names every migration and flag, apply migrates every store and
records it, rollback returns to the previous release or refuses before changing anything."""

from __future__ import annotations

import json
import shutil
import sqlite3
from importlib import resources
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from obruten.cli import main
from obruten.devtools import seed
from obruten.ops.store import Store
from obruten.platform import migrations
from obruten.platform.pgserver import PostgresInstance
from obruten.record import flags
from obruten.record.schema import settle_roles
from obruten.upgrade import run, stores

NEWEST = migrations.load("obruten.record.schema")[-1].name


def previous_release(tmp: Path, upto: str) -> Path:
    """The journal's migrations as a release that ended at ``upto`` shipped them."""
    folder = tmp / f"journal-{upto}"
    folder.mkdir()
    for f in resources.files("obruten.record.schema").iterdir():
        if f.name.endswith(".sql") and f.name[:4].isdigit() and f.name[:len(upto)] <= upto:
            (folder / f.name).write_text(f.read_text(encoding="utf-8"))
    return folder


def database_at(pg: PostgresInstance, name: str, folder: Path, roles: bool = False) -> str:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    url = pg.url(name)
    migrations.migrate(url, folder)
    if roles:  # this release's roles.sql names tables of every migration up to it: only for the newest
        settle_roles(url)
    return url


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_plan_apply_and_rollback_of_a_real_release(pg: PostgresInstance, tmp_path: Path) -> None:
    url = database_at(pg, "upgrade_real", previous_release(tmp_path, "0075"))  # the release before this one
    seed.generate(url, 100, seed=3)
    ops_file = tmp_path / "var" / "ops" / "ops.sqlite3"
    ops_file.parent.mkdir(parents=True)
    with sqlite3.connect(ops_file) as legacy:  # an ops store from before versioning
        legacy.executescript("\n".join(m.up for m in migrations.load("obruten.ops.schema") if m.name <= "0001_ops"))
    legacy.close()
    refs = [stores.journal(url), stores.ops(ops_file)]

    plan = run.make_plan(refs)
    text = run.render(plan)
    journal, ops = plan.stores
    assert journal.current == "0075_feature_flags" and not plan.new_installation
    assert [n for n, _ in journal.pending] == [m.name for m in migrations.load("obruten.record.schema")
                                               if m.name > "0075_feature_flags"]
    assert ops.adopted == ["0001_ops"] and ("0002_analysis", True) not in ops.pending  # no down: tables w/ data
    for f in flags.CATALOGUE:  # every flag of the release is named, and stays off
        assert f.name in text and f.sv in text
        assert next(c for c in plan.flags if c.flag == f.name).after.startswith("off")
    assert "migrate 0076_upgrade_record  can be undone" in text

    row = run.apply(refs, tmp_path / "var", "tekniker1", lambda _: None, snapshot=False)
    assert row["migrations"]["journal"]["applied"][-1] == NEWEST
    assert {"upgrade_run", "feature_flag_switch"} <= _tables(url)
    assert run.last_run(url)["to_release"] == flags.RELEASE  # type: ignore[index]
    assert not any(flags.BY_NAME) or run._recorded_switches(url) == []  # nothing switched on by an upgrade
    store = Store(ops_file)
    assert store.migrated == [] and store.all("SELECT * FROM status_message") == []
    store.close()
    assert run.make_plan(refs).pending is False
    events = (tmp_path / "var").rglob("*.jsonl")
    assert any("upgrade.apply" in p.read_text() for p in events)

    # switch a new flag on for one unit, then roll back: the flag goes off first, then the schema
    assert CliRunner().invoke(main, ["--database-url", url, "--var-dir", str(tmp_path / "var"), "flags", "on",
                                     flags.CATALOGUE[0].name, "--reason", "pilot"]).exit_code == 0
    undone = run.rollback(refs, tmp_path / "var", "tekniker1", lambda _: None)
    assert undone["flags"]["switched"] == [{"flag": flags.CATALOGUE[0].name, "unit": None, "on": False}]
    assert "upgrade_run" not in _tables(url) and "feature_flag_switch" in _tables(url)
    with psycopg.connect(url) as conn:
        assert max(r[0] for r in conn.execute("SELECT name FROM schema_migration")) == "0075_feature_flags"
        assert conn.execute("SELECT count(*) FROM patient").fetchone()[0] == 100  # type: ignore[index]
    records = sorted((tmp_path / "var" / "upgrade").glob("*.json"))
    assert [json.loads(p.read_text())["action"] for p in records] == ["apply", "rollback"]


def test_rollback_that_would_lose_data_refuses_before_changing_anything(pg: PostgresInstance, tmp_path: Path) -> None:
    url = database_at(pg, "upgrade_lossy", previous_release(tmp_path, "0001"), roles=False)
    refs = [stores.journal(url), stores.ops(tmp_path / "ops.sqlite3")]
    assert ("0025_postreg", False) in run.make_plan(refs).stores[0].pending
    assert "0025_postreg  CANNOT be undone" in run.render(run.make_plan(refs))
    run.apply(refs, tmp_path / "var", "tekniker1", lambda _: None, snapshot=False)
    before = _tables(url)
    with pytest.raises(run.UpgradeError, match=r"journal 0025_postreg, journal 0050_adt, .*have no backward migration. Nothing was changed"):
        run.rollback(refs, tmp_path / "var", "tekniker1", lambda _: None)
    assert _tables(url) == before
    result = CliRunner().invoke(main, ["--database-url", url, "--var-dir", str(tmp_path / "var"), "upgrade",
                                       "rollback", "--ops-store", str(tmp_path / "ops.sqlite3")])
    assert result.exit_code == 1 and "restore the pre-upgrade snapshot" in result.output


def test_apply_takes_a_restorable_snapshot_and_a_restore_point(tmp_path: Path) -> None:
    from pgtools import free_port, reachable_tempdir

    base = reachable_tempdir("obruten-upgrade-")
    instance = PostgresInstance.at(base, free_port())
    instance.init()
    instance.start()
    try:
        instance.ensure_database()
        url = instance.url()
        migrations.migrate(url, previous_release(tmp_path, "0045"))
        var = tmp_path / "var"
        result = CliRunner().invoke(main, ["--database-url", url, "--var-dir", str(var), "upgrade", "apply",
                                           "--ops-store", str(var / "ops" / "ops.sqlite3")])
        assert result.exit_code == 0, result.output
        snapshot = next((var / "upgrade" / "snapshots").iterdir())
        assert (snapshot / "backup_label").exists() and (snapshot / "PG_VERSION").exists()
        record = run.last_run(url)
        assert record is not None and snapshot.name in record["snapshot"] and "restore point" in record["snapshot"]
        assert "Upgraded to" in result.output and "0076_upgrade_record" in result.output
    finally:
        instance.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)
