"""Which switch decides: the newest for the unit, else the newest region-wide one, else off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from obruten.platform.flags import REGION, FlagCache, Switch, state

T0 = datetime(2026, 11, 30, 8, tzinfo=UTC)


def sw(flag: str, unit: str, on: bool, minutes: int) -> Switch:
    return Switch(flag, unit, on, T0 + timedelta(minutes=minutes), "it", "test")


def test_off_without_a_switch() -> None:
    assert not state([], "kit_mar_grid") and not state([], "kit_mar_grid", "MED-1")


def test_a_unit_switch_beats_the_region_and_the_newest_wins() -> None:
    switches = [sw("kit_mar_grid", REGION, True, 1), sw("kit_mar_grid", "MED-1", False, 2),
                sw("other", "MED-1", True, 3)]
    assert state(switches, "kit_mar_grid") and state(switches, "kit_mar_grid", "KIR-1")
    assert not state(switches, "kit_mar_grid", "MED-1")
    switches.append(sw("kit_mar_grid", "MED-1", True, 4))
    assert state(switches, "kit_mar_grid", "MED-1")
    switches.append(sw("kit_mar_grid", REGION, False, 5))
    assert state(switches, "kit_mar_grid", "MED-1") and not state(switches, "kit_mar_grid", "KIR-1")


def test_the_cache_keeps_the_last_known_switches_when_the_database_fails() -> None:
    answers: list[object] = [[sw("f", REGION, True, 0)], RuntimeError("database down")]

    def load() -> list[Switch]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    cache = FlagCache(load, ttl=0)
    assert cache.on("f")
    assert cache.on("f")  # the load failed: still on
