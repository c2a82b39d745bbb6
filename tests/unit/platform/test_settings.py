"""The one settings loader (obruten.platform.config) under each service's settings: the journal's
``Config`` (with the node's status settings), the ops service's ``Settings``, the status service's
``StatusSettings`` and the ward agent's ``AgentSettings``. No servers; the environment is a mapping."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from obruten.cli import main
from obruten.ops import settings as ops_settings
from obruten.platform import config
from obruten.platform.config import ConfigError, SettingsModel, load_settings, to_environ
from obruten.ward_agent import settings as agent_settings

AGENT_REQUIRED = {"unit": "H01-AVD10", "token": "t", "journal_urls": ("http://journal:8000",)}


@dataclass(frozen=True)
class Service:
    """How one service's settings are loaded, and one setting to push through every layer."""

    name: str
    model: type[SettingsModel]
    setting: str
    values: tuple[object, object, object, object]  # default, file, environment, flag
    variable: str | None  # the setting's environment variable (None: the service has none)
    needs: Mapping[str, object]  # flags every load needs (the ward agent's unit, token, upstream)

    def load(self, tmp_path: Path, environ: Mapping[str, str], file: Path | None = None,
             **flags: object) -> SettingsModel:
        # var_dir keeps the ops service from finding a var/ops/ops.toml in the working directory
        return load_settings(self.model, environ=environ, file=file, flags={"var_dir": tmp_path, **self.needs, **flags})


SERVICES = [
    Service("journal", config.Config, "http_port", (8000, 8001, 8002, 8003), "OBRUTEN_HTTP_PORT", {}),
    Service("journal node's status", config.Config, "status_urls",
            ("", "http://a:8010", "http://b:8010", "http://c:8010"), "OBRUTEN_STATUS_URLS", {}),
    Service("ops", ops_settings.Settings, "port", (8010, 8011, 8012, 8013), "OBRUTEN_OPS_PORT", {}),
    Service("ops (old variable name)", ops_settings.Settings, "ops_database_url",
            (None, "postgresql://f/ops", "postgresql://e/ops", "postgresql://g/ops"), "OBRUTEN_OPS_DATABASE_URL", {}),
    Service("ward agent", agent_settings.AgentSettings, "port", (8020, 8021, 8022, 8023), "OBRUTEN_AGENT_PORT",
            AGENT_REQUIRED),
    Service("ward agent (token)", agent_settings.AgentSettings, "ops_token", (None, "file", "env", "flag"),
            "OBRUTEN_OPS_AGENT_TOKEN", AGENT_REQUIRED),
]
IDS = [s.name for s in SERVICES]


def _toml(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_each_layer_wins_over_the_one_before(service: Service, tmp_path: Path) -> None:
    default, in_file, in_env, in_flag = service.values
    file = tmp_path / "settings.toml"
    file.write_text(f"{service.setting} = {_toml(in_file)}\n")
    env = {service.variable: str(in_env)} if service.variable else {}
    flag = {service.setting: in_flag}
    assert getattr(service.load(tmp_path, {}), service.setting) == default
    assert getattr(service.load(tmp_path, {}, file), service.setting) == in_file
    assert getattr(service.load(tmp_path, env, file), service.setting) == in_env
    assert getattr(service.load(tmp_path, env, file, **flag), service.setting) == in_flag
    # an empty variable counts as unset; a flag given as None counts as not given
    assert getattr(service.load(tmp_path, {service.variable or "X": ""}, file), service.setting) == in_file
    assert getattr(service.load(tmp_path, env, file, **{service.setting: None}), service.setting) == in_env


def test_status_service_settings_come_from_status_toml_then_flags(tmp_path: Path) -> None:
    model = ops_settings.StatusSettings
    assert model.load(tmp_path) == model(key_file=tmp_path / "status_signing_key.pem")
    (tmp_path / "status.toml").write_text('push_urls = ["http://j1:8000", "http://j2:8000"]\n')
    loaded = model.load(tmp_path)
    assert loaded.push_urls == ("http://j1:8000", "http://j2:8000")
    assert loaded.key_file == tmp_path / "status_signing_key.pem"
    flagged = load_settings(model, environ={}, file=tmp_path / "status.toml",
                            defaults={"key_file": tmp_path / "k.pem"}, flags={"push_urls": "http://j3:8000"})
    assert flagged.push_urls == ("http://j3:8000",)
    # it has no environment variables (as before): the loader reads none for it
    assert model.env_variables() == {}


BOOLEANS: list[tuple[type[SettingsModel], str, str, dict[str, object]]] = [
    (config.Config, "read_copy", "OBRUTEN_READ_COPY", {}),
    (ops_settings.Settings, "backup_probe", "OBRUTEN_OPS_BACKUP_PROBE", {}),
]


def test_the_boolean_list_is_every_boolean_setting() -> None:
    """A boolean added to any model must join BOOLEANS, so the rejection below covers it."""
    found = set()
    for model in (config.Config, ops_settings.Settings, ops_settings.StatusSettings, agent_settings.AgentSettings):
        for name, info in model.__pydantic_fields__.items():  # type: ignore[attr-defined]
            if info.annotation is bool:
                found.add((model, name))
    assert found == {(model, name) for model, name, _, _ in BOOLEANS}


@pytest.mark.parametrize(("model", "name", "variable", "needs"), BOOLEANS, ids=[b[1] for b in BOOLEANS])
def test_a_bad_boolean_is_an_error_naming_setting_source_and_fix(model: type[SettingsModel], name: str,
                                                                 variable: str, needs: dict[str, object],
                                                                 tmp_path: Path) -> None:
    for word, expected in (("on", True), ("YES", True), ("1", True), ("off", False), ("no", False), ("0", False)):
        loaded = load_settings(model, environ={variable: word}, flags={"var_dir": tmp_path, **needs})
        assert getattr(loaded, name) is expected
    with pytest.raises(ConfigError) as env_error:
        load_settings(model, environ={variable: "maybe"}, flags={"var_dir": tmp_path, **needs})
    assert env_error.value.setting == name
    assert name in str(env_error.value) and "'maybe'" in str(env_error.value)
    assert f"the environment variable {variable}" in str(env_error.value)
    assert f"fix or unset {variable}" in str(env_error.value) and "true" in str(env_error.value)
    file = tmp_path / "s.toml"
    file.write_text(f'{name} = "maybe"\n')
    with pytest.raises(ConfigError, match=rf"{name}='maybe' from the file {file}.*fix {name} in {file}"):
        load_settings(model, environ={}, file=file, flags={"var_dir": tmp_path, **needs})
    with pytest.raises(ConfigError, match=rf"{name}='maybe' from the flag --{name.replace('_', '-')}"):
        load_settings(model, environ={}, flags={"var_dir": tmp_path, name: "maybe", **needs})


def test_the_ops_service_no_longer_reads_maybe_as_false(tmp_path: Path) -> None:
    with pytest.raises(ops_settings.SettingsError, match="backup_probe"):
        ops_settings.load(environ={}, var_dir=tmp_path, backup_probe="maybe")


MODELS = [config.Config, ops_settings.Settings, ops_settings.StatusSettings, agent_settings.AgentSettings]


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_an_unknown_key_in_the_file_is_an_error_naming_the_known_ones(model: type[SettingsModel],
                                                                     tmp_path: Path) -> None:
    file = tmp_path / "s.toml"
    file.write_text('http_prot = 8001\n')
    with pytest.raises(model.error) as error:
        load_settings(model, environ={}, file=file, defaults={"key_file": tmp_path / "k"})
    message = str(error.value)
    assert "'http_prot'" in message and str(file) in message
    assert all(key in message for key in model.file_keys())


def test_a_setting_only_code_sets_is_not_a_file_key(tmp_path: Path) -> None:
    file = tmp_path / "agent.toml"
    file.write_text('clock = "now"\n')
    with pytest.raises(agent_settings.AgentSettingsError, match="unknown ward agent setting 'clock'"):
        agent_settings.load(file, environ={}, **AGENT_REQUIRED)


def test_the_file_can_be_named_by_the_services_variable(tmp_path: Path) -> None:
    for variable, loader in (("OBRUTEN_CONFIG", config.load), ("OBRUTEN_OPS_CONFIG", ops_settings.load)):
        file = tmp_path / f"{variable}.toml"
        file.write_text('timezone = "Europe/Oslo"\n' if loader is config.load else 'tick_s = 2.5\n')
        loaded = loader(environ={variable: str(file)}, var_dir=tmp_path)
        assert getattr(loaded, "timezone", None) == "Europe/Oslo" or getattr(loaded, "tick_s", None) == 2.5
        with pytest.raises(ConfigError, match=f"does not exist; create it, or unset {variable}"):
            loader(environ={variable: str(tmp_path / "missing.toml")}, var_dir=tmp_path)
    agent_file = tmp_path / "agent.toml"
    agent_file.write_text('unit = "H01-AVD10"\ntoken = "t"\njournal_urls = ["http://j:8000", "http://rc:8000"]\n')
    agent = agent_settings.load(environ={"OBRUTEN_AGENT_CONFIG": str(agent_file)})
    assert agent.journal_urls == ("http://j:8000", "http://rc:8000") and agent.journal_url == "http://j:8000"


def test_the_ops_service_finds_ops_toml_beside_its_store(tmp_path: Path) -> None:
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "ops.toml").write_text("write_slow_ms = 250\n")
    assert ops_settings.load(environ={"OBRUTEN_VAR_DIR": str(tmp_path)}).write_slow_ms == 250
    assert ops_settings.load(environ={}, var_dir=tmp_path).write_slow_ms == 250
    assert ops_settings.load(environ={}, var_dir=tmp_path / "elsewhere").write_slow_ms == 500


def test_a_rule_error_names_the_setting_its_source_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        config.load(environ={"OBRUTEN_DEFAULT_LANGUAGE": "de"})
    assert str(error.value) == ("default_language must be 'sv' or 'en' (setting default_language='de' from the "
                                "environment variable OBRUTEN_DEFAULT_LANGUAGE; fix or unset "
                                "OBRUTEN_DEFAULT_LANGUAGE)")
    with pytest.raises(ConfigError, match=r"http_port=70000 is not a TCP port .*from the flag --port; fix --port"):
        config.load(environ={}, http_port=70000)
    with pytest.raises(ops_settings.SettingsError, match=r"PostgreSQL URLs .*OBRUTEN_OPS_JOURNAL_URL"):
        ops_settings.load(environ={"OBRUTEN_OPS_JOURNAL_URL": "http://j"}, var_dir=tmp_path)
    with pytest.raises(agent_settings.AgentSettingsError, match=r"give the unit's agent token .*from the default"):
        agent_settings.load(environ={}, unit="H01-AVD10", journal_urls=("http://j",))
    with pytest.raises(ConfigError, match=r"unknown setting 'colour'; known: .*var_dir"):
        config.load(environ={}, colour="blue")


def test_built_directly_a_model_checks_types_and_replace_still_works(tmp_path: Path) -> None:
    settings = ops_settings.Settings(var_dir=tmp_path, backup_probe=False)
    assert replace(settings, port=8123).port == 8123
    with pytest.raises(ValueError, match="boolean"):
        ops_settings.Settings(var_dir=tmp_path, backup_probe="maybe")  # type: ignore[arg-type]


WORKER_ENV: list[Callable[[Path], config.Config]] = [
    lambda tmp: config.load(environ={}, var_dir=tmp),
    lambda tmp: config.load(environ={}, var_dir=tmp, read_copy=True, node_name="rc-b", read_copy_stale_seconds=7,
                            primary_url="postgresql://p/obruten", status_urls="http://o1,http://o2",
                            status_trusted_keys=tmp / "keys", session_hours=3, database_url="postgresql://s/o"),
]


@pytest.mark.parametrize("build", WORKER_ENV, ids=["defaults", "read copy"])
def test_a_worker_process_loads_the_same_settings_from_the_environment(build: Callable[[Path], config.Config],
                                                                      tmp_path: Path) -> None:
    """``obruten serve --workers N`` hands every setting to its workers, not a hand-picked few."""
    cfg = build(tmp_path)
    assert config.load(environ=to_environ(cfg)) == cfg


def test_the_ward_agent_command_reports_a_setting_from_the_environment(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--var-dir", str(tmp_path), "ward-agent", "--unit", "H01-AVD10"],
                                env={"OBRUTEN_AGENT_TOKEN": "t", "OBRUTEN_AGENT_JOURNAL_URLS": "ftp://j"})
    assert result.exit_code != 0
    assert "'ftp://j' is not an http(s) URL" in result.output
    assert "OBRUTEN_AGENT_JOURNAL_URLS" in result.output


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_every_setting_and_variable_is_documented(model: type[SettingsModel]) -> None:
    docs = (Path(__file__).parents[3] / "docs" / "settings.md").read_text()
    section = docs.split(f"(`{model.__name__}`)", 1)[1].split("\n## ", 1)[0]
    for name in model.file_keys():
        assert f"| `{name}` |" in section, f"{model.__name__}.{name} is not in docs/settings.md"
    for name, variable in model.env_variables().items():
        assert f"| `{name}` |" in section and f"`{variable}`" in section, f"{variable} is not in docs/settings.md"
