"""The tree-walking evaluator: runs `ast` statements and expressions in environments.

Expressions over atoms, lists and dicts compute at once. Expressions over s-ops and selectors
build nodes of the computation graph (values.py); applying one to an input evaluates the graph.
`Evaluator` is the language: statements, expressions, functions, `load`. The session around
it (output, caches, the public API) is `Interpreter`, in interpreter.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import ast, ops
from .display import Settings, format_example, show_value
from .errors import (
    RaspError,
    RaspLimitError,
    RaspNameError,
    RaspTypeError,
    RaspValueError,
    Span,
)
from .parser import parse
from .values import (
    Aggregate,
    Applied,
    Combine,
    Constant,
    Function,
    Indices,
    Map,
    Node,
    Select,
    Selector,
    SOp,
    Tokens,
    describe,
    next_id,
    prepare_input,
)

__all__ = ["Evaluator", "Env", "Exit", "example_library", "folder_of", "limits_at"]

PACKAGE = Path(__file__).resolve().parent
PRELUDE = PACKAGE / "prelude.rasp"
MAX_CALL_DEPTH = 400  # nested RASP calls
LABEL_WIDTH = 30
RESERVED_WORDS = ("out", "range", "zip", "len", "if", "else", "not", "and", "or", "def",
                  "return", "for", "in", "get")


def example_library() -> Path:
    """The shipped examples: inside an installed package, or at the top of a checkout."""
    inside = PACKAGE / "examples"
    return inside if inside.is_dir() else PACKAGE.parent / "examples"


class Exit(Exception):
    """`exit` / `quit`: stop reading the current program."""


class Env:
    """Variables of one scope. A file's environment also copies its public assignments into
    the environment that loaded it (`exports_to`)."""

    def __init__(self, name: str, parent: Env | None = None, exports_to: Env | None = None):
        self.name = name
        self.parent = parent
        self.exports_to = exports_to
        self.vars: dict[str, Any] = {}
        self.exported: dict[str, Any] = {}
        self._reserved: frozenset[str] = frozenset()

    @property
    def reserved(self) -> frozenset[str]:
        """Names no assignment may rebind: those of the outermost (base) environment."""
        return self.parent.reserved if self.parent else self._reserved

    def lookup(self, name: str, span: Span) -> Any:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        raise RaspNameError(f"undefined name '{name}'", span)

    def assign(self, name: str, value: Any, span: Span | None) -> None:
        """`name = value` written by the user: reserved names are refused, and an s-op or
        selector that has no name yet takes this one (for reports and drawings)."""
        if name in self.reserved:
            raise RaspNameError(f"cannot assign to reserved name '{name}'", span)
        if isinstance(value, (SOp, Selector)):
            value.named(name)
        self.define(name, value)

    def define(self, name: str, value: Any) -> None:
        self.vars[name] = value
        if self.exports_to is not None and not name.startswith("_") and name != "out":
            self.exported[name] = value
            self.exports_to.assign(name, value, None)

    def names(self) -> set[str]:
        own = set(self.vars)
        return own | self.parent.names() if self.parent else own


class Evaluator:
    """Runs statements and expressions. What a session does with the values (print them,
    apply them to inputs, draw and analyse them: `emit`, `_show`, `_print_result`,
    `apply`, `_draw`, `_analyze`) is left to its subclass, `Interpreter`."""

    def __init__(self, interactive: bool = False):
        self.interactive = interactive
        self.settings = Settings()
        self.exited = False  # set by `exit` / `quit`
        self._calls: list[tuple[str, Span]] = []  # the RASP calls being run, outermost first
        self._loading: list[Path] = []  # the files being loaded, to refuse a cycle
        self.base = self._make_base()
        self.env = Env("console", parent=self.base)

    # ------------------------------------------------------------ statements

    def execute(self, statements: Iterable[ast.Stmt], env: Env, top: bool = False,
                folder: Path | None = None) -> None:
        for stmt in statements:
            if top:
                with limits_at(stmt.span):
                    self.exec_stmt(stmt, env, top, folder)
            else:
                self.exec_stmt(stmt, env, top, folder)

    def exec_stmt(self, stmt: ast.Stmt, env: Env, top: bool, folder: Path | None) -> None:
        echo = top and self.interactive
        match stmt:
            case ast.ExprStmt(expr=expr):  # expr;
                value = self.eval_expr(expr, env)
                env.vars["out"] = value.example if isinstance(value, Applied) else value
                if top:
                    self._print_result(expr, value)
            case ast.Assign(names=names, values=exprs):  # a, b = e1, e2;
                values = [self.eval_expr(e, env) for e in exprs]
                if len(names) > 1 and len(values) == 1:
                    values = _unpack(values[0], len(names), stmt.span)
                elif len(names) != len(values):
                    raise RaspValueError(f"{len(names)} names but {len(values)} values",
                                         stmt.span)
                env.vars["out"] = values[-1]
                for name, value in zip(names, values):
                    env.assign(name, value, stmt.span)
                    if echo:
                        self._show(name, value, stmt.span)
            case ast.FuncDef(name=name, params=params, body=body, returns=returns):
                for p in params:
                    if p in env.reserved:
                        raise RaspNameError(f"cannot use reserved name '{p}' as a parameter",
                                            stmt.span)
                function = Function(name, params, body, returns, env, env.name)
                env.assign(name, function, stmt.span)
                if echo:
                    self._show(name, function, stmt.span)
            case ast.For(names=names, iterable=iterable, body=body):
                items = self.eval_expr(iterable, env)
                for item in _iterate(items, "a for loop", iterable.span):
                    self._bind(env, names, item, stmt.span)
                    self.execute(body, env, folder=folder)
            case ast.Load(path=path):
                self.load(path, env, stmt.span, folder, echo)
            case ast.Draw(sop=sop_expr, input=input_expr):
                self._draw(sop_expr, input_expr, env, top)
            case ast.Analyze(sop=sop_expr):  # analyze(sop);
                report = self._analyze(self.eval_expr(sop_expr, env), sop_expr.span)
                if top:
                    self.emit(report.report().splitlines())
            case ast.SetExample(which=which, example=expr):
                example = self.eval_expr(expr, env)
                try:
                    prepare_input(example)
                except RaspError as e:
                    raise e.at(expr.span) from None
                for key in _which(which):
                    self.settings.examples[key] = example
            case ast.ShowExample(which=which):
                if top:
                    self.emit(f"\t{key} example: {format_example(self.settings.examples[key])}"
                              for key in _which(which))
            case ast.ToggleExamples(which=which, on=on):
                for key in _which(which):
                    self.settings.show[key] = on
            case ast.ToggleFullDisplay(on=on):
                self.settings.full_display = on
            case ast.Exit():
                raise Exit()
            case _:
                raise AssertionError(f"unhandled statement {stmt!r}")


    # ------------------------------------------------------------ load

    def load(self, path: str, env: Env, span: Span, folder: Path | None, echo: bool) -> None:
        """Run `path.rasp` in a fresh environment over the library; copy its public names."""
        file = _find(path, folder)
        if file is None:
            raise RaspValueError(f"cannot find '{path}.rasp' (looked in "
                                 f"{folder or Path.cwd()} and the example library)", span)
        if file in self._loading:
            raise RaspValueError(f"'{path}.rasp' is already being loaded (a load cycle)", span)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise RaspValueError(f"cannot read '{file}': {e}", span) from None
        program = parse(text, str(file))
        file_env = Env(path, parent=self.base, exports_to=env)
        self._loading.append(file)
        try:
            self.execute(program.statements, file_env, folder=file.parent)
        except Exit:
            pass
        except RaspError as e:
            raise e.noted("in the file loaded here", span) from None
        finally:
            self._loading.pop()
        if echo:
            # list each public name the file assigns at its top level, once, with its value
            quiet = self.settings.quiet()
            for name in _top_level_names(program.statements):
                if name in file_env.exported:
                    self.emit(show_value(name, file_env.exported[name], quiet, self.apply))

    # ------------------------------------------------------------ expressions

    def eval_expr(self, expr: ast.Expr, env: Env) -> Any:
        match expr:
            case ast.Const(value=value):
                return value
            case ast.Name(id=name):
                return env.lookup(name, expr.span)
            case ast.ListExpr(items=items):
                return [self.eval_expr(e, env) for e in items]
            case ast.DictExpr(pairs=pairs):
                return {self._key(k, env): self.eval_expr(v, env) for k, v in pairs}
            case ast.ListComp(item=item, names=names, iterable=iterable):
                scope = Env("comprehension", parent=env)
                result = []
                for x in _iterate(self.eval_expr(iterable, env), "a list comprehension",
                                  iterable.span):
                    self._bind(scope, names, x, expr.span)
                    result.append(self.eval_expr(item, scope))
                return result
            case ast.DictComp(key=key, value=value, names=names, iterable=iterable):
                scope = Env("comprehension", parent=env)
                out = {}
                for x in _iterate(self.eval_expr(iterable, env), "a dict comprehension",
                                  iterable.span):
                    self._bind(scope, names, x, expr.span)
                    out[self._key(key, scope)] = self.eval_expr(value, scope)
                return out
            case ast.Select(keys=keys, queries=queries, op=op):  # select(keys, queries, op)
                k = self._sop(self.eval_expr(keys, env), keys.span, "select's keys")
                q = self._sop(self.eval_expr(queries, env), queries.span, "select's queries")
                return Select(k, q, op, self._label(expr), expr.span, self._trace())
            case ast.Aggregate(selector=sel_expr, values=val_expr, default=def_expr):
                return self._aggregate(expr, sel_expr, val_expr, def_expr, env)
            case ast.BinOp(op=op, left=left, right=right):
                return self._binary(expr, op, self.eval_expr(left, env),
                                    self.eval_expr(right, env))
            case ast.UnaryOp(op=op, operand=operand):
                return self._unary(expr, op, self.eval_expr(operand, env))
            case ast.Cond(then=then, test=test, otherwise=otherwise):
                condition = self.eval_expr(test, env)
                if not isinstance(condition, (SOp, Selector)):
                    # atoms decide lazily, which lets recursion on atoms terminate
                    return self.eval_expr(then if condition else otherwise, env)
                parts = [self._sop(condition, test.span, "the condition"),
                         self._sop(self.eval_expr(then, env), then.span, "a branch"),
                         self._sop(self.eval_expr(otherwise, env), otherwise.span, "a branch")]
                return Map(lambda c, a, b: ops.choose(c, a, b), (parts[0], parts[1], parts[2]),
                           self._label(expr), expr.span, self._trace())
            case ast.Contains(item=item, container=container):
                return self._contains(expr, self.eval_expr(item, env),
                                      self.eval_expr(container, env), container.span)
            case ast.Index(target=target, index=index):
                return self._index(expr, self.eval_expr(target, env),
                                   self.eval_expr(index, env), env)
            case ast.Call(func=func, args=args):
                return self._call(expr, self.eval_expr(func, env), args, env)
            case ast.Builtin(name=name, args=args):
                return self._builtin(expr, name, [self.eval_expr(a, env) for a in args])
        raise AssertionError(f"unhandled expression {expr!r}")

    # -- helpers for expressions

    def _trace(self) -> tuple[tuple[str, Span], ...]:
        return tuple(self._calls)

    def _label(self, expr: ast.Node) -> str:
        text = " ".join(_source_text(expr.span).split())
        return text if len(text) <= LABEL_WIDTH else text[: LABEL_WIDTH - 3] + "..."

    def _sop(self, value: Any, span: Span, role: str) -> SOp:
        """An s-op for `value`: atoms become constants; anything else is an error."""
        if isinstance(value, SOp):
            return value
        if isinstance(value, ops.ATOM_TYPES):
            return Constant(value, span)
        raise RaspTypeError(f"{role} must be an s-op or an atom, got {describe(value)}", span)

    def _key(self, expr: ast.Expr, env: Env) -> Any:
        key = self.eval_expr(expr, env)
        if not isinstance(key, ops.ATOM_TYPES):
            raise RaspTypeError(f"dict keys must be atoms, got {describe(key)}", expr.span)
        return key

    def _bind(self, env: Env, names: tuple[str, ...], item: Any, span: Span) -> None:
        values = [item] if len(names) == 1 else _unpack(item, len(names), span)
        for name, value in zip(names, values):
            env.assign(name, value, span)

    def _map(self, expr: ast.Node, fn: Callable[..., np.ndarray], *inputs: SOp) -> Map:
        return Map(fn, inputs, self._label(expr), expr.span, self._trace())

    def _aggregate(self, expr: ast.Aggregate, sel_expr: ast.Expr, val_expr: ast.Expr,
                   def_expr: ast.Expr | None, env: Env) -> Aggregate:
        selector = self.eval_expr(sel_expr, env)
        if not isinstance(selector, Selector):
            raise RaspTypeError(f"aggregate expects a selector first, got "
                                f"{describe(selector)}", sel_expr.span)
        values = self._sop(self.eval_expr(val_expr, env), val_expr.span, "aggregated values")
        default = 0 if def_expr is None else self.eval_expr(def_expr, env)
        if not isinstance(default, ops.ATOM_TYPES):
            raise RaspTypeError(f"aggregate's default must be an atom, got {describe(default)}",
                                def_expr.span if def_expr else expr.span)
        return Aggregate(selector, values, default, self._label(expr), expr.span, self._trace())

    def _binary(self, expr: ast.BinOp, op: str, left: Any, right: Any) -> Any:
        if op in ("and", "or"):
            return self._logic(expr, op, left, right)
        if isinstance(left, Selector) or isinstance(right, Selector):
            raise RaspTypeError(f"cannot apply '{op}' to a selector", expr.span)
        if isinstance(left, SOp) or isinstance(right, SOp):
            a = self._sop(left, expr.left.span, f"the left side of '{op}'")
            b = self._sop(right, expr.right.span, f"the right side of '{op}'")
            return self._map(expr, lambda x, y: ops.binary(op, x, y), a, b)
        _check_atomish(left, expr.left.span, op)
        _check_atomish(right, expr.right.span, op)
        try:
            return ops.PYTHON_OPS[op](left, right)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as e:
            raise RaspValueError(str(e), expr.span) from None
        except RaspError as e:
            raise e.at(expr.span) from None

    def _logic(self, expr: ast.BinOp, op: str, left: Any, right: Any) -> Any:
        selectors = isinstance(left, Selector), isinstance(right, Selector)
        if all(selectors):
            return Combine(op, (left, right), self._label(expr), expr.span, self._trace())
        if any(selectors):
            raise RaspTypeError(f"'{op}' needs a selector on both sides or on neither",
                                expr.span)
        if isinstance(left, SOp) or isinstance(right, SOp):
            a = self._sop(left, expr.left.span, f"the left side of '{op}'")
            b = self._sop(right, expr.right.span, f"the right side of '{op}'")
            combine = np.logical_and if op == "and" else np.logical_or
            return self._map(expr, lambda x, y: combine(ops.truth(x), ops.truth(y)), a, b)
        return (left and right) if op == "and" else (left or right)

    def _unary(self, expr: ast.UnaryOp, op: str, value: Any) -> Any:
        if isinstance(value, Selector):
            if op == "not":
                return Combine("not", (value,), self._label(expr), expr.span, self._trace())
            raise RaspTypeError(f"cannot apply '{op}' to a selector", expr.span)
        if isinstance(value, SOp):
            return self._map(expr, lambda x: ops.unary(op, x), value)
        if op == "indicator":
            raise RaspTypeError(f"indicator expects an s-op, got {describe(value)}", expr.span)
        _check_atomish(value, expr.operand.span, op)
        try:
            return {"not": lambda v: not v, "-": lambda v: -v, "+": lambda v: +v,
                    "round": round}[op](value)
        except (TypeError, ValueError, OverflowError) as e:
            raise RaspValueError(str(e), expr.span) from None

    def _contains(self, expr: ast.Contains, item: Any, container: Any, span: Span) -> Any:
        if isinstance(item, SOp):
            if not isinstance(container, list) or not all(
                    isinstance(v, ops.ATOM_TYPES) for v in container):
                raise RaspTypeError(f"'s-op in X' needs a list of atoms, got "
                                    f"{describe(container)}", span)
            items = list(container)
            return self._map(expr, lambda x: ops.is_in(x, items), item)
        if not isinstance(item, ops.ATOM_TYPES):
            raise RaspTypeError(f"'in' expects an s-op or an atom on its left, got "
                                f"{describe(item)}", expr.item.span)
        if isinstance(container, list):
            return item in container
        if isinstance(container, SOp):
            # "a" in s: does "a" occur anywhere? One head attending to every position.
            found = Map(lambda x: ops.binary("==", x, ops.constant(item, x.shape[-1])).astype(
                np.int64), (container,), self._label(expr), expr.span, self._trace())
            mean = Aggregate(_FULL, found, 0, self._label(expr), expr.span, self._trace())
            return self._map(expr, lambda x: ops.binary(">", x, ops.constant(0, x.shape[-1])), mean)
        raise RaspTypeError(f"'atom in X' needs a list or an s-op, got {describe(container)}",
                            span)

    def _index(self, expr: ast.Index, target: Any, index: Any, env: Env) -> Any:
        span = expr.index.span
        if isinstance(target, SOp):
            if not isinstance(index, int):
                raise RaspTypeError(f"an s-op can only be indexed by an integer, got "
                                    f"{describe(index)}", span)
            if index >= 0:
                query: SOp = Constant(index, span)
            else:
                # negative positions count from the end: the query needs `length`
                length = self._sop(env.lookup("length", expr.span), expr.span, "length")
                query = self._map(expr, lambda n: ops.binary("+", n, ops.constant(index, len(n))),
                                  length)
            select = Select(_INDICES, query, "==", self._label(expr), expr.span, self._trace())
            return Aggregate(select, target, 0, self._label(expr), expr.span, self._trace())
        if isinstance(target, (list, str, dict)):
            if isinstance(index, SOp):
                container = target
                return self._map(expr, lambda x: ops.lookup(container, x), index)
            return _lookup(target, index, span)
        raise RaspTypeError(f"cannot index into {describe(target)}", expr.target.span)

    def _call(self, expr: ast.Call, func: Any, arg_exprs: tuple, env: Env) -> Any:
        if isinstance(func, (SOp, Selector)):
            if len(arg_exprs) != 1:
                raise RaspTypeError(f"an s-op or selector is applied to exactly one input, "
                                    f"got {len(arg_exprs)}", expr.span)
            example = self.eval_expr(arg_exprs[0], env)
            return Applied(func, example, self.apply(func, example, expr.span,
                                                     arg_exprs[0].span))
        if not isinstance(func, Function):
            raise RaspTypeError(f"{describe(func)} is not a function", expr.func.span)
        args = [self.eval_expr(a, env) for a in arg_exprs]
        if len(args) != len(func.params):
            raise RaspTypeError(f"{func.name} takes {len(func.params)} argument"
                                f"{'s' if len(func.params) != 1 else ''}, got {len(args)}",
                                expr.span)
        return self.call(func, args, expr)

    def call(self, func: Function, args: list, expr: ast.Node) -> Any:
        """Run a function's body in a fresh scope over the scope that defined it."""
        if len(self._calls) >= MAX_CALL_DEPTH:
            raise RaspLimitError(f"too many nested calls (more than {MAX_CALL_DEPTH}): is "
                                 f"'{func.name}' recursing without end?", expr.span)
        scope = Env(func.name, parent=func.env)
        for name, value in zip(func.params, args):
            scope.define(name, value)
        first_new = next_id()
        note = (f"in '{func.name}' called here", expr.span)
        self._calls.append(note)
        try:
            self.execute(func.body, scope)
            results = [self.eval_expr(e, scope) for e in func.returns]
        except RaspError as e:
            if note not in e.notes:
                e.noted(*note)
            raise
        finally:
            self._calls.pop()
        for result in results:
            if isinstance(result, Node) and result.id > first_new:
                result.name, result.label = None, self._label(expr)  # named by its call
        return results[0] if len(results) == 1 else results

    def _builtin(self, expr: ast.Builtin, name: str, args: list) -> Any:
        if name == "range":
            if not 1 <= len(args) <= 3:
                raise RaspTypeError(f"range takes 1 to 3 arguments, got {len(args)}", expr.span)
            if not all(isinstance(a, int) for a in args):
                raise RaspTypeError(f"range expects integers, got {describe(args)}", expr.span)
            if len(args) == 3 and args[2] == 0:
                raise RaspValueError("range's step must not be zero", expr.span)
            numbers = range(*args)
            try:
                too_long = len(numbers) > ops.MAX_ITEMS
            except OverflowError:  # more numbers than Python can count
                too_long = True
            if too_long:
                raise RaspLimitError(f"range too long: more than {ops.MAX_ITEMS} numbers",
                                     expr.span)
            return list(numbers)
        if name == "zip":
            for i, a in enumerate(args):
                if not isinstance(a, list):
                    raise RaspTypeError(f"zip expects lists, argument {i + 1} is "
                                        f"{describe(a)}", expr.args[i].span)
            if len({len(a) for a in args}) > 1:
                raise RaspValueError("zip expects lists of one length, got lengths "
                                     + ", ".join(str(len(a)) for a in args), expr.span)
            return [list(t) for t in zip(*args)]
        if len(args) != 1:
            raise RaspTypeError(f"len takes 1 argument, got {len(args)}", expr.span)
        if not isinstance(args[0], list):
            raise RaspTypeError(f"len expects a list, got {describe(args[0])}",
                                expr.args[0].span)
        return len(args[0])

    # ------------------------------------------------------------ the base environment

    def _make_base(self) -> Env:
        base = Env("library")
        for name, value in _builtin_values().items():
            base.define(name, value)
        # the library is written in RASP; its names become reserved once it is loaded
        prelude = parse(PRELUDE.read_text(encoding="utf-8"), str(PRELUDE))
        self.execute(prelude.statements, base)
        base._reserved = frozenset(base.vars) | frozenset(RESERVED_WORDS)
        base.define("tokens", base.vars["tokens_str"])  # the one assignable built-in
        return base


# ---------------------------------------------------------------- module helpers

@contextlib.contextmanager
def limits_at(span: Span) -> Iterator[None]:
    """Python's recursion limit (deeply nested source or values) or memory, exhausted while
    running one top-level statement or expression: a RaspLimitError there. Only top-level
    code catches these: deep in the recursion there is no room left to build the error."""
    try:
        yield
    except RecursionError:
        raise RaspLimitError("nested too deeply to evaluate", span) from None
    except MemoryError:
        raise RaspLimitError("not enough memory to evaluate this", span) from None


def _builtin_values() -> dict[str, Any]:
    return {"tokens_str": _TOKENS["tokens_str"], "tokens_int": _TOKENS["tokens_int"],
            "tokens_float": _TOKENS["tokens_float"], "tokens_bool": _TOKENS["tokens_bool"],
            "tokens_asis": _TOKENS["tokens_asis"], "indices": _INDICES,
            "True": True, "False": False}


def _named(node: Node, name: str) -> Node:
    node.named(name)
    return node


_TOKENS = {name: _named(Tokens(name, convert), name) for name, convert in [
    ("tokens_str", str), ("tokens_int", int), ("tokens_float", float), ("tokens_bool", bool),
    ("tokens_asis", None)]}
_INDICES = _named(Indices("indices"), "indices")
# The selector behind `atom in s-op`: one object, so all such tests share a head, as in the
# original (where it is distinct from the library's full_s).
_FULL = _named(Select(Constant(1), Constant(1), "==", "full"), "full")


def _source_text(span: Span) -> str:
    lines = span.source.text.splitlines()[span.line - 1: span.end_line]
    if not lines:
        return ""
    if len(lines) == 1:
        return lines[0][span.column - 1: span.end_column - 1]
    return "\n".join([lines[0][span.column - 1:], *lines[1:-1], lines[-1][: span.end_column - 1]])


def _unpack(value: Any, count: int, span: Span) -> list:
    if not isinstance(value, list):
        raise RaspTypeError(f"cannot unpack {describe(value)} into {count} names", span)
    if len(value) != count:
        raise RaspValueError(f"expected {count} values to unpack, got {len(value)}", span)
    return value


def _iterate(items: Any, what: str, span: Span) -> list:
    if isinstance(items, dict):
        return list(items)
    if isinstance(items, list):
        return items
    raise RaspTypeError(f"{what} needs a list or a dict, got {describe(items)}", span)


def _lookup(container: Any, index: Any, span: Span) -> Any:
    if isinstance(container, dict):
        if not isinstance(index, ops.ATOM_TYPES):
            raise RaspTypeError(f"dict keys are atoms, got {describe(index)}", span)
        if index not in container:
            raise RaspValueError(f"key {describe(index)} is not in the dict", span)
        return container[index]
    if not isinstance(index, int):
        raise RaspTypeError(f"an index must be an integer or an s-op, got {describe(index)}",
                            span)
    if not -len(container) <= index < len(container):
        kind = "list" if isinstance(container, list) else "string"
        raise RaspValueError(f"index {index} out of range for {kind} of length "
                             f"{len(container)}", span)
    return container[index]


def _check_atomish(value: Any, span: Span, op: str) -> None:
    """Operators between non-s-op values work on atoms, lists and dicts, as in Python."""
    if isinstance(value, (Function, Applied)):
        raise RaspTypeError(f"cannot apply '{op}' to {describe(value)}", span)


def folder_of(filename: str) -> Path | None:
    path = Path(filename)
    return path.parent if not filename.startswith("<") and path.exists() else None


def _find(name: str, folder: Path | None) -> Path | None:
    for base in (folder or Path.cwd(), example_library()):
        try:
            candidate = (base / f"{name}.rasp").resolve()
            if candidate.is_file():
                return candidate
        except (OSError, ValueError):  # no file can have this name: too long, a NUL in it...
            continue
    return None


def _top_level_names(statements: Iterable[ast.Stmt]) -> list[str]:
    """Names assigned or defined directly in a file, in the order of their last assignment."""
    order: dict[str, None] = {}
    for stmt in statements:
        names = stmt.names if isinstance(stmt, ast.Assign) else (
            (stmt.name,) if isinstance(stmt, ast.FuncDef) else ())
        for name in names:
            order.pop(name, None)
            order[name] = None
    return list(order)


def _which(which: str) -> tuple[str, ...]:
    return ("s-op", "selector") if which == "both" else (which,)


