"""The package's layering, read from its imports (lazy ones inside functions included).

Each module of the core has a rank: a module may import only modules of a lower rank, so the
imports have no circles and the core never reaches a front end. Subpackages (the compiler,
the trainer, the notebook) sit above the core, which never imports them. Third-party
libraries stay where they belong: lark in the parser, prompt_toolkit in the REPL, optional
extras in their own subpackage.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rasp"

# the pipeline, bottom up; equal ranks may not import each other
RANK = {
    "errors": 0,
    "ops": 1, "ast": 1, "highlight": 1,
    "graph": 2, "parser": 2,
    "planner": 2.5,  # evaluates aggregates by pattern, for the engine
    "engine": 3, "values": 3,
    "env": 3.5,  # scopes, and the files and declarations names come from
    "analysis": 4, "display": 4,
    "draw": 4.5,
    "outcomes": 4.7,  # what statements give a session, as data for the front ends
    "evaluator": 5,
    "interpreter": 6,
    "__init__": 7,  # the facade: `from rasp import Interpreter`
    "runner": 8,
    "repl": 9,
    "cli": 10, "__main__": 11,
}
FRONT_ENDS = {"runner", "repl", "cli", "__main__"}
# Subpackages the core reaches only inside a function, for an API the issue asks of it:
# `%load_ext rasp` calls rasp.load_ipython_extension (so importing rasp never imports
# IPython), and Interpreter.compile hands the s-op to the compiler.
LAZY = {"__init__": {"notebook"}, "interpreter": {"compiler"}}
# what a subpackage may not import, beyond the front ends
SUBPACKAGE_LIMITS = {"compiler": {"evaluator", "interpreter", "display", "draw"}}
# third-party packages and the only modules (or subpackages) that may import them
THIRD_PARTY = {"lark": {"parser"}, "prompt_toolkit": {"repl"}, "torch": {"train"},
               "matplotlib": {"train"}, "IPython": {"notebook"}, "nbclient": {"notebook"},
               "dask": {"dataset"}, "pyarrow": {"dataset"}}


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
        if other in LAZY.get(name, set()) or (name in FRONT_ENDS and other not in RANK):
            continue  # the command line dispatches to the subpackages' own front ends
        assert other in RANK, f"{name} imports {target}, a subpackage: the core never does"
        assert RANK[other] < RANK[name], f"{name} imports {other}, which is not below it"


@pytest.mark.parametrize("name", sorted(n for n in IMPORTS if "." in n))
def test_subpackages_import_the_core_not_the_front_ends(name):
    """A subpackage's `cli` is its front end: it may use a session, as cli.py does."""
    own = _top(name)
    limits = set() if name.endswith(".cli") else SUBPACKAGE_LIMITS.get(own, set())
    forbidden = FRONT_ENDS | limits
    for target in (t for t in IMPORTS[name] if t.startswith("rasp.")):
        assert _top(target) not in forbidden, f"{name} imports {target}"


@pytest.mark.parametrize("library", sorted(THIRD_PARTY))
def test_third_party_libraries_stay_in_their_modules(library):
    users = {_top(f"rasp.{name}") for name, found in IMPORTS.items() if library in found}
    assert users <= THIRD_PARTY[library], f"{library} imported by {users}"


def test_the_reader_of_imports_sees_relative_and_lazy_imports():
    assert "rasp.interpreter" in IMPORTS["runner"]
    assert "rasp.repl" in IMPORTS["cli"]  # imported inside main(), for a fast start
    assert "lark" in IMPORTS["parser"]
