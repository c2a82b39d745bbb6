"""Plan, apply and roll back an upgrade across every store, with the journal's feature flags."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from obruten.platform import events
from obruten.platform.errors import ObrutenError
from obruten.platform.flags import REGION, Switch, state
from obruten.platform.private import private_dir
from obruten.platform.progress import Say
from obruten.record import flags as catalogue
from obruten.upgrade import snapshot as snapshots
from obruten.upgrade import stores
from obruten.upgrade.stores import StorePlan, StoreRef

RELEASE = catalogue.RELEASE
UNRECORDED = "unrecorded"  # a database upgraded before upgrades were recorded


class UpgradeError(ObrutenError, RuntimeError):
    """The upgrade or rollback cannot go ahead; nothing was changed. The message says what to do."""


@dataclass
class FlagChange:
    flag: str
    now: str  # "absent" | "on" | "off" | "on for units …"
    after: str
    what: str  # the flag's line (Swedish)


@dataclass
class Plan:
    from_release: str
    to_release: str
    new_installation: bool
    stores: list[StorePlan]
    flags: list[FlagChange] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return any(s.pending or s.adopted for s in self.stores)


# ---- reading the journal ------------------------------------------------------------------------
def _recorded_switches(url: str) -> list[Switch]:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        missing = conn.execute("SELECT to_regclass('feature_flag_switch') IS NULL").fetchone()
        if missing and missing[0]:
            return []
        rows = conn.execute("SELECT flag, unit_id, enabled, switched_at, switched_by, reason"
                            " FROM feature_flag_switch ORDER BY id").fetchall()
    return [Switch(*row) for row in rows]


def last_run(url: str) -> dict[str, Any] | None:
    """The newest upgrade record (apply or rollback), or None."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT to_regclass('upgrade_run') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        cur = conn.execute("SELECT id, at, action, from_release, to_release, migrations, flags, snapshot"
                           " FROM upgrade_run ORDER BY id DESC LIMIT 1")
        row = cur.fetchone()
        names = [c.name for c in cur.description or ()]
    return dict(zip(names, row, strict=True)) if row else None


def _describe(switches: list[Switch], flag: str) -> str:
    if not any(s.flag == flag for s in switches):
        return "absent"
    units = sorted({s.unit for s in switches if s.flag == flag and s.unit != REGION and state(switches, flag, s.unit)})
    region = "on" if state(switches, flag) else "off"
    return region + (f" (on for {', '.join(units)})" if units and region == "off" else "")


# ---- plan ---------------------------------------------------------------------------------------
def make_plan(refs: list[StoreRef]) -> Plan:
    """What ``apply`` would do; changes nothing."""
    store_plans = [stores.plan(ref) for ref in refs]
    journal = next(ref for ref in refs if ref.name == "journal")
    url = str(journal.location)
    new = store_plans[0].current is None
    switches = [] if new else _recorded_switches(url)
    previous = None if new else last_run(url)
    flags = []
    for f in catalogue.CATALOGUE:
        now = _describe(switches, f.name)
        after = "on (new installation)" if new else (now if now != "absent" else "off (new: off until switched)")
        flags.append(FlagChange(f.name, "absent" if new else now, after, f.sv))
    known = {f.name for f in catalogue.CATALOGUE}
    for name in sorted({s.flag for s in switches} - known):
        flags.append(FlagChange(name, _describe(switches, name), "ignored (not in this release)", ""))
    from_release = "none (new installation)" if new else (previous["to_release"] if previous else UNRECORDED)
    return Plan(from_release, RELEASE, new, store_plans, flags)


def render(plan: Plan) -> str:
    lines = [f"Upgrade {plan.from_release} → {plan.to_release}"]
    for s in plan.stores:
        lines.append(f"\n{s.store} store (now at {s.current or 'nothing'}):")
        if s.newer:
            lines.append(f"  REFUSED: the store is newer than this release ({', '.join(s.newer)})")
        for name in s.adopted:
            lines.append(f"  adopt   {name}  (made before versioning: tables checked and recorded, not re-run)")
        for name, can_undo in s.pending:
            undo = ("kept on rollback (the previous release made it too)" if name in s.baseline else
                    "can be undone" if can_undo else "CANNOT be undone (restore the snapshot)")
            lines.append(f"  migrate {name}  {undo}")
        if not (s.pending or s.adopted or s.newer):
            lines.append("  up to date")
    lines.append("\nFeature flags (nothing else changes behaviour):")
    for f in plan.flags:
        change = "unchanged" if f.now == f.after else f"{f.now} → {f.after}"
        lines.append(f"  {f.flag:<20} {change}" + (f"\n    {f.what}" if f.what else ""))
    return "\n".join(lines)


# ---- apply --------------------------------------------------------------------------------------
def _record(url: str, var_dir: Path, row: dict[str, Any]) -> None:
    """The upgrade record: a row in the journal if its table is there, a file, and a system event."""
    folder = private_dir(var_dir / "upgrade")
    (folder / f"{row['at'].replace(':', '')}-{row['action']}.json").write_text(json.dumps(row, indent=2))
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT to_regclass('upgrade_run') IS NOT NULL").fetchone()
        if exists and exists[0]:
            conn.execute("INSERT INTO upgrade_run (action, from_release, to_release, migrations, flags, snapshot,"
                         " by_whom, node) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                         (row["action"], row["from_release"], row["to_release"], json.dumps(row["migrations"]),
                          json.dumps(row["flags"]), row["snapshot"], row["by"], row["node"]))
    verb = "uppgradering" if row["action"] == "apply" else "återställning"
    events.emit(var_dir, f"upgrade.{row['action']}", f"Obruten {verb} {row['from_release']} → {row['to_release']} "
                f"({row['by']}; ögonblicksbild {row['snapshot'] or 'ingen'})", "journal",
                migrations=row["migrations"], flags=row["flags"])


def apply(refs: list[StoreRef], var_dir: Path, by: str, say: Say, cluster_root: Path | None = None,
          snapshot: bool = True) -> dict[str, Any]:
    plan = make_plan(refs)
    refused = [s for s in plan.stores if s.newer]
    if refused:
        raise UpgradeError("; ".join(f"the {s.store} store is newer than this release ({', '.join(s.newer)})"
                                     for s in refused) + ": nothing was changed")
    url = str(refs[0].location)
    if not plan.pending:
        say(f"Every store is at {RELEASE}: nothing to do")
        return {}
    taken = snapshots.take(url, var_dir, say, cluster_root) if snapshot and not plan.new_installation else None
    if taken:
        say(f"Snapshot {taken.describe()} in {taken.seconds:.1f} s")
    done: dict[str, Any] = {}
    for ref, sp in zip(refs, plan.stores, strict=True):
        applied = stores.migrate(ref)
        done[ref.name] = {"from": sp.current, "applied": applied, "adopted": sp.adopted}
        say(f"{ref.name}: {', '.join(applied) or 'nothing to run'}" + (f" (adopted {', '.join(sp.adopted)})"
                                                                         if sp.adopted else ""))
    if plan.new_installation:
        async def on() -> None:
            async with await psycopg.AsyncConnection.connect(url) as conn:
                await catalogue.install_defaults(conn, var_dir)
        asyncio.run(on())
    new = [f.flag for f in plan.flags if f.now == "absent"]
    row = {"action": "apply", "at": datetime.now(UTC).isoformat(timespec="seconds"), "from_release": plan.from_release,
           "to_release": RELEASE, "migrations": done,
           "flags": {"new": new, "switched": [{"flag": n, "unit": None, "on": True} for n in new]
                     if plan.new_installation else []},
           "snapshot": taken.describe() if taken else "", "by": by, "node": socket.gethostname(),
           "snapshot_s": round(taken.seconds, 3) if taken else None}
    _record(url, var_dir, row)
    return row


# ---- rollback -----------------------------------------------------------------------------------
def rollback(refs: list[StoreRef], var_dir: Path, by: str, say: Say, dry_run: bool = False) -> dict[str, Any]:
    """Undo the last ``apply``: switch its new flags off, then undo its migrations in every store
    (newest first). Checks every store first: if any migration cannot be undone, nothing is changed."""
    url = str(refs[0].location)
    last = last_run(url)
    if last is None or last["action"] != "apply":
        raise UpgradeError("no upgrade to roll back (the last recorded one was "
                           f"{'a rollback' if last else 'never made'}); nothing was changed")
    undo: dict[str, list[str]] = {}
    blocked: list[str] = []
    for ref in refs:
        names = last["migrations"].get(ref.name, {}).get("applied", [])
        present, cannot = stores.undoable(ref, names)
        undo[ref.name] = present
        blocked += [f"{ref.name} {n}" for n in cannot]
    if blocked:
        raise UpgradeError(
            f"the upgrade to {last['to_release']} cannot be rolled back keeping the data: {', '.join(blocked)} "
            "have no backward migration. Nothing was changed. To go back, restore the pre-upgrade snapshot "
            f"{last['snapshot'] or '(none was taken)'} (docs/operations.md, 'Upgrades': 'Restoring the snapshot')")
    switches = _recorded_switches(url)
    new_flags = list(last["flags"].get("new", []))
    to_off = [(f, u) for f in new_flags for u in sorted({s.unit for s in switches if s.flag == f})
              if state(switches, f, u or None)]
    if dry_run:
        return {"undo": undo, "flags_off": to_off}

    async def off() -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            for flag, unit in to_off:
                await catalogue.switch(conn, flag, False, unit=unit or None, by=by,
                                       reason=f"återställning till {last['from_release']}", var_dir=var_dir)
    asyncio.run(off())
    done: dict[str, Any] = {}
    for ref in reversed(refs):  # the journal last: its record of the upgrade stays readable until then
        undone = stores.roll_back(ref, undo[ref.name])
        done[ref.name] = {"undone": undone}
        say(f"{ref.name}: undid {', '.join(undone) or 'nothing'}")
    row = {"action": "rollback", "at": datetime.now(UTC).isoformat(timespec="seconds"),
           "from_release": last["to_release"], "to_release": last["from_release"], "migrations": done,
           "flags": {"new": [], "switched": [{"flag": f, "unit": u or None, "on": False} for f, u in to_off]},
           "snapshot": last["snapshot"], "by": by, "node": socket.gethostname()}
    _record(url, var_dir, row)
    return row


def as_json(plan: Plan) -> str:
    return json.dumps(asdict(plan), indent=2, ensure_ascii=False)
