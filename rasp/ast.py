"""The RASP syntax tree: immutable nodes, one per construct, each with the `Span` it came from.

`parser.py` builds these from lark's parse tree; `evaluator.py` walks them. Spans do not take
part in equality, so tests can compare trees built from different text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import Span


@dataclass(frozen=True, slots=True)
class Node:
    span: Span = field(compare=False, repr=False, kw_only=True)


# ---------------------------------------------------------------- expressions

@dataclass(frozen=True, slots=True)
class Name(Node):
    id: str


@dataclass(frozen=True, slots=True)
class Const(Node):
    """An int, float or string literal."""
    value: int | float | str


@dataclass(frozen=True, slots=True)
class ListExpr(Node):
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class DictExpr(Node):
    pairs: tuple[tuple[Expr, Expr], ...]


@dataclass(frozen=True, slots=True)
class ListComp(Node):
    item: Expr
    names: tuple[str, ...]
    iterable: Expr


@dataclass(frozen=True, slots=True)
class DictComp(Node):
    key: Expr
    value: Expr
    names: tuple[str, ...]
    iterable: Expr


@dataclass(frozen=True, slots=True)
class Select(Node):
    keys: Expr
    queries: Expr
    op: str


@dataclass(frozen=True, slots=True)
class Aggregate(Node):
    selector: Expr
    values: Expr
    default: Expr | None


@dataclass(frozen=True, slots=True)
class BinOp(Node):
    """`left op right` for + - * / % ^ == < > <= >= and or."""
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class UnaryOp(Node):
    """`not x`, `-x`, `+x`, `round(x)`, `indicator(x)`."""
    op: str
    operand: Expr


@dataclass(frozen=True, slots=True)
class Cond(Node):
    """`then if test else otherwise`."""
    then: Expr
    test: Expr
    otherwise: Expr


@dataclass(frozen=True, slots=True)
class Contains(Node):
    """`item in container`."""
    item: Expr
    container: Expr


@dataclass(frozen=True, slots=True)
class Index(Node):
    target: Expr
    index: Expr


@dataclass(frozen=True, slots=True)
class Call(Node):
    """`f(args)`: a function call, or applying an s-op or selector to an input."""
    func: Expr
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Builtin(Node):
    """`range(...)`, `zip(...)`, `len(...)`."""
    name: str
    args: tuple[Expr, ...]


Expr = (Name | Const | ListExpr | DictExpr | ListComp | DictComp | Select | Aggregate | BinOp
        | UnaryOp | Cond | Contains | Index | Call | Builtin)


# ---------------------------------------------------------------- statements

@dataclass(frozen=True, slots=True)
class ExprStmt(Node):
    expr: Expr


@dataclass(frozen=True, slots=True)
class Assign(Node):
    names: tuple[str, ...]
    values: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Draw(Node):
    sop: Expr
    input: Expr | None


@dataclass(frozen=True, slots=True)
class Analyze(Node):
    """`analyze(sop);`: print the layers and heads `sop` needs."""
    sop: Expr


@dataclass(frozen=True, slots=True)
class Compile(Node):
    """`compile(sop, vocab, max_len[, path]);`: compile `sop` to transformer weights, check
    them against the interpreter, and save them to `path` if given."""
    sop: Expr
    vocab: Expr
    max_len: Expr
    path: Expr | None


@dataclass(frozen=True, slots=True)
class Load(Node):
    path: str


@dataclass(frozen=True, slots=True)
class FuncDef(Node):
    name: str
    params: tuple[str, ...]
    body: tuple[Stmt, ...]
    returns: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class For(Node):
    names: tuple[str, ...]
    iterable: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class SetExample(Node):
    """`set [s-op|selector] example EXPR`; `which` is "both", "s-op" or "selector"."""
    which: str
    example: Expr


@dataclass(frozen=True, slots=True)
class ShowExample(Node):
    which: str


@dataclass(frozen=True, slots=True)
class ToggleExamples(Node):
    which: str
    on: bool


@dataclass(frozen=True, slots=True)
class ToggleFullDisplay(Node):
    on: bool


@dataclass(frozen=True, slots=True)
class Generate(Node):
    """`generate(sop, prompt, steps[, until]);`: the prompt and `steps` tokens after it, each
    the value of `sop` at the last position so far (stopping after the token `until`)."""
    sop: Expr
    prompt: Expr
    steps: Expr
    until: Expr | None


@dataclass(frozen=True, slots=True)
class ToggleCausal(Node):
    on: bool


@dataclass(frozen=True, slots=True)
class Exit(Node):
    pass


Stmt = (ExprStmt | Assign | Draw | Analyze | Compile | Generate | Load | FuncDef | For
        | SetExample | ShowExample | ToggleExamples | ToggleFullDisplay | ToggleCausal | Exit)


@dataclass(frozen=True, slots=True)
class Program(Node):
    statements: tuple[Stmt, ...]


# ---------------------------------------------------------------- unparsing

# Binding strength of each form, loosest first, as in the grammar: in < if-else < and/or <
# comparisons < + - < % < * / < ^ < prefix operators < indexing and calls < primaries.
_IN, _COND, _LOGIC, _COMPARE, _SUM, _MOD, _PRODUCT, _POWER, _PREFIX, _POSTFIX, _PRIMARY = range(11)
_BINARY_LEVEL = {"and": _LOGIC, "or": _LOGIC, "+": _SUM, "-": _SUM, "%": _MOD, "*": _PRODUCT,
                 "/": _PRODUCT, "^": _POWER, **dict.fromkeys(("==", "!=", "<", ">", "<=", ">="),
                                                              _COMPARE)}
ELLIPSIS = "..."


def unparse(expr: Node, width: int | None = None,
            resolve: Callable[[str], str | None] | None = None) -> str:
    """RASP source for an expression, in a canonical layout (one space around operators,
    brackets only where precedence needs them). Past `width` characters, the deepest
    subexpressions give way to `...`, so that the text is cut at a node boundary.
    `resolve(name)`, if given, may replace a name by other text (an atom's value).

    With a width, the work is bounded by the width, not by the size of the expression: the
    text is made with ever deeper subexpressions until it is whole or too long."""
    if width is None:
        return _Unparser(resolve, None, None).text(expr)
    best = ELLIPSIS
    for limit in range(MAX_LEVELS):
        unparser = _Unparser(resolve, limit, width)
        try:
            text = unparser.text(expr)
        except _TooLong:
            return best
        if len(text) > width:
            return best if limit else text[: width - len(ELLIPSIS)] + ELLIPSIS
        best = text
        if not unparser.cut:
            return text  # the whole expression fits
    return best


MAX_LEVELS = 16  # of subexpressions shown in an abbreviated text, at most


class _TooLong(Exception):
    """The text being made is past its width already: stop making it."""


class _Unparser:
    def __init__(self, resolve: Callable[[str], str | None] | None, limit: int | None,
                 width: int | None):
        self.resolve, self.limit, self.width = resolve, limit, width
        self.cut = False  # whether some subexpression gave way to `...`
        self.made = 0  # subexpressions made so far: a bound on the work

    def text(self, expr: Any, depth: int = 0) -> str:
        return self._at(expr, depth)[0]

    def _sub(self, expr: Any, depth: int, level: int) -> str:
        """A subexpression that must bind at least as tightly as `level`."""
        text, own = self._at(expr, depth + 1)
        return f"({text})" if own < level else text

    def _all(self, exprs: Any, depth: int) -> str:
        return ", ".join(self._sub(e, depth, _IN) for e in exprs)

    def _at(self, e: Any, depth: int) -> tuple[str, int]:
        if self.limit is not None and depth > self.limit:
            self.cut = True
            return ELLIPSIS, _PRIMARY
        self.made += 1
        if self.width is not None and self.made > self.width:
            raise _TooLong
        d = depth
        match e:
            case Name(id=name):
                return (self.resolve and self.resolve(name)) or name, _PRIMARY
            case Const(value=value):
                return (f'"{value}"' if isinstance(value, str) else repr(value)), _PRIMARY
            case ListExpr(items=items):
                return f"[{self._all(items, d)}]", _PRIMARY
            case DictExpr(pairs=pairs):
                inner = ", ".join(f"{self._sub(k, d, _IN)}: {self._sub(v, d, _IN)}"
                                  for k, v in pairs)
                return f"{{{inner}}}", _PRIMARY
            case ListComp(item=item, names=names, iterable=iterable):
                return (f"[{self._sub(item, d, _IN)} for {', '.join(names)} in "
                        f"{self._sub(iterable, d, _IN)}]"), _PRIMARY
            case DictComp(key=key, value=value, names=names, iterable=iterable):
                return (f"{{{self._sub(key, d, _IN)}: {self._sub(value, d, _IN)} for "
                        f"{', '.join(names)} in {self._sub(iterable, d, _IN)}}}"), _PRIMARY
            case Select(keys=keys, queries=queries, op=op):
                return f"select({self._all((keys, queries), d)}, {op})", _PRIMARY
            case Aggregate(selector=sel, values=values, default=default):
                parts = (sel, values) if default is None else (sel, values, default)
                return f"aggregate({self._all(parts, d)})", _PRIMARY
            case BinOp(op=op, left=left, right=right):
                level = _BINARY_LEVEL[op]
                # a chain such as a + b + c is one level deep, whichever way it nests
                chained = isinstance(left, BinOp) and _BINARY_LEVEL[left.op] == level
                return (f"{self._sub(left, d - chained, level)} {op} "
                        f"{self._sub(right, d, level + 1)}", level)
            case UnaryOp(op=op, operand=operand):
                if op in ("round", "indicator"):
                    return f"{op}({self._sub(operand, d, _IN)})", _PRIMARY
                space = " " if op == "not" else ""
                return f"{op}{space}{self._sub(operand, d, _PREFIX)}", _PREFIX
            case Cond(then=then, test=test, otherwise=otherwise):
                return (f"{self._sub(then, d, _COND)} if {self._sub(test, d, _IN)} else "
                        f"{self._sub(otherwise, d, _LOGIC)}"), _COND
            case Contains(item=item, container=container):
                return f"{self._sub(item, d, _IN)} in {self._sub(container, d, _COND)}", _IN
            case Index(target=target, index=index):
                return f"{self._sub(target, d, _POSTFIX)}[{self._sub(index, d, _IN)}]", _POSTFIX
            case Call(func=Name() as func, args=args):  # the name stays, however short
                return f"{self._at(func, d)[0]}({self._all(args, d)})", _POSTFIX
            case Call(func=func, args=args):
                return f"{self._sub(func, d, _POSTFIX)}({self._all(args, d)})", _POSTFIX
            case Builtin(name=name, args=args):
                return f"{name}({self._all(args, d)})", _PRIMARY
        raise AssertionError(f"cannot unparse {e!r}")
