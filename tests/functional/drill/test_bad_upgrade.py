"""The bad-upgrade drill end to end on its own throw-away PostgreSQL: the new flag hangs the journal,
the probe sees it, staff are told, flag off + cancel bring it back, the schema rolls back, and no
acknowledged write is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from obruten.drill import registry

pytestmark = pytest.mark.fault


def test_bad_upgrade_drill_detects_tells_staff_recovers_and_loses_nothing(tmp_path: Path) -> None:
    said: list[str] = []
    report = registry.get("bad-upgrade").run(registry.DrillRequest(
        config=None,  # type: ignore[arg-type]  # the drill brings its own database
        topology=lambda: None,  # type: ignore[arg-type,return-value]
        report_dir=tmp_path, say=said.append, timeout=60))
    md = report.to_markdown()
    assert report.passed, md
    assert report.writes_acked > 0 and report.writes_lost == 0  # type: ignore[attr-defined]
    assert report.staff_told and report.detect_s is not None and report.recover_s is not None  # type: ignore[attr-defined]
    assert "Time to detect" in md and list(tmp_path.glob("bad-upgrade-*.json"))
