"""The RASP syntax tree: immutable nodes, one per construct, each with the `Span` it came from.

`parser.py` builds these from lark's parse tree; `evaluator.py` walks them. Spans do not take
part in equality, so tests can compare trees built from different text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
class Exit(Node):
    pass


Stmt = (ExprStmt | Assign | Draw | Analyze | Load | FuncDef | For | SetExample | ShowExample
        | ToggleExamples | ToggleFullDisplay | Exit)


@dataclass(frozen=True, slots=True)
class Program(Node):
    statements: tuple[Stmt, ...]
