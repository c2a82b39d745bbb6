"""PrimaryWatch (ADR 0050): the journal writes only where exactly one Patroni holds the leader lock."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from obruten.platform.database import PrimaryWatch

URL = "postgresql://app:pw@127.0.0.1:6001,127.0.0.1:6002,127.0.0.1:6003/obruten?connect_timeout=2"
PATRONI = ["http://127.0.0.1:7001", "http://127.0.0.1:7002", "http://127.0.0.1:7003"]


def watching(leaders: set[int], frozen: frozenset[int] = frozenset()) -> PrimaryWatch:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/leader"
        port = request.url.port
        if port in frozen:
            raise httpx.ReadTimeout("frozen", request=request)
        return httpx.Response(200 if port in leaders else 503, json={})

    return PrimaryWatch(URL, PATRONI, transport=httpx.MockTransport(answer))


def run(watch: PrimaryWatch) -> tuple[tuple[str, str] | None, str]:
    async def once() -> tuple[tuple[str, str] | None, str]:
        await watch.start()
        try:
            return watch.target, watch.conninfo_for_target()
        finally:
            await watch.stop()

    return asyncio.run(once())


def test_the_lock_holder_is_the_only_host_connected_to() -> None:
    target, conninfo = run(watching({7002}))
    assert target == ("127.0.0.1", "6002")
    assert "host=127.0.0.1" in conninfo and "port=6002" in conninfo and "target_session_attrs=read-write" in conninfo


def test_no_lock_holder_or_two_claimants_mean_no_primary() -> None:
    assert run(watching(set()))[0] is None
    assert run(watching({7001, 7002}))[0] is None  # never trust two: no writes until one is left


def test_a_frozen_patroni_is_left_even_if_it_held_the_lock() -> None:
    assert run(watching({7001}, frozen=frozenset({7001})))[0] is None


def test_one_patroni_url_per_database_host() -> None:
    with pytest.raises(ValueError, match="one Patroni REST URL per host"):
        PrimaryWatch(URL, PATRONI[:2])
