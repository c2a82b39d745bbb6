"""The ward agent's settings: validated once, passed in (tests pass their own clock)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from obruten.platform.errors import ObrutenError
from obruten.wardkit.store import safe_name


class AgentSettingsError(ObrutenError, ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class AgentSettings:
    var_dir: Path
    unit: str
    token: str                           # this unit's agent token (obruten wardkit agent-token)
    journal_urls: tuple[str, ...] = ()   # tried in order: the journal, then the read copy
    journal_url: str = ""                # one upstream; the same as journal_urls=(journal_url,)
    trusted_keys: Path | None = None     # default: var_dir/agent/trusted_keys
    ops_url: str | None = None           # the ops service, for POST /api/v1/ward-agents/report
    ops_token: str | None = None         # the ops service's agent token
    status_urls: tuple[str, ...] = ()    # status services to follow (the ops service), polled every 2 s
    status_trusted_keys: Path | None = None  # keys status messages may be signed with (default: var_dir/status/)
    agent_name: str = field(default_factory=socket.gethostname)
    host: str = "127.0.0.1"
    port: int = 8020
    fetch_every_s: float = 60.0          # 0: no background loop (tests call Agent.tick)
    stale_after_min: float = 15.0
    keep: int = 3
    language: str = "sv"
    timeout_s: float = 20.0
    max_file_bytes: int = 64 * 1024 * 1024
    clock: Callable[[], datetime] = _utc_now

    def __post_init__(self) -> None:
        if self.journal_url and not self.journal_urls:
            object.__setattr__(self, "journal_urls", (self.journal_url,))
        elif self.journal_urls and not self.journal_url:
            object.__setattr__(self, "journal_url", self.journal_urls[0])

    @property
    def state_dir(self) -> Path:
        return self.var_dir / "agent"

    @property
    def kits_dir(self) -> Path:
        return self.state_dir / "kits"

    @property
    def trusted_keys_file(self) -> Path:
        return self.trusted_keys or self.state_dir / "trusted_keys"

    def validate(self) -> AgentSettings:
        try:
            safe_name(self.unit)
        except ValueError as exc:
            raise AgentSettingsError(f"--unit: {exc}") from exc
        if not self.journal_urls:
            raise AgentSettingsError("give at least one --journal-url (the journal, then the read copy)")
        for url in (*self.journal_urls, *([self.ops_url] if self.ops_url else []), *self.status_urls):
            if not url.startswith(("http://", "https://")):
                raise AgentSettingsError(f"{url!r} is not an http(s) URL")
        if not self.token:
            raise AgentSettingsError("give the unit's agent token (--token; `obruten wardkit agent-token --unit U` "
                                     "on the journal prints it)")
        if self.keep < 1 or self.stale_after_min <= 0 or self.fetch_every_s < 0:
            raise AgentSettingsError("keep ≥ 1, stale_after_min > 0 and fetch_every_s ≥ 0")
        if self.language not in ("sv", "en"):
            raise AgentSettingsError("language must be 'sv' or 'en'")
        return self
