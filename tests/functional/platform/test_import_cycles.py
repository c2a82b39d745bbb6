"""tools/import_cycles.py fails on a cycle, also one hidden in a function or written relatively."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[3] / "tools" / "import_cycles.py"


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _run(src: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), str(src), "pkg"], capture_output=True, text=True, timeout=60)


def test_a_cycle_hidden_in_a_function_fails_with_the_import_lines(tmp_path: Path) -> None:
    src = _package(tmp_path, {
        "a.py": "def f():\n    from pkg.b import g\n    return g\n",
        "b.py": "import os\n\nfrom pkg import a\n\ng = a\n",
        "c.py": "from pkg.a import f\n",
    })
    result = _run(src)
    assert result.returncode == 1, result.stdout
    assert "import cycle among 2 modules: pkg.a, pkg.b" in result.stdout
    assert "pkg.a -> pkg.b (l.2)" in result.stdout
    assert "pkg.b -> pkg.a (l.3)" in result.stdout
    assert "pkg.c" not in result.stdout


def test_a_relative_cycle_through_a_package_init_fails(tmp_path: Path) -> None:
    src = _package(tmp_path, {
        "sub/__init__.py": "from . import x\n",
        "sub/x.py": "from .. import sub\n",
    })
    result = _run(src)
    assert result.returncode == 1, result.stdout
    assert "pkg.sub, pkg.sub.x" in result.stdout


def test_imports_in_one_direction_pass(tmp_path: Path) -> None:
    src = _package(tmp_path, {
        "a.py": "from pkg.b import g\nimport pkg.c\n",
        "b.py": "from pkg.c import h as g\n",
        "c.py": "import json\n\nh = json.dumps\n",
    })
    result = _run(src)
    assert result.returncode == 0, result.stdout
    assert "no import cycles in pkg (3 modules)" in result.stdout
