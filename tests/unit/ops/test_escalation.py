"""Escalation decisions on built alarms: steps, skipping unstaffed roles, repeating, stopping on
acknowledgement, daytime-only by explicit rule (the chain on a clock is in tests/functional/ops)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from obruten.ops import alarms, escalation
from obruten.ops.escalation import Chain, Step

CHAIN = Chain("journal", (Step("it1", 5), Step("it2", 5), Step("tib", 10)))
T0 = datetime(2025, 1, 15, 2, 0, tzinfo=UTC)


def _alarm(**kw: object) -> alarms.Alarm:
    base = dict(id=7, rule="r", dedup_key="r:x", severity="critical", state="firing", summary="s", chain="journal",
                daytime_only=False, opened_at=T0, last_seen_at=T0, seen=1, acked_at=None, acked_by=None,
                resolved_at=None, resolved_by=None, step=-1, round=0, step_until=None, incident_id=None)
    base.update(kw)
    return alarms.Alarm(**base)  # type: ignore[arg-type]


def everyone(role: str) -> bool:
    return True


def test_first_step_notifies_the_first_role_and_says_when_it_escalates() -> None:
    d = escalation.decide(_alarm(), CHAIN, T0, everyone)
    assert (d.action, d.step, d.role, d.until) == ("notify", 0, "it1", T0 + timedelta(minutes=5))
    assert d.sentence.startswith("notified it1 (step 1 of chain journal, round 1) for alarm 7")


def test_waits_until_the_step_times_out_then_escalates() -> None:
    a = _alarm(step=0, step_until=T0 + timedelta(minutes=5))
    assert escalation.decide(a, CHAIN, T0 + timedelta(minutes=4), everyone).action == "wait"
    d = escalation.decide(a, CHAIN, T0 + timedelta(minutes=5), everyone)
    assert (d.action, d.role, d.step) == ("notify", "it2", 1)


def test_a_role_nobody_holds_is_skipped_at_once() -> None:
    d = escalation.decide(_alarm(), CHAIN, T0, lambda role: role == "tib")
    assert (d.role, d.step) == ("tib", 2)
    assert "nobody holds it1, it2" in d.sentence


def test_the_chain_repeats_from_the_top() -> None:
    a = _alarm(step=2, step_until=T0)
    d = escalation.decide(a, CHAIN, T0, everyone)
    assert (d.role, d.step, d.round) == ("it1", 0, 1)


def test_an_acknowledged_alarm_stops_the_chain() -> None:
    d = escalation.decide(_alarm(state="acknowledged", acked_by="it"), CHAIN, T0, everyone)
    assert d.action == "stop" and "acknowledged by it" in d.sentence


def test_daytime_only_is_explicit_and_holds_at_night() -> None:
    night = datetime(2025, 1, 15, 1, 0, tzinfo=UTC)  # 02:00 in Stockholm
    assert escalation.decide(_alarm(daytime_only=True), CHAIN, night, everyone).action == "hold"
    assert escalation.decide(_alarm(), CHAIN, night, everyone).action == "notify"
