"""The read copy's small rules, without servers: the lag rule, which requests are refused, the cache."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from obruten.platform import config as config_mod
from obruten.platform.config import ConfigError
from obruten.readcopy import node_name
from obruten.readcopy.journal import BodyCache
from obruten.readcopy.lag import Lag, decide
from obruten.readcopy.web import refuses

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
HOUR_AGO = NOW - timedelta(hours=1)


def test_an_idle_primary_with_everything_replayed_is_current() -> None:
    assert decide(True, True, HOUR_AGO, True, NOW, None) == (NOW, True)


def test_replay_behind_uses_the_later_of_last_commit_and_last_seen_current() -> None:
    assert decide(True, False, HOUR_AGO, True, NOW, None) == (HOUR_AGO, False)
    seen = NOW - timedelta(seconds=2)
    assert decide(True, False, HOUR_AGO, True, NOW, seen) == (seen, False)


def test_without_a_wal_receiver_the_copy_is_as_old_as_its_last_knowledge() -> None:
    seen = NOW - timedelta(seconds=90)
    assert decide(True, True, HOUR_AGO, False, NOW, seen) == (seen, False)
    as_of, current = decide(True, None, None, False, NOW, None)
    assert not current and as_of.year == 1970


def test_a_database_not_in_recovery_is_current() -> None:
    assert decide(False, None, None, False, NOW, None) == (NOW, True)


@pytest.mark.parametrize(("method", "path", "refused"), [
    ("GET", "/patients/12", False),
    ("GET", "/api/v1/units/MED1/patients", False),
    ("POST", "/login", False),
    ("POST", "/api/v1/login", False),
    ("POST", "/logout", False),
    ("POST", "/api/v1/logout", False),
    ("POST", "/patients/12/emergency-access", False),
    ("POST", "/api/v1/patients/12/emergency-access", False),
    ("POST", "/api/v1/status", False),  # a pushed status message lands in var/status, not the database
    ("POST", "/api/v1/patients/12/notes", True),
    ("POST", "/patients/12/notes", True),
    ("POST", "/admin/users", True),
    ("PUT", "/api/v1/anything", True),
    ("DELETE", "/api/v1/patients/12", True),
    ("GET", "/patients/12/note/new", True),
    ("GET", "/notes/0b6e/correct", True),
    ("GET", "/referrals/LAB-1-0000014/result", True),
])
def test_which_requests_a_read_copy_refuses(method: str, path: str, refused: bool) -> None:
    assert refuses(method, path) is refused


class FakeLag:
    def __init__(self) -> None:
        self.lsn = "0/100"

    def current(self) -> Lag:
        return Lag(NOW, 0.0, False, self.lsn, True)


def test_without_a_change_log_cached_bodies_live_only_as_long_as_the_replay_position() -> None:
    lag = FakeLag()
    cache = BodyCache(lag)  # type: ignore[arg-type]

    async def run() -> None:
        version, body = await cache.get(("overview", 1))
        assert body is None
        cache.put(version, ("overview", 1), '{"a":1}', patient=1)
        assert await cache.get(("overview", 1)) == ("0/100", '{"a":1}')
        lag.lsn = "0/200"  # the standby replayed more WAL: the body may have changed
        assert await cache.get(("overview", 1)) == ("0/200", None)
        cache.put("0/100", ("overview", 1), "old", patient=1)  # a query that started before the move is not cached
        assert (await cache.get(("overview", 1)))[1] is None
        lag.lsn = ""  # unknown position (standby unreachable): never cache
        version, _ = await cache.get(("ward", "MED1"))
        cache.put(version, ("ward", "MED1"), "[]", unit="MED1")
        assert (await cache.get(("ward", "MED1")))[1] is None
    asyncio.run(run())


class FakeChanges:
    """record_change as the standby shows it: each look returns the snapshot's xmin and the rows."""

    def __init__(self) -> None:
        self.xmin, self.rows, self.asked, self.fail = 10, [], [], False

    async def __call__(self, since: int | None) -> tuple[int, list[tuple[int | None, str | None, str | None]]]:
        self.asked.append(since)
        if self.fail:
            raise RuntimeError("relation record_change does not exist")
        rows, self.rows = self.rows, []
        return self.xmin, rows


def test_a_replayed_change_drops_only_the_patients_and_units_it_names() -> None:
    from obruten.platform.auth import Session
    from obruten.record.access import Access

    lag, changes = FakeLag(), FakeChanges()
    cache = BodyCache(lag, changes=changes)  # type: ignore[arg-type]
    nurse = Session(1, "n", "N", "nurse", ("MED1",))

    async def run() -> None:
        version, _ = await cache.get(("overview", 1))
        for key, patient in ((("overview", 1), 1), (("overview", 2), 2), (("medication", "o-2"), 2)):
            cache.put(version, key, f"body {key}", patient=patient)
        cache.put(version, ("ward", "MED1"), "[1]", unit="MED1")
        cache.put(version, ("ward", "SURG"), "[9]", unit="SURG")
        cache.grant(version, nurse, Access(1, "care_relation"))
        cache.grant(version, nurse, Access(2, "care_relation"))
        # a note for patient 2 on MED1: patient 2's bodies and decision go; MED1's list shows no notes
        changes.xmin, changes.rows = 12, [(2, "MED1", "note")]
        lag.lsn = "0/150"
        assert await cache.get(("overview", 2)) == ("0/150", None)
        assert (await cache.get(("ward", "MED1")))[1] == "[1]"
        # an allergy for patient 2 on MED1 is replayed: MED1's list (it shows warnings) goes too
        changes.xmin, changes.rows = 12, [(2, "MED1", "warning")]
        lag.lsn = "0/200"
        assert await cache.get(("overview", 2)) == ("0/200", None)
        assert (await cache.get(("medication", "o-2")))[1] is None
        assert (await cache.get(("ward", "MED1")))[1] is None
        assert await cache.get(("overview", 1)) == ("0/200", "body ('overview', 1)")  # untouched: kept
        assert (await cache.get(("ward", "SURG")))[1] == "[9]"
        assert await cache.granted(nurse, 1) == Access(1, "care_relation")
        assert await cache.granted(nurse, 2) is None
        assert changes.asked == [None, 10, 12]  # each look starts at the previous snapshot's xmin
        # a change not tied to a patient (a staff account, a merge): everything goes
        changes.rows = [(None, None, "staff")]
        lag.lsn = "0/300"
        assert (await cache.get(("overview", 1)))[1] is None and (await cache.get(("ward", "SURG")))[1] is None
        assert await cache.granted(nurse, 1) is None
        # the change log cannot be read (a journal of the release before): everything goes, and the
        # next look starts afresh
        version, _ = await cache.get(("overview", 1))
        cache.put(version, ("overview", 1), "again", patient=1)
        changes.fail = True
        lag.lsn = "0/400"
        assert (await cache.get(("overview", 1)))[1] is None
        changes.fail = False
        lag.lsn = "0/500"
        await cache.get(("overview", 1))
        assert changes.asked[-1] is None
    asyncio.run(run())


def test_read_copy_settings() -> None:
    cfg = config_mod.load(environ={"OBRUTEN_READ_COPY": "on", "OBRUTEN_PRIMARY_URL": "postgresql://p/obruten"})
    assert cfg.read_copy and cfg.primary_url == "postgresql://p/obruten" and cfg.read_copy_stale_seconds == 60
    assert node_name(cfg) == "read-copy"
    assert node_name(config_mod.load(environ={"OBRUTEN_NODE_NAME": "rc-site-b"})) == "rc-site-b"
    with pytest.raises(ConfigError, match="read_copy"):
        config_mod.load(environ={"OBRUTEN_READ_COPY": "maybe"})
    with pytest.raises(ConfigError, match="primary_url"):
        config_mod.load(environ={"OBRUTEN_PRIMARY_URL": "http://x"})


def test_a_balancer_takes_a_member_out_when_its_standby_is_behind_or_gone() -> None:
    from obruten.readcopy.web import ready_verdict

    assert ready_verdict(Lag(NOW, 2.0, False, "0/1", True), 10)[0] is True
    ok, reason = ready_verdict(Lag(NOW, 12.0, False, "0/1", False), 10)
    assert not ok and "12 s behind" in reason and "limit 10 s" in reason
    assert ready_verdict(Lag(NOW, float("inf"), True, "", False, reachable=False), 10) == \
        (False, "the standby does not answer")


def test_the_balancer_configuration_retries_gets_elsewhere_and_checks_readiness() -> None:
    from obruten.readcopy import balancer

    text = balancer.config([balancer.Member("rc-1", "10.0.0.1", 8001), balancer.Member("rc-2", "10.0.0.2", 8001)],
                           balancer.Settings(max_lag_seconds=10, patroni_port=8008))
    assert "server rc-1 10.0.0.1:8001 check" in text and "server rc-2 10.0.0.2:8001 check" in text
    assert "uri /api/v1/read-copy/ready?max_lag=10 " in text
    assert "http-check connect port 8008" in text and "uri /replica?lag=16MB" in text
    assert "option redispatch 1" in text and "retry-on conn-failure empty-response" in text
    assert "http-request disable-l7-retry unless METH_GET" in text  # a POST may have had an effect
    with pytest.raises(balancer.BalancerError):
        balancer.config([])


def test_access_decisions_are_reused_until_they_lapse_and_never_across_a_replay_position() -> None:
    from datetime import timedelta

    from obruten.platform.auth import Session
    from obruten.record.access import Access

    lag, now = FakeLag(), [NOW]
    cache = BodyCache(lag, clock=lambda: now[0])  # type: ignore[arg-type]
    nurse = Session(1, "n", "N", "nurse", ("MED1",))

    async def run() -> None:
        version, _ = await cache.get(("overview", 5))
        assert await cache.granted(nurse, 5) is None
        cache.grant(version, nurse, Access(5, "care_relation"))  # an open admission: not lapsing by the clock
        cache.grant(version, nurse, Access(6, "emergency", NOW + timedelta(hours=1)))
        now[0] = NOW + timedelta(minutes=59)
        assert await cache.granted(nurse, 5) == Access(5, "care_relation")
        assert await cache.granted(nurse, 6) == Access(6, "emergency")
        assert await cache.granted(Session(1, "n", "N", "nurse", ("SURG",)), 5) is None  # other units: ask again
        assert await cache.granted(Session(1, "n", "N", "admin", ("MED1",)), 5) is None  # another role: ask again
        now[0] = NOW + timedelta(hours=1)
        assert await cache.granted(nurse, 6) is None  # the emergency access expired: ask the database
        lag.lsn = "0/300"
        assert await cache.granted(nurse, 5) is None  # replayed further, no change log: ask again
    asyncio.run(run())
