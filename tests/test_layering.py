"""The package's layering, read from its imports (lazy ones inside functions included).

Each module of the core has a rank: a module may import only modules of a lower rank, so the
core never reaches a front end. Subpackages (the compiler, the trainer, the datasets, the
notebook) sit above the core, which never imports them; the front ends of the `rasp` command
sit above everything, in the package `commands`, which no other package imports. Over the
whole package, lazy imports counted, the imports have no circle. Third-party libraries stay
where they belong: lark in the parser, prompt_toolkit in the REPL, optional extras in their
own subpackage.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rasp"

# the pipeline, bottom up; equal ranks may not import each other
RANK = {
    "errors": 0,
    "typed": 0.5,  # the typed forms beside object sequences, for the kernels
    "ops": 1, "ast": 1, "highlight": 1,
    "attention": 1.5,  # the kernels of select and aggregate, over ops' sequences
    "files": 1,  # atomic writes and output folders, for every command that writes files
    "graph": 2, "parser": 2,
    "planner": 2.5,  # evaluates aggregates by pattern, for the engine
    "engine": 3, "values": 3,
    "env": 3.5,  # scopes, and the files and declarations names come from
    "dsl": 3.7,  # RASP in Python: builds graph nodes, as the evaluator does from text
    "generation": 3,  # the loop that appends a next-token rule's values, for both runners
    "causal": 3.8,  # which s-ops read later positions, for the analysis and the compiler
    "analysis": 4, "display": 4,
    "compiler": 4.2,  # a library over the graph and the analysis, for the session's compile
    "draw": 4.5,
    "outcomes": 4.7,  # what statements give a session, as data for the front ends
    "evaluator": 5,
    "interpreter": 6,
    "__init__": 7,  # the facade: `from rasp import Interpreter`
    "runner": 8,
    "repl": 9,
    "commands": 10,  # the package of the `rasp` command's front ends
    "__main__": 11,
}
FRONT_ENDS = {"runner", "repl", "commands", "__main__"}
# Subpackages the core reaches only inside a function, for an API the issue asks of it:
# `%load_ext rasp` calls rasp.load_ipython_extension (so importing rasp never imports
# IPython).
LAZY = {"__init__": {"notebook"}}
# what a subpackage may not import, beyond the front ends
SUBPACKAGE_LIMITS = {"compiler": {"evaluator", "interpreter", "display", "draw"}}
# third-party packages and the only modules (or subpackages) that may import them (the
# safetensors format is read and written with numpy, in compiler/folder.py: its library is the
# tests' check only)
THIRD_PARTY = {"lark": {"parser"}, "prompt_toolkit": {"repl"}, "torch": {"train", "interop"},
               "transformer_lens": {"interop"}, "safetensors": set(),
               "matplotlib": {"train"}, "IPython": {"notebook"}, "nbclient": {"notebook"},
               "dask": {"dataset"}, "pyarrow": {"dataset"}, "tracr": {"compat"},
               "jax": {"compat"}}


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE).with_suffix("").parts): p
            for p in PACKAGE.rglob("*.py")}


def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or path.is_dir()


def _imports(name: str, path: Path) -> set[str]:
    """Everything `name` imports: rasp modules as `rasp.x`, others by their top package."""
    package = ["rasp", *name.split(".")[:-1]]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            if node.module is None:  # from . import x: a module, or a name of the package
                found |= {f"{module}.{a.name}" if _is_module(f"{module}.{a.name}")
                          else f"{module}.__init__" for a in node.names}
            else:
                found.add(module)
    return {f if f.startswith("rasp") else f.split(".")[0] for f in found}


def _top(module: str) -> str:
    """`rasp.compiler.heads` -> `compiler`; `rasp.graph` -> `graph`."""
    return module.removeprefix("rasp.").split(".")[0]


IMPORTS = {name: _imports(name, path) for name, path in _modules().items()}


@pytest.mark.parametrize("name", sorted(n for n in IMPORTS if "." not in n))
def test_core_module_imports_only_below_itself(name):
    assert name in RANK or (PACKAGE / name).is_dir(), f"give rasp/{name}.py a rank in RANK"
    for target in (t for t in IMPORTS[name] if t.startswith("rasp.")):
        other = _top(target)
        if other in LAZY.get(name, set()):
            continue
        assert other in RANK, f"{name} imports {target}, a subpackage: the core never does"
        assert RANK[other] < RANK[name], f"{name} imports {other}, which is not below it"


@pytest.mark.parametrize("name", sorted(n for n in IMPORTS if "." in n and _top(n) in RANK
                                         and _top(n) != "commands"))
def test_a_ranked_subpackage_imports_only_below_itself(name):
    """The compiler sits in the pipeline: the session may use it, it uses the core below."""
    own = _top(name)
    for target in (t for t in IMPORTS[name] if t.startswith("rasp.")):
        other = _top(target)
        assert other == own or RANK.get(other, RANK[own]) < RANK[own], f"{name} imports {target}"


@pytest.mark.parametrize("name", sorted(n for n in IMPORTS if _top(n) == "commands"))
def test_the_commands_import_anything_below_them(name):
    """The front ends use the core, the other front ends and every library subpackage."""
    for target in (t for t in IMPORTS[name] if t.startswith("rasp.")):
        other = _top(target)
        assert other not in RANK or RANK[other] <= RANK["commands"], f"{name} imports {target}"


@pytest.mark.parametrize("name", sorted(n for n in IMPORTS if "." in n and _top(n) != "commands"))
def test_subpackages_import_the_core_not_the_front_ends(name):
    forbidden = FRONT_ENDS | SUBPACKAGE_LIMITS.get(_top(name), set())
    for target in (t for t in IMPORTS[name] if t.startswith("rasp.")):
        assert _top(target) not in forbidden, f"{name} imports {target}"


def _module_of(target: str) -> str:
    """`rasp.train.data` -> `train.data`; a package -> its `__init__`."""
    name = target.removeprefix("rasp.")
    return f"{name}.__init__" if (PACKAGE / Path(*name.split("."))).is_dir() else name


def _graph() -> dict[str, set[str]]:
    """Module -> the modules it imports, lazy imports included. Importing `rasp.a.b` runs
    `rasp/a/__init__.py` first, an edge too, unless the importer is inside `a` (Python is then
    importing `a` already)."""
    graph: dict[str, set[str]] = {name: set() for name in IMPORTS}
    for name, found in IMPORTS.items():
        for target in (t for t in found if t.startswith("rasp.")):
            module = _module_of(target)
            graph[name].add(module)
            parts = module.split(".")
            if len(parts) > 1 and _top(f"rasp.{name}") != parts[0]:
                graph[name].add(f"{parts[0]}.__init__")
    return graph


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the graph, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle_lazy_imports_counted():
    circle = _circle(_graph())
    assert circle is None, "an import circle: " + " -> ".join(circle or [])


def test_the_circle_finder_finds_circles():
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert "train.__init__" in _graph()["dataset.shard"]  # the package's __init__ runs first


def test_train_and_dataset_import_in_one_direction_only():
    """rasp.dataset builds on rasp.train (its Program and its samplers), never the reverse."""
    assert not any(_top(t) == "dataset" for n, found in IMPORTS.items() if _top(n) == "train"
                   for t in found)


@pytest.mark.parametrize("library", sorted(THIRD_PARTY))
def test_third_party_libraries_stay_in_their_modules(library):
    users = {_top(f"rasp.{name}") for name, found in IMPORTS.items() if library in found}
    assert users <= THIRD_PARTY[library], f"{library} imported by {users}"


def test_the_reader_of_imports_sees_relative_and_lazy_imports():
    assert "rasp.interpreter" in IMPORTS["runner"]
    assert "rasp.repl" in IMPORTS["commands.run"]  # imported inside main(), for a fast start
    assert "rasp.commands.analyze" in IMPORTS["commands.__init__"]  # from . import analyze
    assert "lark" in IMPORTS["parser"]
