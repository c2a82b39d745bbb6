"""One error root: every error class of Obruten is an ObrutenError, and every command shows one as one
line with exit status 1, never a traceback (``clikit.guard`` applied by ``clikit.Group``/``Command``)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import obruten
from obruten.cli import main
from obruten.platform import clikit
from obruten.platform.errors import ObrutenError
from pgtools import free_port


def _error_classes() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(obruten.__path__, "obruten."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, BaseException) and cls.__module__ == info.name
                    and not cls.__name__.startswith("_")):
                found.append(cls)
    return found


def test_every_error_class_derives_from_the_root() -> None:
    classes = _error_classes()
    assert len(classes) > 26
    strays = [f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, ObrutenError)]
    assert strays == []


@pytest.mark.parametrize("error", _error_classes(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_any_obruten_error_is_one_line_and_exit_1(error: type[ObrutenError]) -> None:
    group = clikit.Group("g")

    @group.group("sub")
    def sub() -> None:
        pass

    @sub.command("fail")
    def fail() -> None:
        exc = error.__new__(error)
        Exception.__init__(exc, "the disk is full; free space under var/ and run again")
        if hasattr(error, "message"):
            exc.message = "the disk is full; free space under var/ and run again"  # type: ignore[attr-defined]
        raise exc

    result = CliRunner().invoke(group, ["sub", "fail"])
    assert result.exit_code == 1
    assert result.output == "Error: the disk is full; free space under var/ and run again\n"


def test_a_real_command_failing_prints_one_line_without_traceback(tmp_path: Path) -> None:
    """`obruten cluster status` with no cluster: a TopologyError, seen from a real process."""
    proc = subprocess.run([sys.executable, "-c", "from obruten.cli import main; main()", "--var-dir", str(tmp_path),
                           "cluster", "status", "--cluster-root", str(tmp_path / "none")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("Error: ")


def test_a_database_that_is_down_is_one_line_with_what_to_do(tmp_path: Path) -> None:
    """`obruten audit verify` against a server that does not answer: no psycopg traceback."""
    url = f"postgresql://obruten:x@127.0.0.1:{free_port()}/obruten?connect_timeout=2"
    proc = subprocess.run([sys.executable, "-c", "from obruten.cli import main; main()", "--var-dir", str(tmp_path),
                           "--database-url", url, "audit", "verify"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "the database cannot be reached" in proc.stderr and "obruten db start" in proc.stderr


def test_every_command_of_obruten_is_guarded() -> None:
    def walk(cmd: click.Command, path: str) -> list[str]:
        wrong = [] if isinstance(cmd, (clikit.Group, clikit.Command)) else [path]
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                wrong += walk(sub, f"{path} {name}")
        return wrong

    assert walk(main, "obruten") == []
