"""The compiler sees the graph, the analysis, the kernels and the errors (and rasp.files, to
save a model atomically, and rasp.generation, whose loop a model's generate shares with the
interpreter's), nothing else of the core; only graph.py reaches the graph's home
module, so that moving it is a one-line change. No module of it opens a session: its
command-line front end is rasp/commands/compile.py."""

from __future__ import annotations

import ast
from pathlib import Path

COMPILER = Path(__file__).resolve().parents[2] / "rasp" / "compiler"
ALLOWED = {"analysis", "graph", "engine", "ops", "attention", "errors", "files", "generation"}
GRAPH_HOMES = {"analysis", "graph", "engine"}


def core_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 2:
            if node.module is None:  # from .. import ops
                found.update(alias.name for alias in node.names)
            else:
                found.add(node.module.split(".")[0])
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.startswith("rasp"):
            found.add(node.module.split(".")[1] if "." in node.module else "rasp")
    return found


def test_compiler_imports_only_graph_analysis_kernels_and_errors():
    for path in sorted(COMPILER.glob("*.py")):
        imports = core_imports(path)
        assert imports <= ALLOWED, (path.name, imports - ALLOWED)
        if path.name != "graph.py":
            assert not imports & GRAPH_HOMES, (path.name, imports & GRAPH_HOMES)
