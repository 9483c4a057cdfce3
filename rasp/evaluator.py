"""The tree-walking evaluator: runs `ast` statements and expressions in environments (env.py).

Expressions over atoms, lists and dicts compute at once. Expressions over s-ops and selectors
build nodes of the computation graph (graph.py); applying one to an input evaluates the graph.
`Evaluator` is the language: statements, expressions, functions, `load`. What a session does
with values (apply them to inputs, show them, draw and analyse them, the REPL's commands) is
its `Host`'s: `Interpreter`, in interpreter.py, is one. The top-level statements' outcomes
(outcomes.py) go to the host as they come.

Every node gets its display text here, unparsed from the expression that built it
(`ast.unparse`); a node made inside a function call is qualified by the functions that made
it, as `selector_width/share_of_first`, and what a call returns reads as the call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from . import ast, ops
from .env import (
    PACKAGE,
    Env,
    declare_kinds,
    find_file,
    top_level_names,
)
from .errors import (
    Note,
    RaspError,
    RaspLimitError,
    RaspNameError,
    RaspTypeError,
    RaspValueError,
    Span,
    python_message,
    shorten,
)
from .graph import (
    Aggregate,
    Combine,
    Constant,
    Indices,
    Map,
    Node,
    Operation,
    Select,
    Selector,
    SOp,
    Tokens,
    next_id,
)
from .outcomes import Outcome, Reported, Shown
from .parser import parse
from .values import KINDS, Applied, Function, describe, of_kind

__all__ = ["Evaluator", "Host", "Exit", "limits_at"]

PRELUDE = PACKAGE / "prelude.rasp"
# nested RASP calls: within Python's default recursion limit, which rasp leaves as it is
MAX_CALL_DEPTH = 200
TEXT_WIDTH = 50  # display texts of nodes, at most (longer ones are abbreviated)
N = TypeVar("N", bound=Node)
RESERVED_WORDS = ("out", "range", "zip", "len", "if", "else", "not", "and", "or", "def",
                  "return", "for", "in", "get")


class Exit(Exception):
    """`exit` / `quit`: stop reading the current program."""


class Host(Protocol):
    """What a session does with the values the language makes. `Evaluator` runs statements
    and builds values; the host applies s-ops to inputs, makes the outcome of a statement
    that shows a value or acts on the session (`analyze`, `draw`, `compile`, `set example`,
    ...), and receives the outcomes of the top-level statements."""

    def apply(self, node: Node, example: Any, span: Span | None = None,
              input_span: Span | None = None) -> np.ndarray:
        """The value of an s-op or selector on an input."""

    def show(self, name: str | None, value: Any, span: Span, examples: bool = True) -> Shown:
        """A value as the REPL shows it after `x;` or `x = ...;` (`examples`: with the
        running examples, if they are on)."""

    def perform(self, stmt: ast.Stmt, values: tuple[Any, ...], top: bool) -> None:
        """A statement that acts on the session (`analyze`, `draw`, `compile` and the
        REPL's commands), given the values of its expressions; at the top level its outcome
        goes to `receive`."""

    def receive(self, outcome: Outcome) -> None:
        """An outcome of a top-level statement."""


class Evaluator:
    """Runs statements and expressions for a `Host`. With `interactive`, top-level
    assignments and definitions are shown, as in the original REPL."""

    def __init__(self, host: Host, interactive: bool = False):
        self.host = host
        self.interactive = interactive
        self.calls: list[tuple[Note, Span]] = []  # the RASP calls being run, outermost first
        self.loading: list[Path] = []  # the files being loaded, to refuse a cycle
        self.load_sites: list[Span] = []  # the load statements that loaded them
        # The selector behind `atom in s-op`: one node, so all such tests share a head, as in
        # the original (where it is distinct from the library's full_s).
        self.full = Select(Constant(1), Constant(1), "==", "full").named("full")
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
                    name = expr.id if isinstance(expr, ast.Name) else "out"
                    self.host.receive(self.host.show(name, value, expr.span))
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
                    if echo:  # the value as bound: a named copy of an s-op or selector
                        self.host.receive(self.host.show(name, env.vars[name], stmt.span))
            case ast.FuncDef(name=name, params=params, body=body, returns=returns):
                for i, p in enumerate(params):
                    if p in params[:i]:
                        raise RaspNameError(f"parameter '{p}' appears twice in '{name}'",
                                            stmt.span)
                    if p in env.reserved:
                        raise RaspNameError(f"cannot use reserved name '{p}' as a parameter",
                                            stmt.span)
                function = Function(name, params, body, returns, env)
                env.assign(name, function, stmt.span)
                if echo:
                    self.host.receive(self.host.show(name, function, stmt.span))
            case ast.For(names=names, iterable=iterable, body=body):  # for x in e { ... }
                items = self.eval_expr(iterable, env)
                for item in _iterate(items, "a for loop", iterable.span):
                    self._bind(env, names, item, stmt.span)
                    self.execute(body, env, folder=folder)
            case ast.Load(path=path):  # load "name";
                self.load(path, env, stmt.span, folder, echo)
            case ast.Draw(sop=sop_expr, input=input_expr):  # draw(sop[, input]);
                example = None if input_expr is None else self.eval_expr(input_expr, env)
                self.host.perform(stmt, (self.eval_expr(sop_expr, env), example), top)
            case ast.Analyze(sop=sop_expr):  # analyze(sop);
                self.host.perform(stmt, (self.eval_expr(sop_expr, env),), top)
            case ast.Compile(sop=sop, vocab=vocab, max_len=max_len, path=path):
                self.host.perform(stmt, (self.eval_expr(sop, env), self.eval_expr(vocab, env),
                                         self.eval_expr(max_len, env),
                                         None if path is None else self.eval_expr(path, env)),
                                  top)
            case ast.Generate(sop=sop, prompt=prompt, steps=steps, until=until):
                self.host.perform(stmt, (self.eval_expr(sop, env), self.eval_expr(prompt, env),
                                         self.eval_expr(steps, env),
                                         None if until is None else self.eval_expr(until, env)),
                                  top)
            case ast.SetExample(example=expr):  # set [s-op|selector] example e
                self.host.perform(stmt, (self.eval_expr(expr, env),), top)
            case (ast.ShowExample() | ast.ToggleExamples() | ast.ToggleFullDisplay()
                  | ast.ToggleCausal()):
                self.host.perform(stmt, (), top)
            case ast.Exit():
                raise Exit()
            case _:
                raise AssertionError(f"unhandled statement {stmt!r}")

    # ------------------------------------------------------------ load

    def load(self, path: str, env: Env, span: Span, folder: Path | None,
             echo: bool) -> dict[str, Any]:
        """Run `path.rasp` in a fresh environment over the library; copy its public names.

        Interactively (the REPL, piped input), as in the original, a statement of the file
        that fails is reported and the rest of the file still runs; in a script the first
        error ends the load. Either way the names assigned before an error stay defined.
        Returns the listing of the load: each public name the file assigns at its top level
        (or gets from a file it loads), in the order of its last such assignment, with the
        value that assignment gave; with `echo` it is shown."""
        file = find_file(path, folder)
        if file is None:
            places = " and ".join(str(p) for p in dict.fromkeys((folder or Path.cwd(), Path.cwd())))
            raise RaspValueError(f"cannot find '{path.removesuffix('.rasp')}.rasp' (looked in "
                                 f"{places} and the example library)", span)
        if file in self.loading:
            chain = [f.name for f in self.loading[self.loading.index(file):]] + [file.name]
            raise RaspValueError("a load cycle: " + " loads ".join(chain), span)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise RaspValueError(f"cannot read '{file}': {e}", span) from None
        try:
            program = parse(text, str(file))
        except RaspError as e:
            raise e.noted("in the file loaded here", span, "load") from None
        file_env = Env(path, parent=self.base, exports_to=env)
        listing: dict[str, Any] = {}
        self.loading.append(file)
        self.load_sites.append(span)
        try:
            for stmt in program.statements:
                try:
                    if isinstance(stmt, ast.Load):
                        names = self.load(stmt.path, file_env, stmt.span, file.parent, False)
                    else:
                        self.exec_stmt(stmt, file_env, False, file.parent)
                        names = {name: file_env.vars[name]
                                 for name in top_level_names([stmt]) if name in file_env.vars}
                except RaspError as e:
                    e.noted("in the file loaded here", span, "load")
                    if not self.interactive:
                        raise
                    for site in reversed(self.load_sites[:-1]):  # the loads around this one
                        e.noted("in the file loaded here", site, "load")
                    self.host.receive(Reported(e))
                    continue
                for name, value in names.items():
                    if not name.startswith("_"):
                        listing.pop(name, None)
                        listing[name] = value
        except Exit:
            pass
        finally:
            self.loading.pop()
            self.load_sites.pop()
        declare_kinds(text, file_env)
        if echo:
            for name, value in listing.items():
                self.host.receive(self.host.show(name, value, span, examples=False))
        return listing

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
                return self._made(Select, k, q, op, expr=expr, env=env)
            case ast.Aggregate(selector=sel_expr, values=val_expr, default=def_expr):
                return self._aggregate(expr, sel_expr, val_expr, def_expr, env)
            case ast.BinOp(op=op, left=left, right=right):
                return self._binary(expr, op, self.eval_expr(left, env),
                                    self.eval_expr(right, env), env)
            case ast.UnaryOp(op=op, operand=operand):
                return self._unary(expr, op, self.eval_expr(operand, env), env)
            case ast.Cond(then=then, test=test, otherwise=otherwise):
                condition = self.eval_expr(test, env)
                if not isinstance(condition, (SOp, Selector)):
                    # atoms decide lazily, which lets recursion on atoms terminate
                    return self.eval_expr(then if condition else otherwise, env)
                parts = (self._sop(condition, test.span, "the condition"),
                         self._sop(self.eval_expr(then, env), then.span, "a branch"),
                         self._sop(self.eval_expr(otherwise, env), otherwise.span, "a branch"))
                return self._made(Map, Operation("choose"), parts, expr=expr, env=env)
            case ast.Contains(item=item, container=container):
                return self._contains(expr, self.eval_expr(item, env),
                                      self.eval_expr(container, env), env)
            case ast.Index(target=target, index=index):
                return self._index(expr, self.eval_expr(target, env),
                                   self.eval_expr(index, env), env)
            case ast.Call(func=func, args=args):
                return self._call(expr, self.eval_expr(func, env), args, env)
            case ast.Builtin(name=name, args=args):
                return self._builtin(expr, name, [self.eval_expr(a, env) for a in args])
        raise AssertionError(f"unhandled expression {expr!r}")

    # -- helpers for expressions

    def _made(self, make: Callable[..., N], *args: Any, expr: ast.Expr, env: Env) -> N:
        """`make(*args)` with what every node records of the expression that makes it: its
        display text, its span, the calls it is made in, and its whole text where the display
        text is abbreviated."""
        texts = self._texts(expr, env)
        node = make(*args, texts["text"], expr.span, tuple(self.calls))
        return node.annotated(**texts) if texts["full_text"] else node

    def _texts(self, expr: ast.Expr, env: Env) -> dict[str, str | None]:
        """A node's display text: its expression unparsed, names of atoms replaced by their
        values (so that a loop's nodes differ), qualified by the functions that make it; and,
        where that is abbreviated ("..."), the whole text (a compiled model's names), else
        None. The whole text is made only then: its cost grows with the expression."""
        text = env.path + ast.unparse(expr, TEXT_WIDTH, self._atoms(env, 12))
        whole = None if ast.ELLIPSIS not in text else \
            env.path + ast.unparse(expr, None, self._atoms(env, None))
        return {"text": text, "full_text": whole}

    @staticmethod
    def _atoms(env: Env, width: int | None) -> Callable[[str], str | None]:
        """Names bound to atoms in `env`, as their values, cut to `width` (for texts)."""
        def atom(name: str) -> str | None:
            value = env.find(name)
            text = f'"{value}"' if isinstance(value, str) else \
                repr(value) if isinstance(value, (bool, int, float)) else None
            return text if text is None or width is None else shorten(text, width)
        return atom

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

    def _map(self, expr: ast.Expr, env: Env, operation: Operation, *inputs: SOp) -> Map:
        return self._made(Map, operation, inputs, expr=expr, env=env)

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
        return self._made(Aggregate, selector, values, default, expr=expr, env=env)

    def _binary(self, expr: ast.BinOp, op: str, left: Any, right: Any, env: Env) -> Any:
        if op in ("and", "or"):
            return self._logic(expr, op, left, right, env)
        if isinstance(left, Selector) or isinstance(right, Selector):
            raise RaspTypeError(f"cannot apply '{op}' to a selector", expr.span)
        if isinstance(left, SOp) or isinstance(right, SOp):
            a = self._sop(left, expr.left.span, f"the left side of '{op}'")
            b = self._sop(right, expr.right.span, f"the right side of '{op}'")
            return self._map(expr, env, Operation("binary", op), a, b)
        _check_atomish(left, expr.left.span, op)
        _check_atomish(right, expr.right.span, op)
        try:
            result = ops.PYTHON_OPS[op](left, right)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as e:
            raise RaspValueError(python_message(e), expr.span) from None
        except RaspError as e:
            raise e.at(expr.span) from None
        if isinstance(result, complex):  # RASP has no complex numbers: as the s-op form says
            raise RaspValueError(ops.NOT_REAL, expr.span)
        return result

    def _logic(self, expr: ast.BinOp, op: str, left: Any, right: Any, env: Env) -> Any:
        selectors = isinstance(left, Selector), isinstance(right, Selector)
        if all(selectors):
            return self._made(Combine, op, (left, right), expr=expr, env=env)
        if any(selectors):
            raise RaspTypeError(f"'{op}' needs a selector on both sides or on neither",
                                expr.span)
        if isinstance(left, SOp) or isinstance(right, SOp):
            a = self._sop(left, expr.left.span, f"the left side of '{op}'")
            b = self._sop(right, expr.right.span, f"the right side of '{op}'")
            return self._map(expr, env, Operation("binary", op), a, b)
        return (left and right) if op == "and" else (left or right)

    def _unary(self, expr: ast.UnaryOp, op: str, value: Any, env: Env) -> Any:
        if isinstance(value, Selector):
            if op == "not":
                return self._made(Combine, "not", (value,), expr=expr, env=env)
            raise RaspTypeError(f"cannot apply '{op}' to a selector", expr.span)
        if isinstance(value, SOp):
            return self._map(expr, env, Operation("unary", op), value)
        if op == "indicator":
            raise RaspTypeError(f"indicator expects an s-op, got {describe(value)}", expr.span)
        _check_atomish(value, expr.operand.span, op)
        try:
            prefix: dict[str, Callable[[Any], Any]] = {
                "not": lambda v: not v, "-": lambda v: -v, "+": lambda v: +v, "round": round}
            return prefix[op](value)
        except (TypeError, ValueError, OverflowError) as e:
            raise RaspValueError(python_message(e), expr.span) from None

    def _contains(self, expr: ast.Contains, item: Any, container: Any, env: Env) -> Any:
        span = expr.container.span
        if isinstance(item, SOp):
            if not isinstance(container, list) or not all(
                    isinstance(v, ops.ATOM_TYPES) for v in container):
                raise RaspTypeError(f"'s-op in X' needs a list of atoms, got "
                                    f"{describe(container)}", span)
            return self._map(expr, env, Operation("in", constant=list(container)), item)
        if not isinstance(item, ops.ATOM_TYPES):
            raise RaspTypeError(f"'in' expects an s-op or an atom on its left, got "
                                f"{describe(item)}", expr.item.span)
        if isinstance(container, list):
            return item in container
        if isinstance(container, SOp):
            # "a" in s: does "a" occur anywhere? One head attending to every position: the
            # mean of indicator(s == "a") over all positions is above 0.
            at = {"span": expr.span}
            occurs = ast.UnaryOp("indicator", ast.BinOp("==", expr.container, expr.item, **at),
                                 **at)
            found = self._made(Map, Operation("occurs", constant=item), (container,),
                               expr=occurs, env=env)
            mean_expr = ast.Aggregate(ast.Name("full", **at), occurs, None, **at)
            mean = self._made(Aggregate, self.full, found, 0, expr=mean_expr, env=env)
            return self._map(expr, env, Operation("binary", ">", constant=0), mean)
        raise RaspTypeError(f"'atom in X' needs a list or an s-op, got {describe(container)}",
                            span)

    def _index(self, expr: ast.Index, target: Any, index: Any, env: Env) -> Any:
        span = expr.index.span
        if isinstance(target, SOp):
            if not isinstance(index, int):
                raise RaspTypeError(f"an s-op can only be indexed by an integer, got "
                                    f"{describe(index)}", span)
            at = {"span": expr.span}
            if index >= 0:
                query: SOp = Constant(index, span)
                query_expr: ast.Expr = ast.Const(index, **at)
            else:
                # negative positions count from the end: the query needs `length`
                length = self._sop(env.lookup("length", expr.span), expr.span, "length")
                query_expr = ast.BinOp("-", ast.Name("length", **at), ast.Const(-index, **at),
                                       **at)
                query = self._map(query_expr, env, Operation("binary", "+", constant=index),
                                  length)
            select_expr = ast.Select(ast.Name("indices", **at), query_expr, "==", **at)
            select = self._made(Select, self.base.vars["indices"], query, "==",
                                expr=select_expr, env=env)
            return self._made(Aggregate, select, target, 0, expr=expr, env=env)
        if isinstance(target, (list, str, dict)):
            if isinstance(index, SOp):
                return self._map(expr, env, Operation("lookup", constant=target), index)
            return _lookup(target, index, span)
        raise RaspTypeError(f"cannot index into {describe(target)}", expr.target.span)

    def _call(self, expr: ast.Call, func: Any, arg_exprs: tuple, env: Env) -> Any:
        if isinstance(func, (SOp, Selector)):
            if len(arg_exprs) != 1:
                raise RaspTypeError(f"an s-op or selector is applied to exactly one input, "
                                    f"got {len(arg_exprs)}", expr.span)
            example = self.eval_expr(arg_exprs[0], env)
            return Applied(func, example, self.host.apply(func, example, expr.span,
                                                          arg_exprs[0].span))
        if not isinstance(func, Function):
            raise RaspTypeError(f"{describe(func)} is not a function", expr.func.span)
        args = [self.eval_expr(a, env) for a in arg_exprs]
        if len(args) != len(func.params):
            raise RaspTypeError(f"{func.name} takes {len(func.params)} argument"
                                f"{'s' if len(func.params) != 1 else ''}, got {len(args)}",
                                expr.span)
        for param, kind, value, arg in zip(func.params, func.kinds or (), args, arg_exprs):
            if not of_kind(value, kind):
                which = f" as '{param}'" if len(func.params) > 1 else ""
                raise RaspTypeError(f"{func.name} expects {KINDS[kind][0]}{which}, got "
                                    f"{describe(value)}", arg.span)
        return self.call(func, args, expr, env)

    def call(self, func: Function, args: list, expr: ast.Expr, env: Env) -> Any:
        """Run a function's body in a fresh scope over the scope that defined it. The nodes
        it makes are qualified by this call; those it returns are shown as the call."""
        if len(self.calls) >= MAX_CALL_DEPTH:
            raise RaspLimitError(f"too many nested calls (more than {MAX_CALL_DEPTH}): is "
                                 f"'{func.name}' recursing without end?", expr.span)
        scope = Env(func.name, parent=func.env, calls=(*env.calls, func.name))
        for name, value in zip(func.params, args):
            scope.define(name, value)
        first_new = next_id()
        note = Note.call(func.name, expr.span)
        self.calls.append((note, expr.span))
        try:
            self.execute(func.body, scope)
            results = [self.eval_expr(e, scope) for e in func.returns]
        except RaspError as e:
            if note not in e.notes:
                e.noted(note)
            e.rehomed()
            raise
        finally:
            self.calls.pop()
        shown = [r.named(None).annotated(**self._texts(expr, env))
                 if isinstance(r, Node) and r.id > first_new else r for r in results]
        return shown[0] if len(shown) == 1 else shown

    def _builtin(self, expr: ast.Builtin, name: str, args: list) -> Any:
        if name == "range":
            if not 1 <= len(args) <= 3:
                raise RaspTypeError(f"range takes 1 to 3 arguments, got {len(args)}", expr.span)
            for arg, arg_expr in zip(args, expr.args):
                if not isinstance(arg, int):
                    raise RaspTypeError(f"range expects integers, got {describe(arg)}",
                                        arg_expr.span)
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
        """The library: the inputs, then the prelude (written in RASP); its names are
        reserved, except `tokens`, which starts as `tokens_str` under its own name."""
        base = Env("library")
        for name, convert in [("tokens_str", str), ("tokens_int", int),
                              ("tokens_float", float), ("tokens_bool", bool),
                              ("tokens_asis", None)]:
            base.define(name, Tokens(name, convert).named(name))
        base.define("indices", Indices(text="indices").named("indices"))
        base.define("True", True)
        base.define("False", False)
        text = PRELUDE.read_text(encoding="utf-8")
        self.execute(parse(text, str(PRELUDE)).statements, base)
        declare_kinds(text, base)
        base._reserved = frozenset(base.vars) | frozenset(RESERVED_WORDS)
        base.define("tokens", base.vars["tokens_str"].named("tokens"))
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
