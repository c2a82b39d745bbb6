"""Every module of obruten imports from an install without the test extra.

A production install (``pip install obruten``) has the runtime ``dependencies`` of pyproject.toml
and what they pull in, but not the ``test`` extra. This test imports every module under
``obruten`` in a fresh interpreter of this virtualenv whose imports of the distributions only the
test extra brings (the extra's packages and their own requirements, less anything the runtime
dependencies also require) are refused, as if they were not installed. Both lists are read from
pyproject.toml and the installed metadata, never written here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

import obruten

# Runs in the fresh interpreter: argv[1] is the source directory, argv[2] the refused import names.
IMPORT_ALL = r"""
import importlib, importlib.abc, json, os, pkgutil, sys, traceback

source, refused = sys.argv[1], frozenset(json.loads(sys.argv[2]))


class TestExtraOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] in refused:
            raise ModuleNotFoundError(f"No module named {fullname!r} (installed only with the test extra)",
                                      name=fullname)
        return None


early = sorted(name for name in sys.modules if name.partition(".")[0] in refused)
sys.meta_path.insert(0, TestExtraOnly())
sys.path.insert(0, source)
import obruten

# obruten is a namespace package: an editable install elsewhere (another checkout) would join its
# path; only this source tree is imported
obruten.__path__ = [os.path.join(source, "obruten")]
failures = {}
if early:
    failures["<interpreter start-up>"] = f"already imported before the blocker: {early}"
imported = []


def failed(name):
    failures[name] = traceback.format_exc(limit=-3)


for info in pkgutil.walk_packages(obruten.__path__, "obruten.", onerror=failed):
    try:
        module = importlib.import_module(info.name)
    except BaseException:
        failed(info.name)
        continue
    if not (module.__file__ or "").startswith(source + os.sep):
        failures[info.name] = f"imported from {module.__file__}, not from {source}"
    imported.append(info.name)
print(json.dumps({"imported": imported, "failures": failures}))
"""


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _applies(req: Requirement, extra: str = "") -> bool:
    return req.marker is None or req.marker.evaluate({"extra": extra})


def _closure(requirements: Iterable[str]) -> set[str]:
    """The installed distributions these requirements bring, with their extras, transitively."""
    seen: set[tuple[str, str]] = set()
    todo = [req for req in map(Requirement, requirements) if _applies(req)]
    found: set[str] = set()
    while todo:
        req = todo.pop()
        for extra in ("", *sorted(req.extras)):
            key = (_name(req.name), extra)
            if key in seen:
                continue
            seen.add(key)
            try:
                requires = metadata.distribution(req.name).requires or []
            except metadata.PackageNotFoundError:
                continue  # not installed here (a marker for another platform): nothing to refuse
            found.add(key[0])
            for line in requires:
                sub = Requirement(line)
                if _applies(sub, extra):
                    todo.append(sub)
    return found


def _pyproject() -> dict:
    for directory in Path(__file__).resolve().parents:
        if (directory / "pyproject.toml").is_file():
            return tomllib.loads((directory / "pyproject.toml").read_text())
    raise AssertionError("no pyproject.toml above this test")


def refused_imports() -> tuple[set[str], set[str]]:
    """(distributions only the test extra brings, the top-level import names they provide)."""
    project = _pyproject()["project"]
    runtime = _closure(project["dependencies"])
    test_only = _closure(project["optional-dependencies"]["test"]) - runtime
    names = {module for module, dists in metadata.packages_distributions().items()
             if dists and all(_name(d) in test_only for d in dists)}
    return test_only, names


def test_every_module_imports_without_the_test_extra() -> None:
    test_only, refused = refused_imports()
    project = _pyproject()["project"]
    for line in project["optional-dependencies"]["test"]:  # the blocker refuses something of each
        dist = _name(Requirement(line).name)
        if dist in test_only:
            provided = {m for m, ds in metadata.packages_distributions().items() if dist in map(_name, ds)}
            assert provided & refused, f"{dist} is test-only but none of its import names is refused"
    source = str(Path(next(iter(obruten.__path__))).resolve().parent)  # the tree these tests run against
    run = subprocess.run([sys.executable, "-I", "-c", IMPORT_ALL, source, json.dumps(sorted(refused))],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.splitlines()[-1])
    assert len(report["imported"]) > 100, report["imported"]
    assert not report["failures"], (
        f"{len(report['failures'])} modules do not import without the test extra "
        f"(refused: {sorted(test_only)}):\n\n" + "\n".join(f"{m}:\n{tb}" for m, tb in report["failures"].items()))
