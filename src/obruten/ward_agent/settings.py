"""The ward agent's settings, on the one settings loader (``obruten.platform.config``): defaults, then
a TOML file (``--agent-config`` or ``OBRUTEN_AGENT_CONFIG``), then ``OBRUTEN_AGENT_<NAME>`` (the
token is ``OBRUTEN_AGENT_TOKEN``, the ops service's token ``OBRUTEN_OPS_AGENT_TOKEN``, the state
directory ``OBRUTEN_VAR_DIR``), then the command-line flags. Validated once, passed in (tests pass
their own clock)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic.dataclasses import dataclass

from obruten.platform.config import SETTINGS_CONFIG, CommaList, ConfigError, SettingsModel, load_settings
from obruten.wardkit.store import safe_name


class AgentSettingsError(ConfigError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True, config=SETTINGS_CONFIG)
class AgentSettings(SettingsModel):
    env_prefix: ClassVar[str] = "OBRUTEN_AGENT_"
    error: ClassVar[type[ConfigError]] = AgentSettingsError
    what: ClassVar[str] = "ward agent setting"
    file_variable: ClassVar[str | None] = "OBRUTEN_AGENT_CONFIG"
    env_names: ClassVar[Mapping[str, str]] = {"var_dir": "OBRUTEN_VAR_DIR", "ops_token": "OBRUTEN_OPS_AGENT_TOKEN",
                                              "agent_name": "OBRUTEN_AGENT_NAME"}
    flag_names: ClassVar[Mapping[str, str]] = {"journal_urls": "--journal-url", "status_urls": "--status-url",
                                               "fetch_every_s": "--every", "stale_after_min": "--stale-after"}
    code_only: ClassVar[frozenset[str]] = frozenset({"clock"})

    var_dir: Path = Path("var")
    unit: str = ""
    token: str = ""                      # this unit's agent token (obruten wardkit agent-token)
    journal_urls: CommaList = ()         # tried in order: the journal, then the read copy
    journal_url: str = ""                # one upstream; the same as journal_urls=(journal_url,)
    trusted_keys: Path | None = None     # default: var_dir/agent/trusted_keys
    ops_url: str | None = None           # the ops service, for POST /api/v1/ward-agents/report
    ops_token: str | None = None         # the ops service's agent token
    status_urls: CommaList = ()          # status services to follow (the ops service), polled every 2 s
    status_trusted_keys: Path | None = None  # keys status messages may be signed with (default: var_dir/status/)
    agent_name: str = Field(default_factory=socket.gethostname)
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

    def check(self) -> None:
        try:
            safe_name(self.unit)
        except ValueError as exc:
            raise self.invalid("unit", f"--unit: {exc}") from exc
        if not self.journal_urls:
            raise self.invalid("journal_urls", "give at least one --journal-url (the journal, then the read copy)")
        for name in ("journal_urls", "ops_url", "status_urls"):
            value = getattr(self, name)
            for url in (value,) if isinstance(value, str) else value or ():
                if not url.startswith(("http://", "https://")):
                    raise self.invalid(name, f"{url!r} is not an http(s) URL")
        if not self.token:
            raise self.invalid("token", "give the unit's agent token (--token or OBRUTEN_AGENT_TOKEN; "
                               "`obruten wardkit agent-token --unit U` on the journal prints it)")
        for name, wrong in (("keep", self.keep < 1), ("stale_after_min", self.stale_after_min <= 0),
                            ("fetch_every_s", self.fetch_every_s < 0)):
            if wrong:
                raise self.invalid(name, "keep ≥ 1, stale_after_min > 0 and fetch_every_s ≥ 0")
        if self.language not in ("sv", "en"):
            raise self.invalid("language", "language must be 'sv' or 'en'")

    def validate(self) -> AgentSettings:
        """Check the rules of settings built directly (``load`` has checked them already)."""
        self.check()
        return self


def load(file: Path | None = None, *, environ: Mapping[str, str], **overrides: object) -> AgentSettings:
    """The ward agent's settings; ``overrides`` (CLI flags) win over everything, None is ignored."""
    return load_settings(AgentSettings, environ=environ, file=file, flags=overrides)
