"""Scopes and where their names come from: the variables of one scope (`Env`), the files
`load` finds (beside the loading file, in the current folder, in the example library), and
the parameter kinds a file declares for its functions in comments.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import ast
from .errors import RaspNameError, RaspTypeError, Span
from .graph import Selector, SOp
from .values import KINDS, Function, describe

__all__ = ["Env", "STATEMENT_FORMS", "did_you_mean", "example_library", "folder_of",
           "find_file", "declare_kinds", "top_level_names", "PACKAGE"]

PACKAGE = Path(__file__).resolve().parent
CALL_LEVELS = 3  # nested calls shown in a qualified name, at most


def example_library() -> Path:
    """The shipped examples: inside an installed package, or at the top of a checkout."""
    inside = PACKAGE / "examples"
    return inside if inside.is_dir() else PACKAGE.parent / "examples"


class Env:
    """Variables of one scope. A file's environment also copies its public assignments into
    the environment that loaded it (`exports_to`)."""

    def __init__(self, name: str, parent: Env | None = None, exports_to: Env | None = None,
                 calls: tuple[str, ...] | None = None):
        self.name = name
        self.parent = parent
        self.exports_to = exports_to
        # the calls that made this scope, outermost first, as they qualify its nodes
        self.calls: tuple[str, ...] = calls if calls is not None else (
            parent.calls if parent else ())
        self.vars: dict[str, Any] = {}
        self._reserved: frozenset[str] = frozenset()

    @property
    def path(self) -> str:
        """What qualifies the nodes made in this scope: `f/` in a call of f, `f/g/` in a
        call of g made by f; the innermost CALL_LEVELS calls at most."""
        shown = self.calls[-CALL_LEVELS:]
        more = ".../" if len(self.calls) > CALL_LEVELS else ""
        return more + "".join(f"{call}/" for call in shown)

    @property
    def reserved(self) -> frozenset[str]:
        """Names no assignment may rebind: those of the outermost (base) environment."""
        return self.parent.reserved if self.parent else self._reserved

    def find(self, name: str) -> Any:
        """The value of `name` here or in an enclosing scope; None where it is unbound (no
        RASP value is None)."""
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        return None

    def lookup(self, name: str, span: Span) -> Any:
        value = self.find(name)
        if value is not None:
            return value
        if name in STATEMENT_FORMS:
            raise RaspNameError(f"'{name}' is a statement, not a function: write "
                                f"'{STATEMENT_FORMS[name]};' on its own", span)
        raise RaspNameError(f"undefined name '{name}'{did_you_mean(name, self.names())}",
                            span)

    def assign(self, name: str, value: Any, span: Span | None) -> None:
        """`name = value` written by the user: reserved names are refused, and an s-op or
        selector that has no name yet is bound as a copy named by this one, qualified by the
        calls that made the scope (for reports and drawings)."""
        if name in self.reserved:
            raise RaspNameError(f"cannot assign to reserved name '{name}'", span)
        if name == "tokens" and not isinstance(value, SOp):
            raise RaspTypeError(f"tokens must be an s-op, such as tokens_int or tokens_float, "
                                f"got {describe(value)}", span)
        if isinstance(value, (SOp, Selector)) and value.name is None:
            value = value.named(self.path + name)
        self.define(name, value)

    def define(self, name: str, value: Any) -> None:
        self.vars[name] = value
        if self.exports_to is not None and not name.startswith("_") and name != "out":
            self.exports_to.assign(name, value, None)

    def names(self) -> set[str]:
        own = set(self.vars)
        return own | self.parent.names() if self.parent else own


# The statements that look like calls, as the error for their use as a value writes them.
STATEMENT_FORMS = {"analyze": "analyze(sop)", "draw": "draw(sop)",
                   "compile": "compile(sop, vocab, max_len)"}


def did_you_mean(name: str, names: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the names closest to a misspelt one; "" if none is."""
    known = [n for n in names if n != "out"] + ["select", "aggregate"]
    close = difflib.get_close_matches(name, known, n=2, cutoff=0.75)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"


def folder_of(filename: str) -> Path | None:
    path = Path(filename)
    return path.parent if not filename.startswith("<") and path.exists() else None


def find_file(name: str, folder: Path | None) -> Path | None:
    name = name.removesuffix(".rasp")  # `load "sort.rasp";` means sort.rasp too
    # the loading file's folder; the current folder, where the original looks (its programs
    # name files from there); then the example library
    for base in dict.fromkeys((folder or Path.cwd(), Path.cwd(), example_library())):
        try:
            candidate = (base / f"{name}.rasp").resolve()
            if candidate.is_file():
                return candidate
        except (OSError, RuntimeError, ValueError):  # no file can have this name: too long, a
            # NUL in it, a symlink loop (a RuntimeError before Python 3.13)...
            continue
    return None


_DECLARATION = re.compile(r"^#:\s*(\w+)\(([^)]*)\)\s*$", re.M)


def declare_kinds(text: str, env: Env) -> None:
    """A file may declare what its functions' parameters must be, in comments of the form
    `#: f(x: selector, y: s-op)` (kinds: see values.KINDS); a call with an argument of
    another kind is then an error at the call, not inside the function. A declaration that
    does not fit the function it names is ignored."""
    for match in _DECLARATION.finditer(text):
        function = env.vars.get(match[1])
        pairs = [part.split(":") for part in match[2].split(",") if part.strip()]
        if not isinstance(function, Function) or any(len(p) != 2 for p in pairs):
            continue
        names = tuple(p[0].strip() for p in pairs)
        kinds = tuple(p[1].strip() for p in pairs)
        if names == function.params and all(k in KINDS for k in kinds):
            function.kinds = kinds


def top_level_names(statements: Iterable[ast.Stmt]) -> list[str]:
    """Names assigned or defined directly in a file, in the order of their last assignment."""
    order: dict[str, None] = {}
    for stmt in statements:
        names = stmt.names if isinstance(stmt, ast.Assign) else (
            (stmt.name,) if isinstance(stmt, ast.FuncDef) else ())
        for name in names:
            order.pop(name, None)
            order[name] = None
    return list(order)
