"""The docs keep up with the code: every CLI command, every setting and every metric is mentioned in
docs/ (or the README). Found by introspection (the click tree, the settings models, the metric
definitions), so a new or renamed one fails here until it is written down."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pkgutil
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import click
import pytest

from obruten import cli
from obruten.cli import main

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(cli.__file__).parent  # src/obruten (a namespace package: no __init__)
# where a settings model lives: the platform config, and any domain's settings module
SETTINGS_MODULES = ("obruten.platform.config",
                    *sorted(f"obruten.{m.name}.settings" for m in pkgutil.iter_modules([str(SOURCE)])
                            if (SOURCE / m.name / "settings.py").exists()))
METRIC_KINDS = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}  # prometheus_client
METRIC_CALLS = {"set", "inc", "observe"}  # a registry taking the metric's name with the sample
# fields of a settings model that are not settings (no file, variable or flag sets them)
NOT_SETTINGS = {"extra": "Config's free-form extras: config.names() leaves it out",
                "clock": "the ward agent's clock, a test hook"}


@cache
def docs_text() -> str:
    files = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


# ---- CLI commands -------------------------------------------------------------------------------

def commands(group: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every visible command and group under ``group``, as its path of names."""
    if path:
        yield path
    if isinstance(group, click.Group):
        ctx = click.Context(group, info_name=" ".join(("obruten", *path)))
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from commands(sub, (*path, name))


def mentions_command(path: tuple[str, ...]) -> bool:
    # `obruten [global options] ops serve`, as the docs write a command line
    options = r"(?:\s+--?[\w-]+(?:[ =](?!-)[^\s`]+)?)*"
    pattern = r"obruten" + options + r"\s+" + r"\s+".join(map(re.escape, path)) + r"(?![\w-])"
    return re.search(pattern, docs_text()) is not None


def test_the_command_tree_is_found() -> None:
    found = list(commands(main))
    assert ("serve",) in found and len(found) > 20


def test_every_cli_command_is_documented() -> None:
    missing = [" ".join(p) for p in commands(main) if not mentions_command(p)]
    assert not missing, f"not in docs/ (add them to docs/cli.md): {missing}"


# ---- settings -----------------------------------------------------------------------------------

def settings_models() -> Iterator[type]:
    """The settings classes: a dataclass or pydantic model named ``Config`` or ``…Settings``."""
    for module_name in SETTINGS_MODULES:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if (isinstance(value, type) and value.__module__ == module_name
                    and (name == "Config" or name.endswith("Settings"))
                    and (dataclasses.is_dataclass(value) or hasattr(value, "model_fields"))):
                yield value


def setting_names(model: type) -> list[str]:
    if hasattr(model, "model_fields"):
        names = [name for name, f in model.model_fields.items() if not getattr(f, "exclude", False)]
    else:
        names = [f.name for f in dataclasses.fields(model) if f.init]
    return [n for n in names if not n.startswith("_") and n not in NOT_SETTINGS]


def mentions_setting(name: str) -> bool:
    # `name` as code (TOML key, table cell) or as its environment variable …_NAME
    return re.search(rf"`{re.escape(name)}`|\b{re.escape(name)} =|[A-Z_]*_{re.escape(name.upper())}\b",
                     docs_text()) is not None


def test_the_settings_models_are_found() -> None:
    models = list(settings_models())
    assert len(models) >= 3, models  # the journal's, the ops service's, the ward agent's
    assert all(setting_names(m) for m in models)


@pytest.mark.parametrize("model", list(settings_models()), ids=lambda m: f"{m.__module__}.{m.__qualname__}")
def test_every_setting_is_documented(model: type) -> None:
    missing = [n for n in setting_names(model) if not mentions_setting(n)]
    assert not missing, f"{model.__qualname__}: not in docs/settings.md (as `name` or its variable): {missing}"


# ---- metrics ------------------------------------------------------------------------------------

def _metric_name(call: ast.Call, kinds: set[str]) -> str | None:
    """The metric a call defines or samples: ``Counter("obruten_x", …)`` or one of our subclasses of
    it (with a constant namespace and subsystem), or ``registry.set("obruten_x", …)``; an f-string
    gives its constant prefix."""
    func = call.func
    kind = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if kind not in kinds | METRIC_CALLS:
        return None
    first = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "name"), None)
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        name = first.value
    elif isinstance(first, ast.JoinedStr) and first.values and isinstance(first.values[0], ast.Constant):
        name = str(first.values[0].value)  # obruten_db_pool_{key}: the family's prefix
    else:
        return None
    if kind in kinds:
        parts = {k.arg: k.value.value for k in call.keywords
                 if k.arg in ("namespace", "subsystem") and isinstance(k.value, ast.Constant)}
        name = "_".join(p for p in (parts.get("namespace"), parts.get("subsystem"), name) if p)
    return name if re.fullmatch(r"obruten_[a-z0-9_]+", name) else None


@cache
def metric_names() -> frozenset[str]:
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in sorted(SOURCE.rglob("*.py"))]
    classes = [n for tree in trees for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    kinds = set(METRIC_KINDS)
    while True:  # our own metric classes, e.g. ``class Reading(Gauge)``, define metrics too
        more = {c.name for c in classes
                if any((b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "")) in kinds for b in c.bases)}
        if more <= kinds:
            break
        kinds |= more
    return frozenset(name for tree in trees for node in ast.walk(tree)
                     if isinstance(node, ast.Call) and (name := _metric_name(node, kinds)))


def test_the_metrics_are_found() -> None:
    assert len(metric_names()) >= 10


def test_every_metric_is_documented() -> None:
    text = docs_text()
    missing = sorted(n for n in metric_names() if n not in text)
    assert not missing, f"not in docs/ (the ops doc's metrics table): {missing}"
