"""Rules judge a window of findings: durations, intermittent slowness, no flapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from obruten.ops.findings import Finding
from obruten.ops.rules import Rule, RuleEngine

RULE = Rule("journal-write", "journal_write", ("slow", "down"), 20, "critical", "journal", "{detail}")
T0 = datetime(2025, 1, 15, 2, 0, tzinfo=UTC)


def _run(statuses: str, every_s: float = 1.0) -> list[tuple[float, bool]]:
    """Feed one finding per second ('s' slow, 'o' ok); return (second, firing) for each verdict."""
    engine = RuleEngine([RULE])
    out = []
    for i, code in enumerate(statuses):
        at = T0 + timedelta(seconds=i * every_s)
        status = {"s": "slow", "o": "ok", "d": "down"}[code]
        for v in engine.evaluate([Finding("journal_write", "primary", status, None, "", at)], at):
            out.append((i * every_s, v.firing))
    return out


def test_fires_only_after_the_duration() -> None:
    verdicts = _run("s" * 25)
    assert verdicts[0] == (20.0, True)


def test_intermittent_slowness_still_fires() -> None:
    verdicts = _run("sso" * 10)  # slow two probes in three: the F1 pattern of a struggling SAN
    assert min(t for t, firing in verdicts if firing) <= 21.0


def test_a_single_good_reading_does_not_clear_and_a_clean_window_does() -> None:
    verdicts = _run("s" * 21 + "o" + "s" + "o" * 25)
    assert not any(not firing for t, firing in verdicts if t <= 30)
    assert (max(t for t, firing in verdicts if not firing), False) in verdicts


def test_ok_findings_clear_at_once_when_nothing_was_bad() -> None:
    assert _run("oo") == [(0.0, False), (1.0, False)]


def _run_default(statuses: str) -> list[tuple[float, bool]]:
    from obruten.ops.settings import default_rules

    rule = next(r for r in default_rules() if r.name == "journal-write")
    engine = RuleEngine([rule])
    out = []
    for i, code in enumerate(statuses):
        at = T0 + timedelta(seconds=i)
        status = {"s": "slow", "o": "ok"}[code]
        for v in engine.evaluate([Finding("journal_write", "primary", status, None, "", at)], at):
            out.append((i, v.firing))
    return out


def test_default_write_rule_fires_on_throttled_storage_but_not_on_stray_slow_probes() -> None:
    # throttled I/O makes about 40 % of the synthetic writes slow: that is an outage for users
    assert any(firing for _, firing in _run_default("soo" * 20))
    # one slow write in five (a busy moment now and then) is not
    assert not any(firing for _, firing in _run_default("soooo" * 12))
