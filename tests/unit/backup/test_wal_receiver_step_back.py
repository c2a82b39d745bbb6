"""When pg_receivewal is refused at the old timeline's end again and again, the stream steps back
one whole segment (kept aside, never deleted) so streaming restarts before the switch point."""

from __future__ import annotations

from pathlib import Path

from obruten.backup.wal_receiver import step_back


def test_the_newest_whole_segment_and_the_partial_move_aside_and_nothing_else(tmp_path: Path) -> None:
    for name in ("000000010000000000000004", "000000010000000000000005", "000000010000000000000006.partial",
                 "00000001.history.tmp"):
        (tmp_path / name).write_text(name)
    moved = step_back(tmp_path)
    assert moved == ["000000010000000000000006.partial", "000000010000000000000005"]
    left = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert left == ["00000001.history.tmp", "000000010000000000000004"]
    kept = sorted(p.name.rsplit(".", 1)[0] for p in (tmp_path / ".stepped-back").iterdir())
    assert kept == ["000000010000000000000005", "000000010000000000000006.partial"]


def test_an_empty_stream_moves_nothing(tmp_path: Path) -> None:
    assert step_back(tmp_path) == []
