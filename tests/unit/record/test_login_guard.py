"""Login throttling's rule, with built attempts and a fixed clock (no server, no database)."""

from __future__ import annotations

import pytest

from obruten.record.login_guard import ACCOUNT, CLIENT, Attempt, Limit, Throttled, decide, throttled_now

NOW = 1_800_000_000.0


def fails(n: int, start: float = NOW - 100, step: float = 10, user: str = "anna", client: str = "10.0.0.1",
          ) -> list[Attempt]:
    return [Attempt(start + i * step, False, user, client) for i in range(n)]


def test_four_failures_are_allowed_the_fifth_locks_for_a_minute() -> None:
    assert decide(fails(4), [], NOW).allowed
    verdict = decide(fails(5, start=NOW - 40), [], NOW)  # the last failure 0 s ago
    assert not verdict.allowed and verdict.by == "account" and verdict.failures == 5
    assert verdict.retry_after == 60
    assert "refused: 5 recent failures for the account" in verdict.sentence


def test_the_lock_ends_after_its_delay() -> None:
    attempts = fails(5, start=NOW - 140)  # last failure at NOW - 100
    assert decide(attempts, [], NOW - 41).retry_after == 1  # locked until NOW - 40
    assert decide(attempts, [], NOW - 40).allowed


def test_back_off_doubles_and_is_capped() -> None:
    assert [ACCOUNT.delay(n) for n in (4, 5, 6, 7, 8)] == [0, 60, 120, 240, 480]
    assert ACCOUNT.delay(9) == 900 and ACCOUNT.delay(500) == 900


def test_failures_outside_the_window_do_not_count() -> None:
    old = fails(10, start=NOW - ACCOUNT.window - 200)
    assert decide(old, [], NOW).allowed


def test_a_success_resets_the_account_but_not_the_client() -> None:
    account = fails(4, start=NOW - 200) + [Attempt(NOW - 150, True, "anna")] + fails(4, start=NOW - 100)
    assert decide(account, [], NOW).allowed  # 4 since the success
    client = fails(30, start=NOW - 200, step=5, user="x") + [Attempt(NOW - 1, True, "own")]
    verdict = decide([], client, NOW)
    assert not verdict.allowed and verdict.by == "client"


def test_the_client_threshold_is_higher() -> None:
    assert CLIENT.failures > ACCOUNT.failures
    spread = [Attempt(NOW - 100 + i, False, f"user{i}", "10.0.0.9") for i in range(CLIENT.failures - 1)]
    assert decide([], spread, NOW).allowed
    spread.append(Attempt(NOW - 1, False, "another", "10.0.0.9"))
    assert decide([], spread, NOW).by == "client"


def test_the_longer_lock_is_the_one_reported() -> None:
    limit = Limit(failures=2, window=600, base_delay=10, max_delay=1000)
    verdict = decide(fails(3, start=NOW - 2, step=1), fails(2, start=NOW - 2, step=1), NOW,
                     account_limit=limit, client_limit=limit)
    assert verdict.by == "account" and verdict.retry_after == 20


def test_throttled_now_lists_accounts_and_clients() -> None:
    attempts = fails(5, start=NOW - 50, user="anna", client="10.0.0.1") + fails(2, start=NOW - 50, user="bo")
    attempts += [Attempt(NOW - 60 + i, False, f"u{i}", "10.9.9.9") for i in range(30)]
    found = throttled_now(attempts, NOW)
    keys = {(t.by, t.key) for t in found}
    assert ("account", "anna") in keys and ("client", "10.9.9.9") in keys
    assert ("account", "bo") not in keys and ("client", "10.0.0.1") not in keys
    assert all(t.retry_after > 0 and t.until > NOW for t in found)


@pytest.mark.parametrize(("lang", "words"), [("sv", ("Försök igen om 2 min", "Ring IT-supporten")),
                                              ("en", ("Try again in 2 min", "call IT support"))])
def test_the_refusal_says_when_and_whom_to_call(lang: str, words: tuple[str, ...]) -> None:
    verdict = decide(fails(6, start=NOW - 50), [], NOW)
    exc = Throttled(verdict, lang, now=NOW)
    assert exc.status == 429 and exc.headers == {"Retry-After": str(verdict.retry_after)}
    assert verdict.retry_after == 120 and all(w in exc.message for w in words), exc.message
