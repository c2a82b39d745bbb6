"""The status model is shared by every UI, so it imports none: not the ops service, not the
journal's web layers, not the ward agent. Its banner template and CSS ship in the package."""

from __future__ import annotations

import ast
from pathlib import Path

import obruten.status
from obruten.status.banner import banner_css, template_dir

STATUS = Path(obruten.status.__file__).parent
FORBIDDEN = ("obruten.ops", "obruten.record.app", "obruten.record.api", "obruten.record.web",
             "obruten.record.status_api", "obruten.ward_agent")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_the_status_model_imports_no_ui() -> None:
    bad = {f"{path.name}: {name}" for path in STATUS.glob("*.py") for name in _imports(path)
           if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)}
    assert bad == set()


def test_the_banner_template_and_css_ship_with_the_status_model() -> None:
    assert template_dir() == STATUS / "templates" and (template_dir() / "banner.html").is_file()
    css = banner_css()
    assert ".banner-reservrutin" in css and all(line.startswith(".banner") for line in css.splitlines())
