"""Patroni, with the backup store's WAL receiver counted in the commit quorum (ADR 0045).

Patroni (``synchronous_mode: quorum``) writes ``synchronous_standby_names`` from its own members
only, ``ANY k (S)``. We run Patroni through this module, which adds the receiver
(``obruten.backup.wal_receiver``) at the one place Patroni writes the setting and hides it at the
one place Patroni reads it back, so Patroni's own bookkeeping (``/sync`` key, failover safety)
sees exactly the value it chose:

    Patroni wants ``ANY k (S)``  →  PostgreSQL gets ``ANY n (S, obruten_backup)``,
    n = max(k, streaming members of S) + 1, while the receiver streams and is < 16 MB behind.

Every commit then waits for the receiver *and* for at least k members of S, so every set that
acknowledges a commit still overlaps every set Patroni may promote from (its invariant holds,
only stronger). When the receiver is down or far behind, PostgreSQL gets Patroni's value
unchanged (non-strict: commits are not blocked by the backup store; the next loop, ≤ loop_wait,
re-adds it). Patroni's strict placeholder is passed through as it is.

Run as ``python -m obruten.cluster.backup_quorum <patroni.yml>`` (what ``patroni`` runs, plus
the two wrappers). Written against Patroni 4.1.5; ``tests/unit/cluster/test_backup_quorum.py``
pins the pure part, the cluster tests the rest.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from obruten.backup.wal_receiver import APP_NAME

MAX_LAG = 16 * 1024 * 1024
STRICT_PLACEHOLDER = "__patroni_strict_sync_replica_placeholder__"
_log = logging.getLogger("obruten.backup_quorum")


def _parse(value: str) -> tuple[int, list[str]] | None:
    """``ANY k (a, "b-c")`` → (k, [a, b-c]); None for anything else (empty, FIRST, placeholder)."""
    from patroni.postgresql.sync import parse_sync_standby_names  # type: ignore[import-untyped]

    if not value or STRICT_PLACEHOLDER in value:
        return None
    try:
        ssn = parse_sync_standby_names(value)
    except ValueError:
        return None
    if ssn.sync_type != "quorum" or ssn.has_star:
        return None
    return ssn.num, sorted(ssn.members)


def with_receiver(wanted: str | None, streaming: set[str], receiver_ready: bool) -> str | None:
    """The value PostgreSQL gets when Patroni wants ``wanted`` (pure; see the module text)."""
    from patroni.postgresql.sync import quote_standby_name

    if not receiver_ready or (wanted and STRICT_PLACEHOLDER in wanted):
        return wanted
    if not wanted:
        return f"ANY 1 ({APP_NAME})"
    parsed = _parse(wanted)
    if parsed is None:
        return wanted
    k, members = parsed
    n = max(k, len([m for m in members if m in streaming])) + 1
    return f"ANY {n} ({','.join(quote_standby_name(m) for m in [*members, APP_NAME])})"


def without_receiver(actual: str) -> str:
    """Patroni's view of a value we wrote when we no longer know what it asked for (after a
    restart of Patroni): the receiver removed, the count lowered by one."""
    from patroni.postgresql.sync import quote_standby_name

    parsed = _parse(actual)
    if parsed is None or APP_NAME not in parsed[1]:
        return actual
    n, members = parsed
    rest = [m for m in members if m != APP_NAME]
    if not rest:
        return ""
    return f"ANY {max(1, min(n - 1, len(rest)))} ({','.join(quote_standby_name(m) for m in rest)})"


def _receiver_state(postgresql: Any) -> tuple[set[str], bool]:
    """(application names streaming, receiver streaming and close behind) from the primary."""
    try:
        rows = postgresql.pg_stat_replication()
        flushed = postgresql.last_operation()
    except Exception:  # noqa: BLE001 - Patroni's own query failed: decide without the receiver
        return set(), False
    streaming = {r["application_name"] for r in rows if r.get("flush_lsn") is not None}
    ready = any(r["application_name"] == APP_NAME and r.get("flush_lsn") is not None
                and flushed - int(r["flush_lsn"]) < MAX_LAG for r in rows)
    return streaming, ready


def install() -> None:
    """Wrap Patroni's writer and reader of ``synchronous_standby_names`` and its sync loop."""
    from patroni.postgresql import Postgresql  # type: ignore[import-untyped]
    from patroni.postgresql.config import ConfigHandler  # type: ignore[import-untyped]

    # only after patroni.postgresql: patroni.ha imported first is a circular import in Patroni
    Ha = importlib.import_module("patroni.ha").Ha

    original_set = ConfigHandler.set_synchronous_standby_names
    original_get = Postgresql.synchronous_standby_names
    original_process = Ha.process_sync_replication

    def set_ssn(self: Any, value: str | None) -> bool | None:
        self._obruten_wanted = value
        streaming, ready = _receiver_state(self._postgresql)
        effective = with_receiver(value, streaming, ready)
        self._obruten_effective = effective
        changed = original_set(self, effective)
        if changed and effective != value:
            _log.info("synchronous_standby_names: Patroni asked for %r, set %r (backup receiver counted)",
                      value, effective)
        return changed

    def get_ssn(self: Any) -> str:
        actual = original_get(self)
        cfg = self.config
        if getattr(cfg, "_obruten_effective", None) == actual and hasattr(cfg, "_obruten_wanted"):
            return cfg._obruten_wanted or ""
        return without_receiver(actual)

    def process(self: Any) -> None:
        original_process(self)
        cfg = self.state_handler.config
        if hasattr(cfg, "_obruten_wanted"):
            # the receiver may have come or gone since Patroni last chose: choose again
            set_ssn(cfg, cfg._obruten_wanted)

    ConfigHandler.set_synchronous_standby_names = set_ssn
    Postgresql.synchronous_standby_names = get_ssn
    Ha.process_sync_replication = process


def main() -> None:
    install()
    from patroni.__main__ import main as patroni_main  # type: ignore[import-untyped]

    patroni_main()


if __name__ == "__main__":
    main()
