"""The ops service's settings: defaults, then a TOML file, then a few environment variables,
then explicit overrides (CLI flags). Validated here, passed in everywhere else.

The file (``var/ops/ops.toml`` if present, or ``OBRUTEN_OPS_CONFIG``) may hold the plain settings
below as top-level keys, plus tables: ``[storage_paths]`` (name = path), ``[[rules]]`` (each
replaces the default rule of the same name, or adds one), ``[chains.NAME]`` with
``steps = [["it1", 5], ["it2", 5]]`` and ``repeat``, and ``[classification]`` ("1" = "…").
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from obruten.ops.escalation import Chain, Step
from obruten.ops.incidents import DEFAULT_CLASSIFICATION
from obruten.ops.oncall import ROLES
from obruten.ops.preparedness import LEVELS
from obruten.ops.rules import SEVERITIES, Rule
from obruten.ops.store_postgres import same_server


class SettingsError(ValueError):
    pass


def default_rules() -> tuple[Rule, ...]:
    return (
        # ratio 0.3: a write path where a third of the synthetic writes are slow for 20 s is already
        # failing its users (throttled storage gives ~40 % slow probes, which 0.5 caught only by chance).
        Rule("journal-write", "journal_write", ("slow", "down"), 20, "critical", "journal",
             "Journalens skrivväg är {status}: {detail}", incident=True, classification=1,
             propose_level="stabsläge", ratio=0.3),
        Rule("read-copy-down", "read_copy", ("down",), 30, "critical", "journal",
             "Läskopian svarar inte: {detail}", incident=True, classification=2),
        Rule("read-copy-lag", "read_copy", ("slow",), 60, "major", "it", "Läskopian ligger efter: {detail}"),
        Rule("cluster-no-leader", "cluster", ("down",), 15, "critical", "journal",
             "Klustret har ingen primär: {detail}", target="leader", incident=True, classification=1,
             propose_level="stabsläge"),
        Rule("cluster-unreachable", "cluster", ("down",), 30, "critical", "journal",
             "Ingen klustermedlem svarar: {detail}", target="patroni", incident=True, classification=1),
        Rule("cluster-no-sync", "cluster", ("down",), 30, "major", "it",
             "Ingen synkron standby, skrivningar är inte säkrade på två platser: {detail}", target="sync"),
        Rule("cluster-member", "cluster", ("down", "slow"), 60, "major", "it",
             "Klustermedlem {target}: {detail}", target="member:*"),
        Rule("storage-low", "storage", ("warn",), 300, "major", "it", "Lite diskutrymme {target}: {detail}"),
        Rule("storage-critical", "storage", ("down",), 60, "critical", "journal",
             "Diskutrymmet nästan slut {target}: {detail}", incident=True, classification=2),
        Rule("backup-old", "backups", ("down",), 300, "major", "it", "Säkerhetskopiering {target}: {detail}"),
        Rule("ward-kit-stale", "ward_kits", ("slow",), 300, "major", "it",
             "Avbrottsmappen för {target} är gammal: {detail}", target="unit:*", system="ward_kits"),
        Rule("ward-agent-silent", "ward_kits", ("down",), 300, "major", "it",
             "Avdelningsagenten {target} hörs inte: {detail}", target="agent:*", system="ward_kits"),
    )


def default_chains() -> dict[str, Chain]:
    return {
        "journal": Chain("journal", (Step("it1", 5), Step("it2", 5), Step("sysf", 10), Step("tib", 10))),
        "it": Chain("it", (Step("it1", 10), Step("it2", 10), Step("sysf", 15))),
        "tib": Chain("tib", (Step("tib", 5), Step("kib", 10))),
    }


@dataclass(frozen=True)
class Settings:
    var_dir: Path = Path("var")
    store_path: Path | None = None  # default: var_dir/ops/ops.sqlite3
    ops_database_url: str | None = None  # the store in its own PostgreSQL database instead (ADR 0030)
    host: str = "127.0.0.1"
    port: int = 8010
    public_url: str = ""  # base of links in messages; default http://host:port
    language: str = "sv"
    tick_s: float = 5.0
    session_hours: int = 12
    journal_url: str | None = None  # the primary, through a normal PostgreSQL URL
    write_slow_ms: float = 500.0
    write_timeout_s: float = 3.0
    audit_anchor_s: float = 60.0  # seconds between signed anchors of the journal's audit chain; 0: none
    read_copy_url: str | None = None
    read_copy_lag_warn_s: float = 10.0
    read_copy_lag_down_s: float = 60.0
    patroni_urls: tuple[str, ...] = ()
    storage_paths: Mapping[str, Path] = field(default_factory=dict)
    storage_warn_free_pct: float = 15.0
    storage_down_free_pct: float = 5.0
    backup_probe: bool = True
    backup_max_age_h: float = 26.0
    restore_verify_max_age_h: float = 192.0
    ward_kit_max_age_min: float = 30.0
    ward_agent_silent_min: float = 10.0
    agent_token: str | None = None  # bearer token ward agents use to report
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "obruten-ops@localhost"
    sms_gateway_url: str | None = None
    webhook_urls: tuple[str, ...] = ()
    daytime_start_hour: int = 7
    daytime_end_hour: int = 17
    rules: tuple[Rule, ...] = field(default_factory=default_rules)
    chains: Mapping[str, Chain] = field(default_factory=default_chains)
    classification: Mapping[int, str] = field(default_factory=lambda: dict(DEFAULT_CLASSIFICATION))

    @property
    def store_file(self) -> Path:
        return self.store_path or self.var_dir / "ops" / "ops.sqlite3"

    @property
    def store_location(self) -> Path | str:
        """What ``Store`` opens: the ops database URL when set, else the SQLite file."""
        return self.ops_database_url or self.store_file

    @property
    def ops_dir(self) -> Path:
        return self.store_file.parent

    def store_warning(self) -> str | None:
        """A sentence for the operator when the ops store shares a server with the journal."""
        if not (self.ops_database_url and self.journal_url):
            return None
        if same_server(self.ops_database_url, self.journal_url)[0]:
            return ("the ops store's database is on the same PostgreSQL server as the journal: when that "
                    "server is down or frozen, the ops service cannot record alarms either. Give it a "
                    "database on another server (ops_database_url), or leave it unset for the local SQLite file")
        return None

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


_SIMPLE = {f.name: f for f in fields(Settings)
           if f.name not in ("rules", "chains", "classification", "storage_paths")}
_ENV = {"OBRUTEN_OPS_JOURNAL_URL": "journal_url", "OBRUTEN_OPS_DATABASE_URL": "ops_database_url",
        "OBRUTEN_OPS_PORT": "port", "OBRUTEN_VAR_DIR": "var_dir",
        "OBRUTEN_OPS_SMTP_HOST": "smtp_host", "OBRUTEN_OPS_SMTP_PORT": "smtp_port"}


def load(file: Path | None = None, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for env_key, name in _ENV.items():
        if environ.get(env_key):
            values[name] = environ[env_key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    base = replace(Settings(), **{k: _coerce(k, v) for k, v in values.items()})
    file = file or (Path(environ["OBRUTEN_OPS_CONFIG"]) if environ.get("OBRUTEN_OPS_CONFIG") else None)
    file = file or (base.ops_dir / "ops.toml" if (base.ops_dir / "ops.toml").exists() else None)
    if file is not None:
        if not file.exists():
            raise SettingsError(f"ops config file {file} does not exist")
        with file.open("rb") as fh:
            data = tomllib.load(fh)
        file_values = _from_file(data, base)
        # the environment and flags still win over the file
        base = replace(base, **{**file_values, **{k: _coerce(k, v) for k, v in values.items()}})
    _validate(base)
    return base


def _coerce(name: str, raw: object) -> object:
    if name not in _SIMPLE:
        raise SettingsError(f"unknown ops setting {name!r}; known: {', '.join(sorted(_SIMPLE))}")
    default = getattr(Settings(), name)
    try:
        if name in ("var_dir", "store_path"):
            return Path(str(raw))
        if name in ("patroni_urls", "webhook_urls"):
            return tuple(raw) if isinstance(raw, list | tuple) else tuple(s for s in str(raw).split(",") if s)
        if isinstance(default, bool):
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(str(raw))
        if isinstance(default, float):
            return float(str(raw))
        return str(raw)
    except ValueError as exc:
        raise SettingsError(f"ops setting {name}={raw!r} is not valid") from exc


def _from_file(data: dict[str, object], base: Settings) -> dict[str, object]:
    values: dict[str, object] = {}
    for key, raw in data.items():
        if key == "storage_paths":
            values[key] = {str(k): Path(str(v)) for k, v in dict(raw).items()}  # type: ignore[call-overload]
        elif key == "classification":
            values[key] = {**base.classification, **{int(k): str(v) for k, v in dict(raw).items()}}  # type: ignore[call-overload]
        elif key == "chains":
            chains = dict(base.chains)
            for name, spec in dict(raw).items():  # type: ignore[call-overload]
                steps = tuple(Step(str(role), float(wait)) for role, wait in spec["steps"])
                chains[name] = Chain(name, steps, bool(spec.get("repeat", True)))
            values[key] = chains
        elif key == "rules":
            rules = {r.name: r for r in base.rules}
            for spec in list(raw):  # type: ignore[call-overload]
                spec = dict(spec)
                spec["statuses"] = tuple(spec.get("statuses", ("down",)))
                try:
                    rules[spec["name"]] = Rule(**spec)
                except TypeError as exc:
                    raise SettingsError(f"rule {spec.get('name')!r}: {exc}") from exc
            values[key] = tuple(rules.values())
        else:
            values[key] = _coerce(key, raw)
    return values


def _validate(s: Settings) -> None:
    if s.language not in ("sv", "en"):
        raise SettingsError("language must be 'sv' or 'en'")
    if not 0 < s.port < 65536:
        raise SettingsError(f"port {s.port} is not a TCP port")
    if s.tick_s <= 0:
        raise SettingsError("tick_s must be positive")
    if s.audit_anchor_s < 0:
        raise SettingsError("audit_anchor_s must be 0 (no audit anchors) or a positive number of seconds")
    for url in filter(None, (s.journal_url, s.read_copy_url, s.ops_database_url)):
        if not url.startswith(("postgresql://", "postgres://")):
            raise SettingsError("journal_url, read_copy_url and ops_database_url must be PostgreSQL URLs "
                                "(postgresql://…)")
    check_apart(s.ops_database_url, s.journal_url)
    for rule in s.rules:
        if rule.severity not in SEVERITIES:
            raise SettingsError(f"rule {rule.name}: severity must be one of {SEVERITIES}")
        if rule.chain not in s.chains:
            raise SettingsError(f"rule {rule.name}: no escalation chain {rule.chain!r}")
        if rule.propose_level is not None and rule.propose_level not in LEVELS:
            raise SettingsError(f"rule {rule.name}: propose_level must be one of {LEVELS}")
    for chain in s.chains.values():
        for step in chain.steps:
            if step.role not in ROLES:
                raise SettingsError(f"chain {chain.name}: unknown role {step.role!r}; known: {', '.join(ROLES)}")
    if sorted(s.classification) != [1, 2, 3, 4]:
        raise SettingsError("classification must define exactly 1, 2, 3 and 4")


def check_apart(ops_database_url: str | None, journal_url: str | None) -> None:
    """Refuse an ops store in the journal's own database (ADR 0030)."""
    if ops_database_url and journal_url and same_server(ops_database_url, journal_url)[1]:
        raise SettingsError("ops_database_url names the journal's own database; the ops service must keep its "
                            "store elsewhere so that it survives the journal's outage (ADR 0030). Create a "
                            "separate database, preferably on another server, or leave ops_database_url unset")

