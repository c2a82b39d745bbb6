"""The schedule rules a nurse and a physician rely on: slots of the day, signing a slot twice,
a PRN maximum per 24 h, a plausible time given, and times consistent with "x N"."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from obruten.record.dose_schedule import day_slots, order_rules, signing_rules, times_per_day

# 2026-11-30 is winter time: Stockholm = UTC+1, so 08:00 local = 07:00 UTC
NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)        # 10:30 in Stockholm
SLOT_08 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
FURIX = {"as_needed": False, "times": ["08:00"], "start_at": NOW - timedelta(days=2), "stop_at": None}
PRIMPERAN = {"as_needed": True, "times": [], "prn_max_per_24h": 3, "start_at": NOW - timedelta(days=2), "stop_at": None}


def _keys(broken: list) -> list[str]:
    return [b.key for b in broken]


def test_frequency_must_match_the_number_of_times() -> None:
    assert times_per_day("x 3") == 3 and times_per_day("1 x 2") == 2 and times_per_day("3 ggr") == 3
    assert times_per_day("vid behov") is None
    one_time = order_rules(frequency="x 3", times=[time(8)], as_needed=False, prn_max=None, start_at=None, stop_at=None)
    assert _keys(one_time) == ["med.error.times_mismatch"] and one_time[0].field == "times"
    assert order_rules(frequency="x 3", times=[time(8), time(14), time(20)], as_needed=False, prn_max=None,
                       start_at=None, stop_at=None) == []
    assert _keys(order_rules(frequency="morgon", times=[time(8)], as_needed=False, prn_max=None, start_at=None,
                             stop_at=None)) == ["med.error.frequency_form"]


def test_prn_needs_a_maximum_and_no_times() -> None:
    assert _keys(order_rules(frequency="vid behov", times=[], as_needed=True, prn_max=None, start_at=None,
                             stop_at=None)) == ["med.error.prn_max_needed"]
    assert order_rules(frequency="vid behov, max x 3", times=[], as_needed=True, prn_max=3, start_at=None,
                       stop_at=None) == []


def test_todays_slots_and_their_states() -> None:
    signed = [{"slot_at": SLOT_08.isoformat(), "outcome": "given", "clinical_at": SLOT_08.isoformat()}]
    order = {**FURIX, "times": ["08:00", "14:00", "20:00"]}
    states = [s["state"] for s in day_slots(order, signed, NOW)]
    assert states == ["given", "planned", "planned"]
    assert [s["state"] for s in day_slots(order, [], NOW)] == ["overdue", "planned", "planned"]
    assert [s["state"] for s in day_slots(order, [], NOW + timedelta(hours=3))][:2] == ["overdue", "due"]
    not_given = [{**signed[0], "outcome": "not_given"}]
    assert day_slots(order, not_given, NOW)[0]["state"] == "not_given"


def test_a_slot_signed_twice_needs_a_confirmation_with_a_reason() -> None:
    first = signing_rules(FURIX, [], outcome="given", slot=SLOT_08, given_at=NOW - timedelta(minutes=1), now=NOW,
                          confirm_reason=None)
    assert first == []
    done = [{"slot_at": SLOT_08, "outcome": "given", "clinical_at": NOW - timedelta(minutes=1), "signed_by_name": "Sam"}]
    again = signing_rules(FURIX, done, outcome="given", slot=SLOT_08, given_at=NOW, now=NOW, confirm_reason=None)
    assert _keys(again) == ["med.confirm.slot_signed"] and again[0].field == "confirm_reason"
    assert signing_rules(FURIX, done, outcome="given", slot=SLOT_08, given_at=NOW, now=NOW,
                         confirm_reason="Kräktes upp första dosen") == []


def test_a_scheduled_dose_names_a_real_slot() -> None:
    assert _keys(signing_rules(FURIX, [], outcome="given", slot=None, given_at=NOW, now=NOW,
                               confirm_reason=None)) == ["med.error.slot_needed"]
    assert _keys(signing_rules(FURIX, [], outcome="given", slot=SLOT_08 + timedelta(hours=1), given_at=NOW, now=NOW,
                               confirm_reason=None)) == ["med.error.not_a_slot"]


def test_prn_beyond_its_maximum_in_24_hours_needs_a_confirmation() -> None:
    given = [{"outcome": "given", "clinical_at": NOW - timedelta(minutes=m)} for m in (3, 2, 1)]
    assert signing_rules(PRIMPERAN, given[:2], outcome="given", slot=None, given_at=NOW, now=NOW,
                         confirm_reason=None) == []
    fourth = signing_rules(PRIMPERAN, given, outcome="given", slot=None, given_at=NOW, now=NOW, confirm_reason=None)
    assert _keys(fourth) == ["med.confirm.prn_max"] and fourth[0].values["max"] == 3
    old = [{"outcome": "given", "clinical_at": NOW - timedelta(hours=25)}] * 3  # outside the 24 h window
    assert signing_rules(PRIMPERAN, old, outcome="given", slot=None, given_at=NOW, now=NOW, confirm_reason=None) == []
    assert signing_rules(PRIMPERAN, given, outcome="not_given", slot=None, given_at=NOW, now=NOW,
                         confirm_reason=None) == []


def test_the_time_given_is_bounded() -> None:
    future = signing_rules(FURIX, [], outcome="given", slot=SLOT_08, given_at=NOW + timedelta(minutes=6), now=NOW,
                           confirm_reason=None)
    assert _keys(future) == ["med.error.given_in_future"]
    assert signing_rules(FURIX, [], outcome="given", slot=SLOT_08, given_at=NOW + timedelta(minutes=4), now=NOW,
                         confirm_reason=None) == []
    late = signing_rules(FURIX, [], outcome="given", slot=SLOT_08, given_at=NOW - timedelta(hours=12, minutes=1),
                         now=NOW, confirm_reason=None)
    assert "med.error.given_too_early" in _keys(late)


def test_a_dose_hours_ahead_cannot_be_signed_yet() -> None:
    evening = {**FURIX, "times": ["08:00", "20:00"]}
    slot_20 = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)  # 20:00 in Stockholm, 9.5 h after NOW
    assert _keys(signing_rules(evening, [], outcome="given", slot=slot_20, given_at=NOW, now=NOW,
                               confirm_reason=None)) == ["med.error.slot_not_near"]
    assert signing_rules(evening, [], outcome="given", slot=slot_20, given_at=slot_20 - timedelta(minutes=50),
                         now=slot_20 - timedelta(minutes=50), confirm_reason=None) == []
