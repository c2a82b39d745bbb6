"""Editing the on-call rota: validation that writes nothing on bad input, every change recorded,
and each function editing only its own roles."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from obruten.ops import oncall as schedule
from obruten.ops import users
from obruten.ops.service import OpsService


def _count(service: OpsService) -> tuple[int, int]:
    shifts = service.store.one("SELECT count(*) AS n FROM oncall_shift")
    changes = service.store.one("SELECT count(*) AS n FROM oncall_change")
    return shifts["n"], changes["n"]  # type: ignore[index]


def _user(service: OpsService, username: str) -> int:
    return service.store.one("SELECT id FROM ops_user WHERE username = ?", (username,))["id"]  # type: ignore[index]


def test_add_shows_in_the_plan_and_is_recorded(service: OpsService) -> None:
    now = service.clock.now()
    sara = _user(service, "sysf")
    start, end = now + timedelta(days=2), now + timedelta(days=2, hours=8)
    shift_id = schedule.add(service.store, service.var_dir, role="it2", user_id=sara, starts_at=start,
                            ends_at=end, who="it", now=now, allow_overlap=True)
    [olof, new] = schedule.plan(service.store, now)["it2"]
    assert (new.id, new.full_name, new.starts_at, new.ends_at) == (shift_id, "Sara Förvaltare", start, end)
    assert olof.holds(now) and not new.holds(now) and new.holds(start)
    assert [h.username for h in schedule.holders(service.store, "it2", start + timedelta(hours=1))] == ["it2", "sysf"]
    [change] = schedule.changes(service.store)
    assert (change["who"], change["action"], change["shift_id"], change["role"]) == ("it", "added", shift_id, "it2")
    entry = service.store.one("SELECT summary FROM timeline_entry WHERE kind = 'oncall.shift_added'")
    assert entry is not None and "Sara Förvaltare" in entry["summary"] and "IT-jour nivå 2" in entry["summary"]


@pytest.mark.parametrize(("start_h", "end_h", "overlap", "user", "message"), [
    (10, 9, True, "sysf", "end after it starts"),
    (-10, -5, True, "sysf", "wholly in the past"),
    (10, 20, False, "sysf", "overlaps another IT-jour nivå 2 shift"),
    (10, 20, True, "it2", "already holds IT-jour nivå 2"),
])
def test_bad_shifts_are_refused_and_nothing_is_written(service: OpsService, start_h: int, end_h: int,
                                                       overlap: bool, user: str, message: str) -> None:
    now = service.clock.now()
    before = _count(service)
    with pytest.raises(schedule.ShiftError, match=message):
        schedule.add(service.store, service.var_dir, role="it2", user_id=_user(service, user),
                     starts_at=now + timedelta(hours=start_h), ends_at=now + timedelta(hours=end_h), who="it",
                     now=now, allow_overlap=overlap)
    assert _count(service) == before
    with pytest.raises(schedule.ShiftError, match="unknown on-call role"):
        schedule.add(service.store, None, role="chef", user_id=1, starts_at=now, ends_at=None, who="it", now=now)
    with pytest.raises(schedule.ShiftError, match="not a date"):
        schedule.parse_local("i morgon")


def test_end_a_current_shift_and_cancel_a_future_one(service: OpsService) -> None:
    now = service.clock.now()
    [ida] = schedule.plan(service.store, now)["it1"]
    assert schedule.end(service.store, service.var_dir, ida.id, at=now, who="it", now=now) == "ended"
    assert schedule.holders(service.store, "it1", now) == []
    with pytest.raises(schedule.ShiftError, match="already ends"):
        schedule.end(service.store, service.var_dir, ida.id, at=now + timedelta(hours=1), who="it", now=now)
    future = schedule.add(service.store, None, role="it1", user_id=_user(service, "it"),
                          starts_at=now + timedelta(days=1), ends_at=None, who="it", now=now)
    assert schedule.end(service.store, service.var_dir, future, at=now, who="it", now=now) == "cancelled"
    assert schedule.get_shift(service.store, future) is None
    assert [c["action"] for c in schedule.changes(service.store)] == ["cancelled", "added", "ended"]
    with pytest.raises(schedule.ShiftError, match="in the past"):
        schedule.end(service.store, None, 1, at=now - timedelta(hours=2), who="it", now=now)


def test_each_function_edits_only_its_own_roles(service: OpsService, live, login) -> None:
    users.add_user(service.store, "it3", "Nils Natt", "it", "demo")
    tib = login(live.base, "tib", app="ops")
    tib_csrf = tib.csrf
    before = _count(service)
    form = {"role": "it1", "user_id": str(_user(service, "it3")), "starts_at": "2025-01-16T08:00",
            "ends_at": "2025-01-16T16:00", "allow_overlap": "1", "csrf": tib_csrf}
    refused = tib.post("/console/oncall/shifts", data=form)
    assert refused.status_code == 403 and "Inget sparades" in refused.text
    assert _count(service) == before
    it = login(live.base, "it", app="ops")
    csrf = it.csrf
    bad = it.post("/console/oncall/shifts", data={**form, "csrf": csrf, "ends_at": "2025-01-16T07:00"})
    assert bad.status_code == 422 and "sluta efter att det börjar" in bad.text and 'value="2025-01-16T08:00"' in bad.text
    assert _count(service) == before
    ok = it.post("/console/oncall/shifts", data={**form, "csrf": csrf})
    assert ok.status_code == 303
    [shift] = [s for s in schedule.plan(service.store, service.clock.now())["it1"] if s.full_name == "Nils Natt"]
    assert shift.starts_at.isoformat() == "2025-01-16T07:00:00+00:00"  # 08:00 in Stockholm is 07:00 UTC in January
    assert tib.post(f"/console/oncall/shifts/{shift.id}/end", data={"csrf": tib_csrf}).status_code == 403


def test_every_refusal_is_worded_in_swedish_and_english() -> None:
    from pathlib import Path

    import obruten.ops.web as web_module
    from obruten.platform.i18n import catalog

    source = Path(schedule.__file__).read_text() + Path(web_module.__file__).read_text()
    keys = set(re.findall(r'ShiftError\(\s*"(\w+)"', source))
    assert len(keys) >= 10
    for lang in ("sv", "en"):
        assert not [k for k in keys if f"ops.oncall.err.{k}" not in catalog(lang)], lang
