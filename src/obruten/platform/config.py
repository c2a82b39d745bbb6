"""Settings: one loader for every service.

Each service declares its settings as a model on ``SettingsModel`` (a frozen pydantic dataclass): the
journal's ``Config`` below, the ops service's ``obruten.ops.settings.Settings`` and
``StatusSettings``, the ward agent's ``obruten.ward_agent.settings.AgentSettings``.
``load_settings`` builds any of them from four layers, each winning over the one before:

1. the model's defaults (and defaults the caller computes, e.g. paths under a directory);
2. a TOML file: ``file=``, else the file the model's variable names (``OBRUTEN_CONFIG``), else the
   model's default file (the ops service: ``var/ops/ops.toml`` when it exists);
3. the environment, *passed in* as a mapping: ``OBRUTEN_<NAME>``, or the service's own prefix
   (``OBRUTEN_OPS_<NAME>``, ``OBRUTEN_AGENT_<NAME>``); an empty variable counts as unset;
4. overrides, i.e. command-line flags (``None`` means "not given").

The result is validated once: the types (a bad boolean such as "maybe" is an error in every
service; booleans are 1/0, true/false, yes/no, on/off), then the model's own rules (``check``).
Every error names the setting, the layer it came from and how to fix it. An unknown key in the file
is an error that lists the known ones.

Only this module reads the process environment for settings: composition roots (the CLI, an ASGI
worker's factory) pass ``environment()`` in; tests pass their own mapping. ``to_environ`` is the
inverse, for handing a validated configuration to worker processes.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, NamedTuple, TypeVar, cast

from pydantic import BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass

from obruten.platform.errors import ObrutenError


class ConfigError(ObrutenError, ValueError):
    """A setting is missing or malformed; the message says which, where it came from and how to fix it."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


# ---- value types shared by every model -------------------------------------------------------
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def _boolean(raw: object) -> object:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"not a boolean; write one of {', '.join(TRUE_WORDS + FALSE_WORDS)}")


def _comma_list(raw: object) -> object:
    if isinstance(raw, str):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


Bool = Annotated[bool, BeforeValidator(_boolean)]
"""A boolean that refuses anything but 1/0, true/false, yes/no, on/off (any case)."""

CommaList = Annotated[tuple[str, ...], BeforeValidator(_comma_list)]
"""A list of strings: a TOML array, or one comma-separated string (the environment, a flag)."""


# ---- the base model --------------------------------------------------------------------------
SETTINGS_CONFIG = ConfigDict(extra="forbid", coerce_numbers_to_str=True, arbitrary_types_allowed=True)
"""Every settings model is ``@dataclass(frozen=True, kw_only=True, config=SETTINGS_CONFIG)``."""


class SettingsModel:
    """The base of every service's settings, each a frozen pydantic dataclass: built directly (tests,
    code, ``dataclasses.replace``) it checks the types; ``load_settings`` layers the sources and also
    runs ``check``. The class variables say where a model's settings come from."""

    error: ClassVar[type[ConfigError]] = ConfigError  # what every problem with these settings raises
    what: ClassVar[str] = "setting"  # how messages call one of them ("ops setting")
    env_prefix: ClassVar[str] = "OBRUTEN_"  # "": no environment variables
    file_variable: ClassVar[str | None] = None  # the variable naming the TOML file (OBRUTEN_CONFIG)
    env_names: ClassVar[Mapping[str, str]] = {}  # variables that are not env_prefix + NAME
    flag_names: ClassVar[Mapping[str, str]] = {}  # flags that are not --name-with-dashes
    code_only: ClassVar[frozenset[str]] = frozenset()  # set by code only (a clock): no file, no variable
    file_only: ClassVar[frozenset[str]] = frozenset()  # tables (rules, chains): the file, no variable

    @classmethod
    def setting_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cast(Any, cls))]

    @classmethod
    def file_keys(cls) -> list[str]:
        return sorted(name for name in cls.setting_names() if name not in cls.code_only)

    @classmethod
    def env_variables(cls) -> dict[str, str]:
        """Setting name → environment variable (none when the model has no env_prefix)."""
        if not cls.env_prefix:
            return {}
        return {name: cls.env_names.get(name, cls.env_prefix + name.upper()) for name in cls.setting_names()
                if name not in cls.code_only and name not in cls.file_only}

    @classmethod
    def flag(cls, name: str) -> str:
        return cls.flag_names.get(name, "--" + name.replace("_", "-"))

    @classmethod
    def default_file(cls, given: Mapping[str, object]) -> Path | None:
        """The file read when none is named; ``given``: the raw values from the environment and flags."""
        return None

    @classmethod
    def file_values(cls, data: dict[str, Any], path: Path) -> dict[str, Any]:
        """Turn the file's tables into field values (the ops service's rules and chains)."""
        return data

    def check(self) -> None:
        """The model's own rules, once the types are valid: raise ``self.invalid(setting, problem)``."""

    def invalid(self, setting: str, problem: str) -> ConfigError:
        return self.error(problem, setting)


S = TypeVar("S", bound=SettingsModel)


class _Source(NamedTuple):
    where: str  # "the environment variable OBRUTEN_HTTP_PORT"
    fix: str  # "fix or unset OBRUTEN_HTTP_PORT"


def _default_source() -> _Source:
    return _Source("the default", "set it in the config file, the environment or a flag")


def load_settings(model: type[S], *, environ: Mapping[str, str], file: Path | None = None,
                  defaults: Mapping[str, object] | None = None, flags: Mapping[str, object] | None = None) -> S:
    """Build ``model`` from its defaults (plus ``defaults``), the TOML file, ``environ`` and ``flags``
    (a flag given as None counts as not given)."""
    flag_values = {key: value for key, value in (flags or {}).items() if value is not None}
    for key in flag_values:
        if key not in model.setting_names():
            raise model.error(f"unknown {model.what} {key!r}; known: {', '.join(sorted(model.setting_names()))}",
                              key)
    env_values: dict[str, tuple[str, str]] = {}
    for name, variable in model.env_variables().items():
        raw = environ.get(variable)
        if raw:
            env_values[name] = (variable, raw)

    values: dict[str, object] = dict(defaults or {})
    sources: dict[str, _Source] = {}
    path, named_by = file, "fix the option that names it"
    if path is None and model.file_variable and environ.get(model.file_variable):
        path, named_by = Path(environ[model.file_variable]), f"or unset {model.file_variable}"
    if path is None:
        path = model.default_file({**{k: raw for k, (_, raw) in env_values.items()}, **flag_values})
    if path is not None:
        for key, value in _read_file(model, path, named_by).items():
            values[key] = value
            sources[key] = _Source(f"the file {path}", f"fix {key} in {path}")
    for name, (variable, raw) in env_values.items():
        values[name] = raw
        sources[name] = _Source(f"the environment variable {variable}", f"fix or unset {variable}")
    for name, value in flag_values.items():
        values[name] = value
        flag = model.flag(name)
        sources[name] = _Source(f"the flag {flag}", f"fix {flag}")

    try:
        settings: S = cast(Any, model)(**values)
    except ValidationError as exc:
        raise _type_error(model, exc, values, sources) from exc
    try:
        settings.check()
    except ConfigError as exc:
        if exc.setting is None:
            raise
        source = sources.get(exc.setting, _default_source())
        value = getattr(settings, exc.setting, None)
        raise model.error(f"{exc} ({model.what} {exc.setting}={value!r} from {source.where}; {source.fix})",
                          exc.setting) from exc
    return settings


def _read_file(model: type[SettingsModel], path: Path, named_by: str) -> dict[str, Any]:
    if not path.exists():
        raise model.error(f"{model.what} file {path} does not exist; create it, {named_by}")
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise model.error(f"{model.what} file {path} is not valid TOML ({exc}); fix it") from exc
    known = model.file_keys()
    for key in data:
        if key not in known:
            raise model.error(f"unknown {model.what} {key!r} in {path}; remove it or use one of the known "
                              f"settings: {', '.join(known)}", key)
    try:
        return model.file_values(data, path)
    except ConfigError as exc:
        raise model.error(f"{exc} (in {path}; fix it there)", exc.setting) from exc


def _type_error(model: type[SettingsModel], exc: ValidationError, values: Mapping[str, object],
                sources: Mapping[str, _Source]) -> ConfigError:
    problems: list[str] = []
    first: str | None = None
    for err in exc.errors():
        loc = err.get("loc") or ("?",)
        name = str(loc[0])
        first = first or name
        message = str(err.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        source = sources.get(name, _default_source())
        where = ".".join(str(p) for p in loc)
        shown = f"={values[name]!r}" if name in values else ""
        problems.append(f"{model.what} {where}{shown} from {source.where} is not valid: {message}; {source.fix}")
    return model.error("; ".join(problems), first)


def environment() -> Mapping[str, str]:
    """The process environment: for composition roots (the CLI, an ASGI worker's factory) to pass in."""
    return os.environ


def to_environ(settings: SettingsModel) -> dict[str, str]:
    """The settings as environment variables that load them back unchanged (for worker processes)."""
    out: dict[str, str] = {}
    for name, variable in type(settings).env_variables().items():
        value = getattr(settings, name)
        if value is None or value == "" or value == ():  # unset, as an empty variable would be
            continue
        if isinstance(value, bool):
            out[variable] = "true" if value else "false"
        elif isinstance(value, tuple):
            out[variable] = ",".join(str(v) for v in value)
        else:
            out[variable] = str(value)
    return out


# ---- the journal -----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, config=SETTINGS_CONFIG)
class Config(SettingsModel):
    """The journal's settings (``obruten serve`` and its worker processes, the CLI's database tools)."""

    file_variable: ClassVar[str | None] = "OBRUTEN_CONFIG"
    flag_names: ClassVar[Mapping[str, str]] = {"http_host": "--host", "http_port": "--port"}
    code_only: ClassVar[frozenset[str]] = frozenset({"extra"})

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
    read_copy: Bool = False  # serve from a hot standby, read-only (obruten.readcopy)
    primary_url: str | None = None  # where a read copy ships its spooled audit events
    read_copy_stale_seconds: int = 60  # the read-copy banner turns red past this lag
    # leader awareness (ADR 0050): Patroni REST URLs, one per host of database_url, same order
    patroni_urls: str = ""
    read_copy_web_url: str = ""  # the read copy's web address, named on the "database down" page
    extra: Mapping[str, str] = Field(default_factory=dict)
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

    def check(self) -> None:
        if self.default_language not in ("sv", "en"):
            raise self.invalid("default_language", "default_language must be 'sv' or 'en'")
        if self.status_poll_s < 1:
            raise self.invalid("status_poll_s", "status_poll_s must be at least 1 (seconds between polls of the "
                               "status service)")
        for name in ("pg_port", "http_port"):
            port = getattr(self, name)
            if not 0 < port < 65536:
                raise self.invalid(name, f"{name}={port} is not a TCP port (1-65535)")
        for name in ("workers", "pool_size"):
            if getattr(self, name) < 1:
                raise self.invalid(name, "workers and pool_size must be at least 1")
        for name in ("database_url", "primary_url"):
            url = getattr(self, name)
            if url and not url.startswith(("postgresql://", "postgres://")):
                raise self.invalid(name, f"{name} must start with postgresql:// (a libpq URL)")
        if self.read_copy_stale_seconds < 1:
            raise self.invalid("read_copy_stale_seconds", "read_copy_stale_seconds must be at least 1")


def load(*, environ: Mapping[str, str], file: Path | None = None, **overrides: object) -> Config:
    """The journal's configuration. ``overrides`` (e.g. from CLI flags) win over everything; None is ignored."""
    return load_settings(Config, environ=environ, file=file, flags=overrides)


def names() -> list[str]:
    return Config.file_keys()
