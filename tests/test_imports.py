"""The package's shape: no import circle among ganlab's modules, no module over 300 lines, and the run doctor
reads run directories without importing the trainer.

The import graph is read from the source (ast), not from a running interpreter: every `import ganlab.x` and
`from ganlab.x import y` (absolute or relative), at module level and inside functions alike, is an edge to the
module it names (to `ganlab.x.y` when y is a module). A package's own __init__ is not an edge of its submodules,
and registry.discover's imports by name are not edges: a package discovers the modules that import its base,
which is how registration avoids a circle."""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
MAX_LINES = 300


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports, for every .py under `package`."""
    root = package.parent
    paths = {module_name(p, root): p for p in sorted(package.rglob("*.py"))}
    graph = {}
    for name, path in paths.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:   # from . import x, from ..y import z
                    up = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names)
        graph[name] = {t for t in targets if t in paths and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle once, as the path that closes it (a -> b -> a), found by depth-first search."""
    found, done, seen = [], set(), set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                circle = path[path.index(nxt):]
                key = frozenset(circle)
                if key not in seen:
                    seen.add(key)
                    found.append([*circle, nxt])
            elif nxt not in done:
                visit(nxt, [*path, nxt])
        done.add(node)

    for node in sorted(graph):
        if node not in done:
            visit(node, [node])
    return found


def test_the_graph_resolves_relative_and_function_level_imports_and_finds_a_planted_circle(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import x\n")
    (pkg / "c.py").write_text("import pkg.a\nx = 1\n")
    (pkg / "d.py").write_text("from pkg.sub.b import f\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.c"} and graph["pkg.d"] == {"pkg.sub.b"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


def import_path(graph: dict[str, set[str]], start: str, to) -> list[str] | None:
    """The shortest import path from `start` to a module for which `to(module)` holds, by breadth-first search."""
    parent, queue = {start: None}, [start]
    for node in queue:
        if to(node):
            path = [node]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])
            return path[::-1]
        for nxt in sorted(graph[node] - parent.keys()):
            parent[nxt] = node
            queue.append(nxt)
    return None


def test_no_module_of_ganlab_imports_itself_through_others():
    found = cycles(import_graph(SRC / "ganlab"))
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)


def test_no_module_of_ganlab_is_over_300_lines():
    long = {str(p.relative_to(SRC)): n for p in sorted((SRC / "ganlab").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split each by what it holds): {long}"


def test_the_doctor_never_imports_the_trainer():
    # DESIGN: the doctor reads a run directory only; reaching ganlab.train would tie it to torch and the trainer
    path = import_path(import_graph(SRC / "ganlab"), "ganlab.track.doctor",
                       lambda m: m == "ganlab.train" or m.startswith("ganlab.train."))
    assert path is None, "the doctor imports the trainer: " + " -> ".join(path)
