"""What PostgreSQL is told to wait for when Patroni chooses its synchronous standbys and the
backup store's WAL receiver streams (ADR 0045), and what Patroni is shown back."""

from __future__ import annotations

import os

_UMASK = os.umask(0o022)
from patroni.postgresql.sync import parse_sync_standby_names  # noqa: E402 - importing Patroni sets umask 077

os.umask(_UMASK)  # ... for the whole test process: put it back

from obruten.backup.restore import end_of_recovery  # noqa: E402
from obruten.cluster.backup_quorum import STRICT_PLACEHOLDER, with_receiver, without_receiver  # noqa: E402

R = "obruten_backup"


def _acks(value: str) -> tuple[int, set[str]]:
    ssn = parse_sync_standby_names(value)
    return ssn.num, set(ssn.members)


def test_every_commit_waits_for_the_receiver_and_the_site_standby_patroni_chose() -> None:
    value = with_receiver('ANY 1 ("site-b")', {"site-b", R}, receiver_ready=True)
    assert value is not None
    num, members = _acks(value)
    assert members == {"site-b", R} and num == 2  # all of them: the receiver is in every ack set


def test_patroni_needs_k_of_its_own_standbys_in_every_ack_set_still() -> None:
    # after a promotion Patroni may list more voters than it needs: every streaming one and the
    # receiver are waited for, never fewer than k of Patroni's own
    value = with_receiver('ANY 1 ("read-copy","site-a")', {"read-copy", R}, receiver_ready=True)
    num, members = _acks(value or "")
    assert members == {"read-copy", "site-a", R}
    assert num - 1 >= 1  # any ack set of `num` names holds at least k=1 of Patroni's
    assert num == 2  # site-a does not stream: not waited for (Patroni drops it next loop)


def test_a_receiver_that_is_down_or_behind_changes_nothing() -> None:
    assert with_receiver('ANY 1 ("site-b")', {"site-b"}, receiver_ready=False) == 'ANY 1 ("site-b")'
    assert with_receiver(None, set(), receiver_ready=False) is None


def test_without_a_site_standby_commits_still_wait_for_the_backup_store() -> None:
    assert with_receiver(None, {R}, receiver_ready=True) == f"ANY 1 ({R})"
    assert with_receiver("", {R}, receiver_ready=True) == f"ANY 1 ({R})"


def test_strict_mode_placeholder_is_left_alone() -> None:
    strict = f"ANY 1 ({STRICT_PLACEHOLDER})"
    assert with_receiver(strict, {R}, receiver_ready=True) == strict


def test_patroni_is_shown_its_own_choice_back() -> None:
    for wanted in ('ANY 1 ("site-b")', 'ANY 1 ("read-copy","site-a")'):
        written = with_receiver(wanted, {"site-b", "read-copy", "site-a", R}, receiver_ready=True)
        shown = without_receiver(written or "")
        assert _acks(shown)[1] == _acks(wanted)[1]
        assert R not in shown
    assert without_receiver(f"ANY 1 ({R})") == ""
    assert without_receiver('ANY 1 ("site-b")') == 'ANY 1 ("site-b")'


def test_end_of_recovery_is_read_from_the_server_log() -> None:
    log = ("2026-11-30 10:00:01.1 UTC [9] LOG:  redo done at 0/7000230 system usage: CPU: user: 0.00 s\n"
           "2026-11-30 10:00:01.1 UTC [9] LOG:  last completed transaction was at log time "
           "2026-11-30 09:59:58.123456+00\n")
    end = end_of_recovery(log)
    assert end.lsn == "0/7000230"
    assert end.last_commit is not None and end.last_commit.isoformat() == "2026-11-30T09:59:58.123456+00:00"
    assert end_of_recovery("nothing here").last_commit is None
