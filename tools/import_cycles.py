"""Fail when the package's modules import each other in a cycle.

    python3 tools/import_cycles.py [SRC_DIR [PACKAGE]]      (defaults: src obruten)

Every import counts, including those inside functions and under ``if TYPE_CHECKING``: a cycle
hidden in a function is still a cycle. For each strongly connected group of modules it prints one
shortest cycle with the line of each import, so the fix can start there. Exit status 1 when there
is a cycle. Standard library only, so it runs before anything is installed.
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from pathlib import Path


def modules(src: Path, package: str) -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` starts with (``a.b.func`` → ``a.b``)."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in known:
            return ".".join(parts)
        parts.pop()
    return None


def imports(module: str, path: Path, known: dict[str, Path]) -> dict[str, int]:
    """The package's modules that ``module`` imports, each with the line of its first import."""
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            target = _resolve(name, known)
            if target is not None and target != module:
                found.setdefault(target, node.lineno)
    return found


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; only groups of two or more modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def shortest_cycle(graph: dict[str, dict[str, int]], group: list[str]) -> list[str]:
    """A shortest cycle through the group's first module (breadth-first search inside the group)."""
    members = set(group)
    start = group[0]
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child not in members:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)
    return [start]


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else Path("src")
    package = argv[2] if len(argv) > 2 else "obruten"
    known = modules(src, package)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    groups = strongly_connected(graph)
    for group in groups:
        cycle = shortest_cycle(graph, group)
        print(f"import cycle among {len(group)} modules: {', '.join(group)}")
        for importer, imported in zip(cycle, cycle[1:], strict=False):
            print(f"    {importer} -> {imported} (l.{graph[importer][imported]})")
    if groups:
        print(f"{len(groups)} import cycle(s) in {package} ({len(known)} modules)")
        return 1
    print(f"no import cycles in {package} ({len(known)} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
