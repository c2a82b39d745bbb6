"""The slow-storage drill against the embedded journal database on this machine, with its judge
(``obruten drill run slow-storage``; reported like the cluster drills, JSON and Markdown under
``var/drills``).

By default the drill judges with its own in-process ops loop (the configured rules and tick, the
write-path probe only, no messages sent) and a throw-away store, so it never pages anyone through
the live ops store; ``--watch-ops-service`` instead waits for the running ops service's alarm.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from obruten.drill import slow_storage as drill_slow_storage
from obruten.drill.faults import DrillError
from obruten.drill.slow_storage import SlowStorageReport
from obruten.ops import settings as settings_mod
from obruten.ops.probe_database import JournalWriteProbe
from obruten.ops.service import OpsService
from obruten.ops.store import Store
from obruten.platform import http
from obruten.platform.config import Config, environment
from obruten.platform.database import embedded_instance
from obruten.platform.progress import Say


def run(cfg: Config, mode: str, directory: Path, limit_s: float, watch_service: bool, say: Say) -> SlowStorageReport:
    """Freeze or throttle the embedded primary and judge the ops rules' alarm; ``directory`` is
    where the report goes (the in-process judge keeps its scratch store there)."""
    if not cfg.embedded:
        raise DrillError("the slow-storage drill stops the primary's processes, so it needs the embedded "
                         "database on this machine (no --database-url); run it where the primary runs")
    pg = embedded_instance(cfg)
    if not pg.is_running():
        raise DrillError("the journal database is not running; start it with `obruten db start`")
    s = settings_mod.load(environ=environment(), var_dir=cfg.var_dir, journal_url=pg.url())
    if watch_service:
        _require_service(s)
        store, service = Store(s.store_location), None
        say(f"watching the running ops service at {s.base_url} (its store: {s.ops_database_url and 'PostgreSQL' or s.store_file})")
    else:
        # a scratch var dir: the in-process loop's store, session key and its alarm events stay out
        # of the live ones (the drill's own events still go to the real event file)
        scratch_dir = directory / f"slow-storage-{mode}-ops"
        shutil.rmtree(scratch_dir, ignore_errors=True)
        scratch = scratch_dir / "ops" / "ops.sqlite3"
        judge = replace(s, var_dir=scratch_dir, store_path=scratch, ops_database_url=None)
        store = Store(scratch)
        probe = JournalWriteProbe(pg.url(), prober="drill", slow_ms=s.write_slow_ms, timeout_s=s.write_timeout_s)
        service = OpsService(judge, store=store, channels={}, probes=[probe])
        rule = next((r for r in s.rules if r.name == "journal-write"), None)
        say(f"judging in-process: rule journal-write for {rule.for_s if rule else '?'} s, a probe round every "
            f"{s.tick_s:g} s, write path slow over {s.write_slow_ms:g} ms (scratch store {scratch})")
    try:
        report = drill_slow_storage.run(pg, store, var_dir=cfg.var_dir, mode=mode, limit_s=limit_s,
                                        tick=service.tick if service else None,
                                        every_s=s.tick_s if service else 1.0, say=say)
    finally:
        drill_slow_storage.thaw(pg)  # the drill resumes the server itself; this is the belt to its braces
        store.close()
    return report


def _require_service(s: settings_mod.Settings) -> None:
    url = f"{s.base_url}/healthz"
    next_step = "Start it with `obruten ops serve` (probing this journal), or leave out --watch-ops-service."
    try:
        with http.client(3) as client:
            client.get(url).raise_for_status()
    except http.FAILURES as exc:
        raise DrillError(http.unreachable("the ops service", url, exc, next_step)) from exc
