"""Files holding patient data are readable by the service's own user only (0700 folders, 0600 files)."""

from __future__ import annotations

import stat
from pathlib import Path

from obruten.ward_agent.downtime_store import DowntimeStore
from obruten.wardkit.store import KitStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_kept_kit_is_private(tmp_path: Path) -> None:
    store = KitStore(tmp_path / "kits", durable=False)
    staged = store.staging("20261130T0300")
    (staged / "kit.json").write_text('{"patients": ["19121212-1212"]}')  # written with the usual umask
    (staged / "manifest.json").write_text("{}")
    kit = store.add(staged, "20261130T0300")
    assert mode(tmp_path / "kits") == 0o700
    assert mode(kit.path) == 0o700
    assert {p.name: mode(p) for p in kit.path.iterdir()} == {"kit.json": 0o600, "manifest.json": 0o600}


def test_the_downtime_store_is_private(tmp_path: Path) -> None:
    store = DowntimeStore(tmp_path / "agent" / "downtime.sqlite", "AVD-1", "pc-1")
    try:
        files = {p.name: mode(p) for p in (tmp_path / "agent").iterdir()}
    finally:
        store.close()
    assert mode(tmp_path / "agent") == 0o700
    assert files and all(m == 0o600 for m in files.values()), files
