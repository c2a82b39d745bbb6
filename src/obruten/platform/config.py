"""Configuration: defaults, then an optional TOML file, then the environment.

Validated in one place and passed in; no other module reads ``os.environ`` for settings.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from obruten.platform.errors import ObrutenError


class ConfigError(ObrutenError, ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Config:
    var_dir: Path = Path("var")
    database_url: str | None = None  # None: use the embedded PostgreSQL under var_dir
    pg_port: int = 54329
    pg_user: str | None = None  # OS user that runs PostgreSQL when we are root
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    workers: int = 1
    secret_key: str | None = None  # None: generated once into var_dir/secret_key
    session_hours: int = 10
    emergency_access_hours: int = 4
    max_body_bytes: int = 64 * 1024
    node_name: str = "journal"
    default_language: str = "sv"
    timezone: str = "Europe/Stockholm"
    pool_size: int = 10
    read_copy: bool = False  # serve from a hot standby, read-only (obruten.readcopy)
    primary_url: str | None = None  # where a read copy ships its spooled audit events
    read_copy_stale_seconds: int = 60  # the read-copy banner turns red past this lag
    extra: Mapping[str, str] = field(default_factory=dict)
    # the status message (obruten.status): status service URLs to poll (comma separated), the
    # trusted-keys file (default var_dir/status/trusted_keys) and the poll interval in seconds
    status_urls: str = ""
    status_trusted_keys: Path | None = None
    status_poll_s: int = 2

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def pg_data_dir(self) -> Path:
        return self.var_dir / "pg"


_ENV_PREFIX = "OBRUTEN_"


def _coerce(name: str, raw: object, kind: type) -> object:
    try:
        if kind is Path:
            return Path(str(raw))
        if kind is int:
            return int(str(raw))
        if kind is bool:
            text = str(raw).strip().lower()
            if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(text)
            return text in ("1", "true", "yes", "on")
        return str(raw)
    except ValueError as exc:
        raise ConfigError(f"setting {name}={raw!r} is not a valid {kind.__name__}; fix it in "
                          f"the config file or {_ENV_PREFIX}{name.upper()}") from exc


_KINDS: dict[str, type] = {
    "var_dir": Path, "database_url": str, "pg_port": int, "pg_user": str, "http_host": str,
    "http_port": int, "workers": int, "secret_key": str, "session_hours": int,
    "emergency_access_hours": int, "max_body_bytes": int, "node_name": str,
    "default_language": str, "timezone": str, "pool_size": int,
    "read_copy": bool, "primary_url": str, "read_copy_stale_seconds": int,
}
_KINDS.update({"status_urls": str, "status_trusted_keys": Path, "status_poll_s": int})


def load(environ: Mapping[str, str] | None = None, file: Path | None = None, **overrides: object) -> Config:
    """Build the configuration. ``overrides`` (e.g. from CLI flags) win over everything; None is ignored."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    file = file or (Path(environ["OBRUTEN_CONFIG"]) if "OBRUTEN_CONFIG" in environ else None)
    if file is not None:
        if not file.exists():
            raise ConfigError(f"config file {file} does not exist; create it or unset OBRUTEN_CONFIG")
        with file.open("rb") as fh:
            data = tomllib.load(fh)
        for key, raw in data.items():
            if key not in _KINDS:
                raise ConfigError(f"unknown setting {key!r} in {file}; known: {', '.join(sorted(_KINDS))}")
            values[key] = _coerce(key, raw, _KINDS[key])
    for key, kind in _KINDS.items():
        env_key = _ENV_PREFIX + key.upper()
        if env_key in environ and environ[env_key] != "":
            values[key] = _coerce(key, environ[env_key], kind)
    for key, raw in overrides.items():
        if raw is None:
            continue
        if key not in _KINDS:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = _coerce(key, raw, _KINDS[key])
    config = replace(Config(), **values)  # type: ignore[arg-type]
    _validate(config)
    return config


def _validate(config: Config) -> None:
    if config.default_language not in ("sv", "en"):
        raise ConfigError("default_language must be 'sv' or 'en'")
    if config.status_poll_s < 1:
        raise ConfigError("status_poll_s must be at least 1 (seconds between polls of the status service)")
    for name in ("pg_port", "http_port"):
        port = getattr(config, name)
        if not 0 < port < 65536:
            raise ConfigError(f"{name}={port} is not a TCP port (1-65535)")
    if config.workers < 1 or config.pool_size < 1:
        raise ConfigError("workers and pool_size must be at least 1")
    for name in ("database_url", "primary_url"):
        url = getattr(config, name)
        if url and not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"{name} must start with postgresql:// (a libpq URL)")
    if config.read_copy_stale_seconds < 1:
        raise ConfigError("read_copy_stale_seconds must be at least 1")


def names() -> list[str]:
    return [f.name for f in fields(Config) if f.name != "extra"]
