"""The ops service's settings, and the status service's (which lives in the ops service), on the
one settings loader (``obruten.platform.config``): defaults, then a TOML file, then the
environment, then explicit overrides (CLI flags). Validated here, passed in everywhere else.

The file (``--ops-config``, else ``OBRUTEN_OPS_CONFIG``, else ``var/ops/ops.toml`` if present) may
hold the plain settings below as top-level keys, plus tables: ``[storage_paths]`` (name = path),
``[[rules]]`` (each replaces the default rule of the same name, or adds one), ``[chains.NAME]``
with ``steps = [["it1", 5], ["it2", 5]]`` and ``repeat``, and ``[classification]`` ("1" = "…").
Every plain setting can also come from ``OBRUTEN_OPS_<NAME>`` (``OBRUTEN_OPS_PORT``); two keep
their old names: ``OBRUTEN_VAR_DIR`` and ``OBRUTEN_OPS_DATABASE_URL``.

The status service's push targets (``StatusSettings``) come from ``var/ops/status.toml`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, InstanceOf
from pydantic.dataclasses import dataclass

from obruten.ops.escalation import Chain, Step
from obruten.ops.incidents import DEFAULT_CLASSIFICATION
from obruten.ops.oncall import ROLES
from obruten.ops.preparedness import LEVELS
from obruten.ops.rules import SEVERITIES, Rule
from obruten.ops.store_postgres import same_server
from obruten.platform.config import SETTINGS_CONFIG, Bool, CommaList, ConfigError, SettingsModel, load_settings
from obruten.status.document import StatusError


class SettingsError(ConfigError):
    """An ops setting is missing or malformed; the message says which, from where and how to fix it."""


JOURNAL_DOWN_IMPACT = ("Vården kan inte dokumentera i journalen: läs i läskopian, dokumentera på papper enligt "
                       "reservrutinen och avdelningarnas reservkit; efterregistrera när journalen är uppe.")


def default_rules() -> tuple[Rule, ...]:
    """Titles are for the officer on duty at night, in plain Swedish: what is affected, since when,
    what to do. The raw error is the alarm's details, never its title."""
    return (
        # ratio 0.3: a write path where a third of the synthetic writes are slow for 20 s is already
        # failing its users (throttled storage gives ~40 % slow probes, which 0.5 caught only by chance).
        Rule("journal-write", "journal_write", ("slow", "down"), 20, "critical", "journal",
             "Journalen kan inte spara sedan {since} — hänvisa till läskopian och avdelningarnas reservkit",
             titles={"down": "Journalen kan inte spara: databasen svarar inte sedan {since} — hänvisa till "
                              "läskopian och avdelningarnas reservkit",
                     "slow": "Journalen sparar mycket långsamt sedan {since} ({value} ms per skrivning) — varna "
                             "avdelningarna; blir det värre: hänvisa till läskopian och reservkiten"},
             incident=True, classification=1, propose_level="stabsläge", ratio=0.3, impact=JOURNAL_DOWN_IMPACT),
        Rule("read-copy-down", "read_copy", ("down",), 30, "critical", "journal",
             "Läskopian går inte att läsa sedan {since} — om journalen också är nere: avdelningarnas reservkit",
             incident=True, classification=2,
             impact="Ingen läsning via läskopian; journalen själv fungerar om inget annat larm säger annat."),
        Rule("read-copy-lag", "read_copy", ("slow",), 60, "major", "it",
             "Läskopian ligger efter sedan {since} ({value} s) — uppgifterna där kan vara gamla; IT-jour åtgärdar"),
        Rule("cluster-no-leader", "cluster", ("down",), 15, "critical", "journal",
             "Journalen kan inte spara: databasklustret saknar primär sedan {since} — hänvisa till läskopian och "
             "avdelningarnas reservkit", target="leader", incident=True, classification=1,
             propose_level="stabsläge", impact=JOURNAL_DOWN_IMPACT),
        Rule("cluster-unreachable", "cluster", ("down",), 30, "critical", "journal",
             "Journalens databaskluster svarar inte sedan {since} — hänvisa till läskopian och avdelningarnas "
             "reservkit", target="patroni", incident=True, classification=1, impact=JOURNAL_DOWN_IMPACT),
        Rule("cluster-no-sync", "cluster", ("down",), 30, "major", "it",
             "Journalens skrivningar sparas bara på en server sedan {since} — ingen åtgärd för vården; IT-jour "
             "åtgärdar", target="sync"),
        Rule("cluster-member", "cluster", ("down", "slow"), 60, "major", "it",
             "Databasservern {unit} fungerar inte som den ska sedan {since} — ingen åtgärd för vården; IT-jour "
             "åtgärdar", target="member:*"),
        Rule("storage-low", "storage", ("warn",), 300, "major", "it",
             "Diskutrymmet börjar ta slut ({unit}) sedan {since} — ingen åtgärd för vården; IT frigör utrymme"),
        Rule("storage-critical", "storage", ("down",), 60, "critical", "journal",
             "Diskutrymmet är nästan slut ({unit}) sedan {since} — journalen kan sluta spara; IT-jour åtgärdar nu",
             incident=True, classification=2,
             impact="Journalen kan sluta spara när disken är full; förbered reservrutin."),
        Rule("backup-old", "backups", ("down",), 300, "major", "it",
             "Säkerhetskopian är för gammal ({unit}) sedan {since} — ingen åtgärd för vården; IT kontrollerar "
             "säkerhetskopieringen"),
        Rule("ward-kit-stale", "ward_kits", ("slow",), 300, "major", "it",
             "Reservkitet för {unit} är inte uppdaterat sedan {since} — avdelningens utskrifter kan vara gamla; "
             "IT kontrollerar", target="unit:*", system="ward_kits"),
        Rule("ward-agent-silent", "ward_kits", ("down",), 300, "major", "it",
             "Avdelningsdatorn för {unit} hörs inte sedan {since} — kontrollera att den är på och ansluten",
             target="agent:*", system="ward_kits"),
    )


def default_chains() -> dict[str, Chain]:
    return {
        "journal": Chain("journal", (Step("it1", 5), Step("it2", 5), Step("sysf", 10), Step("tib", 10))),
        "it": Chain("it", (Step("it1", 10), Step("it2", 10), Step("sysf", 15))),
        "tib": Chain("tib", (Step("tib", 5), Step("kib", 10))),
    }


@dataclass(frozen=True, kw_only=True, config=SETTINGS_CONFIG)
class Settings(SettingsModel):
    env_prefix: ClassVar[str] = "OBRUTEN_OPS_"
    error: ClassVar[type[ConfigError]] = SettingsError
    what: ClassVar[str] = "ops setting"
    file_variable: ClassVar[str | None] = "OBRUTEN_OPS_CONFIG"
    env_names: ClassVar[Mapping[str, str]] = {"var_dir": "OBRUTEN_VAR_DIR",
                                              "ops_database_url": "OBRUTEN_OPS_DATABASE_URL"}
    flag_names: ClassVar[Mapping[str, str]] = {"tick_s": "--tick"}
    file_only: ClassVar[frozenset[str]] = frozenset({"rules", "chains", "classification", "storage_paths"})

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
    patroni_urls: CommaList = ()
    storage_paths: Mapping[str, Path] = Field(default_factory=dict)
    storage_warn_free_pct: float = 15.0
    storage_down_free_pct: float = 5.0
    backup_probe: Bool = True
    backup_max_age_h: float = 26.0
    restore_verify_max_age_h: float = 192.0
    ward_kit_max_age_min: float = 30.0
    ward_agent_silent_min: float = 10.0
    agent_token: str | None = None  # bearer token ward agents use to report
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "obruten-ops@localhost"
    sms_gateway_url: str | None = None
    webhook_urls: CommaList = ()
    daytime_start_hour: int = 7
    daytime_end_hour: int = 17
    rules: tuple[InstanceOf[Rule], ...] = Field(default_factory=default_rules)
    chains: Mapping[str, InstanceOf[Chain]] = Field(default_factory=default_chains)
    classification: Mapping[int, str] = Field(default_factory=lambda: dict(DEFAULT_CLASSIFICATION))

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


    @classmethod
    def default_file(cls, given: Mapping[str, object]) -> Path | None:
        """``ops.toml`` beside the store, when it exists (the store's place comes from the environment or flags)."""
        store_path = given.get("store_path")
        ops_dir = Path(str(store_path)).parent if store_path else Path(str(given.get("var_dir") or "var")) / "ops"
        return ops_dir / "ops.toml" if (ops_dir / "ops.toml").exists() else None

    @classmethod
    def file_values(cls, data: dict[str, Any], path: Path) -> dict[str, Any]:
        values = dict(data)
        if "storage_paths" in data:
            values["storage_paths"] = {str(k): Path(str(v)) for k, v in dict(data["storage_paths"]).items()}
        if "classification" in data:
            values["classification"] = {**DEFAULT_CLASSIFICATION,
                                        **{int(k): str(v) for k, v in dict(data["classification"]).items()}}
        if "chains" in data:
            chains = default_chains()
            for name, spec in dict(data["chains"]).items():
                steps = tuple(Step(str(role), float(wait)) for role, wait in spec["steps"])
                chains[name] = Chain(name, steps, bool(spec.get("repeat", True)))
            values["chains"] = chains
        if "rules" in data:
            rules = {r.name: r for r in default_rules()}
            for spec in list(data["rules"]):
                spec = dict(spec)
                spec["statuses"] = tuple(spec.get("statuses", ("down",)))
                try:
                    rules[spec["name"]] = Rule(**spec)
                except (TypeError, KeyError) as exc:
                    raise SettingsError(f"rule {spec.get('name')!r}: {exc}", "rules") from exc
            values["rules"] = tuple(rules.values())
        return values

    def check(self) -> None:
        if self.language not in ("sv", "en"):
            raise self.invalid("language", "language must be 'sv' or 'en'")
        if not 0 < self.port < 65536:
            raise self.invalid("port", f"port {self.port} is not a TCP port")
        if self.tick_s <= 0:
            raise self.invalid("tick_s", "tick_s must be positive")
        if self.audit_anchor_s < 0:
            raise self.invalid("audit_anchor_s", "audit_anchor_s must be 0 (no audit anchors) or a positive "
                                                 "number of seconds")
        for name in ("journal_url", "read_copy_url", "ops_database_url"):
            url = getattr(self, name)
            if url and not url.startswith(("postgresql://", "postgres://")):
                raise self.invalid(name, "journal_url, read_copy_url and ops_database_url must be PostgreSQL URLs "
                                   "(postgresql://…)")
        check_apart(self.ops_database_url, self.journal_url)
        for rule in self.rules:
            if rule.severity not in SEVERITIES:
                raise self.invalid("rules", f"rule {rule.name}: severity must be one of {SEVERITIES}")
            if rule.chain not in self.chains:
                raise self.invalid("rules", f"rule {rule.name}: no escalation chain {rule.chain!r}")
            if rule.propose_level is not None and rule.propose_level not in LEVELS:
                raise self.invalid("rules", f"rule {rule.name}: propose_level must be one of {LEVELS}")
        for chain in self.chains.values():
            for step in chain.steps:
                if step.role not in ROLES:
                    raise self.invalid("chains", f"chain {chain.name}: unknown role {step.role!r}; known: "
                                       f"{', '.join(ROLES)}")
        if sorted(self.classification) != [1, 2, 3, 4]:
            raise self.invalid("classification", "classification must define exactly 1, 2, 3 and 4")


def load(file: Path | None = None, *, environ: Mapping[str, str], **overrides: object) -> Settings:
    """The ops service's settings; ``overrides`` (CLI flags) win over everything, None is ignored."""
    return load_settings(Settings, environ=environ, file=file, flags=overrides)


def check_apart(ops_database_url: str | None, journal_url: str | None) -> None:
    """Refuse an ops store in the journal's own database (ADR 0030)."""
    if ops_database_url and journal_url and same_server(ops_database_url, journal_url)[1]:
        raise SettingsError("ops_database_url names the journal's own database; the ops service must keep its "
                            "store elsewhere so that it survives the journal's outage (ADR 0030). Create a "
                            "separate database, preferably on another server, or leave ops_database_url unset",
                            "ops_database_url")


class StatusSettingsError(ConfigError, StatusError):
    """``status.toml`` is malformed; the message says which setting and how to fix it."""


@dataclass(frozen=True, kw_only=True, config=SETTINGS_CONFIG)
class StatusSettings(SettingsModel):
    """Where issued status messages are pushed. From ``var/ops/status.toml`` (top-level keys
    ``push_urls``, ``webhook_urls``, ``email_to``, ``key_file``, ``normal_banner_minutes``); no environment variables."""

    env_prefix: ClassVar[str] = ""
    error: ClassVar[type[ConfigError]] = StatusSettingsError
    what: ClassVar[str] = "status setting"

    key_file: Path
    push_urls: CommaList = ()  # nodes: http://journal:8000 (``/api/v1/status`` is appended)
    webhook_urls: CommaList = ()  # external systems (intranet, info screens)
    email_to: CommaList = ()  # e.g. a distribution list for all units
    # after a return to normal operation the banner says "Normal drift sedan HH:MM" this long, then goes
    normal_banner_minutes: int = Field(default=15, ge=0, le=24 * 60)

    @classmethod
    def load(cls, ops_dir: Path) -> StatusSettings:
        path = ops_dir / "status.toml"
        return load_settings(cls, environ={}, file=path if path.exists() else None,
                             defaults={"key_file": ops_dir / "status_signing_key.pem"})
