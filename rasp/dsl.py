"""RASP in Python: build programs with Python expressions and functions instead of RASP text.

    from rasp import dsl
    from rasp import Interpreter
    flip = dsl.select(dsl.indices, dsl.length - dsl.indices - 1, "==")
    reverse = dsl.aggregate(flip, dsl.tokens).named("reverse")
    Interpreter().evaluate(reverse, "abc")        # ['c', 'b', 'a']

Every function and operator here builds the same immutable graph nodes (graph.py) that the
evaluator builds from RASP text, so a session evaluates, analyses, draws and compiles them
unchanged. Each node carries a span at the Python call site that built it, so errors point
into the user's Python file. The nodes are subclasses of graph.py's with Python's operators:
`tokens == "a"` is an s-op (never a bool), `sel1 & sel2`, `sel1 | sel2` and `~sel` combine
selectors, `&`, `|`, `~` on s-ops are RASP's `and`, `or`, `not`, with Python's precedence
(so `(tokens == "a") & (indices > 0)` needs its parentheses). Asking a node for its truth
(`if tokens == "a":`) is an error, as for numpy arrays.

`Map(f, sop)` and `SequenceMap(f, a, b)` take any Python function: an opaque map, applied
at every position by the interpreter, tabulated by the compiler over the values it can see.
tracr's spellings (`Select`, `Aggregate`, `SelectorWidth`, `Comparison.EQ`, `numerical`,
`categorical`, `Full`) are here too; rasp.compat.tracr converts tracr's own objects.
`to_source(sop)` writes the program as RASP text, where no map is a Python function.
"""

from __future__ import annotations

import enum
import itertools
import linecache
import math
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from types import FrameType
from typing import Any

from . import graph, ops
from .env import PACKAGE
from .errors import RaspTypeError, Source, Span, shorten

__all__ = ["tokens", "tokens_int", "tokens_float", "tokens_asis", "indices", "length",
           "select", "aggregate", "selector_width", "indicator", "where", "Map", "SequenceMap",
           "Select", "Aggregate", "SelectorWidth", "Full", "Comparison", "numerical",
           "categorical", "lift", "to_source"]

TEXT_WIDTH = 50  # display texts of nodes, at most (as the evaluator's)
_library = True  # while the module builds its own nodes, which have no user call site
_HERE = {str(Path(__file__).resolve())}


def builder_module(path: str) -> None:
    """Count the module at `path` as a builder of nodes, like this one: the span of a node
    is the first call site outside the builders (rasp.compat.tracr registers itself)."""
    _HERE.add(str(Path(path).resolve()))


# ---------------------------------------------------------------- call sites


@lru_cache(maxsize=256)
def _source(filename: str) -> Source:
    return Source(filename, "".join(linecache.getlines(filename)))


@lru_cache(maxsize=256)
def _resolved(filename: str) -> str:
    return str(Path(filename).resolve())


def call_site() -> Span | None:
    """The span of the user's code that is calling into the builders now: the file, line
    and columns of the expression Python is running there."""
    if _library:
        return None  # the library's own nodes (`length`), built when this module loads
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and _resolved(frame.f_code.co_filename) in _HERE:
        frame = frame.f_back
    if frame is None:
        return None
    return span_of(frame)


def span_of(frame: FrameType) -> Span:
    """The expression a frame is running: its columns from Python 3.11 on, else its line."""
    code = frame.f_code
    positions = getattr(code, "co_positions", None)  # (Python 3.11)
    found = None
    if positions is not None and frame.f_lasti >= 0:
        found = next(itertools.islice(positions(), frame.f_lasti // 2, None), None)
    line, end_line, column, end_column = found or (None,) * 4
    line = line or frame.f_lineno
    if column is None or end_column is None:
        column, end_column, end_line = 0, 0, line
    return Span(_source(code.co_filename), line, column + 1, end_line or line, end_column + 1)


def function_site(function: Callable) -> Span | None:
    """Where a Python function is defined (its `def` or `lambda` line)."""
    code = getattr(function, "__code__", None)
    if code is None:
        return None
    return Span(_source(code.co_filename), code.co_firstlineno, 1, code.co_firstlineno, 1)


def function_name(function: Callable) -> str:
    name = getattr(function, "__name__", None) or type(function).__name__
    return "lambda" if name == "<lambda>" else name


# ---------------------------------------------------------------- texts


def _shown(node: graph.Node, bare: bool = False) -> str:
    """How a node reads inside another's display text: its name, else its text (bracketed
    where it is an operation, unless `bare`: an argument of a call)."""
    if node.name:
        return node.name
    text = node.text or node.label
    return f"({text})" if " " in text and not text.endswith(")") and not bare else text


def _atom(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _text(text: str) -> str:
    return shorten(text, TEXT_WIDTH)


# ---------------------------------------------------------------- the node classes


class _Truthless:
    """What DSL nodes share: no truth value (an s-op is many values), and hashing by
    identity, as graph nodes (their `==` builds an s-op)."""

    __hash__ = graph.Node.__hash__

    def __bool__(self) -> bool:
        kind = "a selector" if isinstance(self, graph.Selector) else "an s-op"
        raise RaspTypeError(f"'{self.title}' is {kind}: it has no truth value (combine with "  # type: ignore[attr-defined]
                            f"`&`, `|`, `~`; evaluate it in a session)", call_site())


class SOpOperators(_Truthless):
    """Python's operators on s-ops: each builds a map, as the same RASP operator does."""

    def _binary(self, op: str, other: Any, reflected: bool = False) -> graph.Map:
        left, right = (other, self) if reflected else (self, other)
        return _map(graph.Operation("binary", op), f"{_shown_any(left)} {op} "
                    f"{_shown_any(right)}", _sop(left, f"'{op}'"), _sop(right, f"'{op}'"))

    def __eq__(self, other: Any) -> graph.Map:  # type: ignore[override]
        return self._binary("==", other)

    def __ne__(self, other: Any) -> graph.Map:  # type: ignore[override]
        return self._binary("!=", other)

    def __lt__(self, other: Any) -> graph.Map:
        return self._binary("<", other)

    def __le__(self, other: Any) -> graph.Map:
        return self._binary("<=", other)

    def __gt__(self, other: Any) -> graph.Map:
        return self._binary(">", other)

    def __ge__(self, other: Any) -> graph.Map:
        return self._binary(">=", other)

    def __add__(self, other: Any) -> graph.Map:
        return self._binary("+", other)

    def __radd__(self, other: Any) -> graph.Map:
        return self._binary("+", other, True)

    def __sub__(self, other: Any) -> graph.Map:
        return self._binary("-", other)

    def __rsub__(self, other: Any) -> graph.Map:
        return self._binary("-", other, True)

    def __mul__(self, other: Any) -> graph.Map:
        return self._binary("*", other)

    def __rmul__(self, other: Any) -> graph.Map:
        return self._binary("*", other, True)

    def __truediv__(self, other: Any) -> graph.Map:
        return self._binary("/", other)

    def __rtruediv__(self, other: Any) -> graph.Map:
        return self._binary("/", other, True)

    def __mod__(self, other: Any) -> graph.Map:
        return self._binary("%", other)

    def __rmod__(self, other: Any) -> graph.Map:
        return self._binary("%", other, True)

    def __pow__(self, other: Any) -> graph.Map:
        return self._binary("^", other)

    def __rpow__(self, other: Any) -> graph.Map:
        return self._binary("^", other, True)

    def __and__(self, other: Any) -> graph.Map:
        return self._binary("and", other)

    def __rand__(self, other: Any) -> graph.Map:
        return self._binary("and", other, True)

    def __or__(self, other: Any) -> graph.Map:
        return self._binary("or", other)

    def __ror__(self, other: Any) -> graph.Map:
        return self._binary("or", other, True)

    def __invert__(self) -> graph.Map:
        return _unary("not", self)  # type: ignore[arg-type]

    def __neg__(self) -> graph.Map:
        return _unary("-", self)  # type: ignore[arg-type]

    def __pos__(self) -> graph.Map:
        return _unary("+", self)  # type: ignore[arg-type]

    def __round__(self) -> graph.Map:
        return _unary("round", self)  # type: ignore[arg-type]


class SelectorOperators(_Truthless):
    """`&`, `|`, `~` on selectors: RASP's `and`, `or`, `not` (one head)."""

    def __and__(self, other: Any) -> graph.Combine:
        return _combine("and", self, other)  # type: ignore[arg-type]

    def __or__(self, other: Any) -> graph.Combine:
        return _combine("or", self, other)  # type: ignore[arg-type]

    def __invert__(self) -> graph.Combine:
        site = call_site()
        return CombineNode("not", (self,), _text(f"not {_shown(self)}"), site)  # type: ignore


class TokensNode(SOpOperators, graph.Tokens):
    pass


class IndicesNode(SOpOperators, graph.Indices):
    pass


class ConstantNode(SOpOperators, graph.Constant):
    pass


class MapNode(SOpOperators, graph.Map):
    pass


class AggregateNode(SOpOperators, graph.Aggregate):
    pass


class SelectNode(SelectorOperators, graph.Select):
    pass


class CombineNode(SelectorOperators, graph.Combine):
    pass


_CLASSES: dict[type, type] = {graph.Tokens: TokensNode, graph.Indices: IndicesNode,
                              graph.Constant: ConstantNode, graph.Map: MapNode,
                              graph.Aggregate: AggregateNode, graph.Select: SelectNode,
                              graph.Combine: CombineNode}


def lift(node: graph.Node) -> graph.Node:
    """A node a session built from RASP text (`Interpreter.value("sort")`), with the DSL's
    operators: a copy of the same computation (the same id, values and analysis)."""
    if not isinstance(node, graph.Node):
        raise RaspTypeError(f"lift expects an s-op or a selector, got {type(node).__name__}",
                            call_site())
    if isinstance(node, (SOpOperators, SelectorOperators)):
        return node
    other = node.annotated()
    object.__setattr__(other, "__class__", _CLASSES[type(node)])
    return other


# ---------------------------------------------------------------- building blocks


def _shown_any(value: Any) -> str:
    return _shown(value) if isinstance(value, graph.Node) else _atom(value)


def _sop(value: Any, role: str) -> graph.SOp:
    """An s-op for `value`: atoms become constants; anything else is a positioned error."""
    if isinstance(value, graph.SOp):
        return value
    if isinstance(value, ops.ATOM_TYPES):
        return ConstantNode(value, call_site())
    what = "a selector" if isinstance(value, graph.Selector) else type(value).__name__
    raise RaspTypeError(f"{role} needs s-ops or atoms (bool, int, float, str), got {what}",
                        call_site())


def _map(operation: graph.Operation, text: str, *inputs: graph.SOp) -> graph.Map:
    return MapNode(operation, inputs, _text(text), call_site())


def _unary(op: str, value: graph.SOp) -> graph.Map:
    text = f"{op}({_shown(value, True)})" if op in ("round", "indicator") else \
        f"{op} {_shown(value)}"
    return _map(graph.Operation("unary", op), text, value)


def _combine(op: str, left: graph.Selector, right: Any) -> graph.Combine:
    if not isinstance(right, graph.Selector):
        raise RaspTypeError(f"'{'&' if op == 'and' else '|'}' combines a selector with a "
                            f"selector, got {type(right).__name__}", call_site())
    return CombineNode(op, (left, right), _text(f"{_shown(left)} {op} {_shown(right)}"),
                       call_site())


class Comparison(enum.Enum):
    """tracr's names for select's comparisons; `Comparison.EQ` and "==" mean the same."""

    EQ = "=="
    LT = "<"
    LEQ = "<="
    GT = ">"
    GEQ = ">="
    NEQ = "!="
    TRUE = "True"
    FALSE = "False"


_OPS = {*ops.COMPARISONS}


def select(keys: Any, queries: Any, predicate: Comparison | str) -> graph.Selector:
    """`select(keys, queries, op)`: query q selects key k where `keys[k] op queries[q]`."""
    op = predicate.value if isinstance(predicate, Comparison) else predicate
    k, q = _sop(keys, "select's keys"), _sop(queries, "select's queries")
    site = call_site()
    if op in ("True", "False"):  # tracr's TRUE and FALSE: every key, or none
        full = SelectNode(ConstantNode(1, site), ConstantNode(1, site), "==", "select(1, 1, ==)",
                          site)
        return full if op == "True" else CombineNode("not", (full,), "not select(1, 1, ==)",
                                                     site)
    if op not in _OPS:
        raise RaspTypeError(f"select compares with one of {', '.join(sorted(_OPS))} or a "
                            f"Comparison, got {predicate!r}", site)
    return SelectNode(k, q, op, _text(f"select({_shown(k)}, {_shown(q)}, {op})"), site)


def aggregate(selector: graph.Selector, values: Any, default: Any = 0) -> graph.Aggregate:
    """`aggregate(selector, values, default)`: the mean of the selected values (a copy where
    one is selected), `default` where none is."""
    site = call_site()
    if not isinstance(selector, graph.Selector):
        raise RaspTypeError(f"aggregate expects a selector first, got "
                            f"{type(selector).__name__}", site)
    if not isinstance(default, ops.ATOM_TYPES):
        raise RaspTypeError(f"aggregate's default must be an atom (bool, int, float, str), got "
                            f"{default!r}", site)
    v = _sop(values, "aggregate's values")
    text = f"aggregate({_shown(selector)}, {_shown(v)}" + \
        ("" if default == 0 and type(default) is int else f", {_atom(default)}") + ")"
    return AggregateNode(selector, v, default, _text(text), site)


def indicator(sop: graph.SOp) -> graph.Map:
    """1 where `sop` is true, else 0."""
    return _unary("indicator", _sop(sop, "indicator"))


def where(test: Any, then: Any, otherwise: Any) -> graph.Map:
    """RASP's `then if test else otherwise`, at every position."""
    parts = tuple(_sop(v, "where") for v in (test, then, otherwise))
    return _map(graph.Operation("choose"), f"{_shown(parts[1])} if {_shown(parts[0])} else "
                f"{_shown(parts[2])}", *parts)


def Map(function: Callable[[Any], Any], sop: Any) -> graph.Map:  # noqa: N802 (tracr's name)
    """`function` of `sop`'s value at every position: an opaque map, named by the function."""
    return _python_map(function, _sop(sop, "Map"))


def SequenceMap(function: Callable[[Any, Any], Any], first: Any,  # noqa: N802
                second: Any) -> graph.Map:
    """`function` of the values of two s-ops at every position."""
    return _python_map(function, _sop(first, "SequenceMap"), _sop(second, "SequenceMap"))


def _python_map(function: Callable, *inputs: graph.SOp) -> graph.Map:
    if not callable(function):
        raise RaspTypeError(f"a map needs a Python function, got {function!r}", call_site())
    name = function_name(function)
    text = f"{name}({', '.join(_shown(i) for i in inputs)})"
    return _map(graph.Operation("function", name, function), text, *inputs)


def selector_width(selector: graph.Selector) -> graph.SOp:
    """How many keys each query selects: the library's `selector_width`, node for node."""
    sel: Any = lift(selector)  # (a session's selector too: with the operators)
    first = select(indices, 0, "==")
    share_of_first: Any = aggregate(sel | first, indicator(indices == 0))
    selects_first = aggregate(sel & first, 1, 0)
    width: Any = round(1 / share_of_first - 1 + selects_first)
    return width.annotated(text=_text(f"selector_width({_shown(selector)})"))


def numerical(sop: graph.SOp) -> graph.SOp:
    """tracr's encoding annotation. Our compiler chooses each s-op's encoding itself (a
    number averaged is held as a number), so it is kept only as an annotation."""
    return sop.annotated(encoding="numerical")


def categorical(sop: graph.SOp) -> graph.SOp:
    return sop.annotated(encoding="categorical")


def Full(value: Any) -> graph.SOp:  # noqa: N802 (tracr's name)
    """The atom `value` at every position."""
    if not isinstance(value, ops.ATOM_TYPES):
        raise RaspTypeError(f"Full needs an atom (bool, int, float, str), got {value!r}",
                            call_site())
    return ConstantNode(value, call_site())


Select = select
Aggregate = aggregate
SelectorWidth = selector_width

# the inputs, as the library names them (`tokens` reads each token as a string, as RASP's)
tokens = TokensNode("tokens_str", str).named("tokens")
tokens_int = TokensNode("tokens_int", int).named("tokens_int")
tokens_float = TokensNode("tokens_float", float).named("tokens_float")
tokens_asis = TokensNode("tokens_asis", None).named("tokens_asis")
indices = IndicesNode(text="indices").named("indices")


def _length() -> graph.SOp:
    """The library's `length`, node for node: attending uniformly, position 0 carries 1/n."""
    full_s = select(1, 1, "==").named("full_s")
    share: Any = aggregate(full_s, indicator(indices == 0))
    length_: Any = round(1 / share)
    return length_.named("length")


length = _length()
_library = False


# ---------------------------------------------------------------- RASP text


_INPUT_NAMES = {"tokens_str": "tokens", "tokens_int": "tokens_int",
                "tokens_float": "tokens_float", "tokens_bool": "tokens_bool",
                "tokens_asis": "tokens_asis"}
_RESERVED = frozenset(("out", "range", "zip", "len", "if", "else", "not", "and", "or", "def",
                       "return", "for", "in", "get", "True", "False", "load", "draw",
                       "analyze", "compile", "select", "aggregate", "indicator", "round",
                       "indices", *_INPUT_NAMES.values()))


@lru_cache(maxsize=1)
def _library_names() -> frozenset[str]:
    """The names the library defines, which a program may not assign."""
    import re

    text = (PACKAGE / "prelude.rasp").read_text(encoding="utf-8")
    return frozenset(re.findall(r"^(?:def )?(\w+)", text, re.M)) | _RESERVED


def to_source(sop: graph.SOp, name: str | None = None) -> str:
    """RASP text that computes `sop`, assigned to `name` (its own name, else `program`): one
    assignment for every node that is named or used twice, the target last. A map of a
    Python function has no RASP text: a positioned error names it."""
    if not isinstance(sop, graph.SOp):
        raise RaspTypeError(f"to_source expects an s-op, got {type(sop).__name__}",
                            call_site())
    names: dict[int, str] = {length.id: "length"}
    order, uses = _postorder(sop, set(names))
    taken = set(_library_names())
    lines = []
    for node in order:
        if node.id in names or isinstance(node, (graph.Tokens, graph.Indices, graph.Constant)):
            continue
        target = node is sop
        if target or node.name or uses[node.id] > 1:
            base = (name or node.name or "program") if target else (node.name or node.kind)
            var = _fresh(base.split("/")[-1], taken)
            lines.append(f"{var} = {_expression(node, names)};")
            names[node.id] = var
    return "\n".join(lines) + "\n"


def _fresh(base: str, taken: set[str]) -> str:
    base = base if base.isidentifier() else "v"
    var, n = base, 1
    while var in taken:
        n += 1
        var = f"{base}_{n}"
    taken.add(var)
    return var


def _postorder(sop: graph.Node, known: set[int]) -> tuple[list[graph.Node], dict[int, int]]:
    """The nodes below `sop`, each after its inputs, and how often each is used; the
    library's `known` nodes are not entered."""
    order: list[graph.Node] = []
    uses: dict[int, int] = {}
    seen: set[int] = set()
    stack: list[tuple[graph.Node, bool]] = [(sop, False)]
    while stack:
        node, ready = stack.pop()
        if ready:
            order.append(node)
            continue
        if node.id in seen:
            continue
        seen.add(node.id)
        stack.append((node, True))
        for i in () if node.id in known else node.inputs:
            uses[i.id] = uses.get(i.id, 0) + 1
            stack.append((i, False))
    return order, uses


def _literal(value: Any) -> str:
    """A value as RASP text: RASP's strings hold no double quote or line break, and its
    numbers are finite."""
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if (isinstance(value, str) and any(c in value for c in '"\r\n')) or (
            isinstance(value, float) and not math.isfinite(value)):
        raise RaspTypeError(f"RASP text cannot write the value {value!r}", call_site())
    return _atom(value)


def _expression(node: graph.Node, names: dict[int, str]) -> str:
    def part(n: graph.Node, bare: bool = False) -> str:
        """An input's text: bracketed where it is an operation, unless `bare` (an argument
        of a call)."""
        if n.id in names:
            return names[n.id]
        if isinstance(n, graph.Tokens):
            return _INPUT_NAMES[n.text]
        if isinstance(n, graph.Indices):
            return "indices"
        if isinstance(n, graph.Constant):
            return _literal(n.value)
        text = _expression(n, names)
        called = isinstance(n, (graph.Select, graph.Aggregate)) or (
            isinstance(n, graph.Map) and n.operation.symbol in ("round", "indicator"))
        return text if bare or called else f"({text})"

    calls = isinstance(node, (graph.Select, graph.Aggregate)) or (
        isinstance(node, graph.Map) and node.operation.kind in ("unary", "occurs")
        and node.operation.symbol in ("round", "indicator", ""))
    args = [part(i, calls) for i in node.inputs]
    if isinstance(node, graph.Select):
        return f"select({args[0]}, {args[1]}, {node.op})"
    if isinstance(node, graph.Combine):
        return f"not {args[0]}" if node.op == "not" else f" {node.op} ".join(args)
    if isinstance(node, graph.Aggregate):
        return f"aggregate({args[0]}, {args[1]}, {_literal(node.default)})"
    assert isinstance(node, graph.Map), node
    return _map_text(node, args)


def _map_text(node: graph.Map, args: list[str]) -> str:
    operation = node.operation
    kind, symbol, constant = operation.kind, operation.symbol, operation.constant
    if kind == "binary":
        right = args[1] if len(args) > 1 else _literal(constant)
        return f"{args[0]} {symbol} {right}"
    if kind == "unary":
        return f"{symbol}({args[0]})" if symbol in ("round", "indicator") else \
            f"{symbol} {args[0]}"
    if kind == "choose":
        return f"{args[1]} if {args[0]} else {args[2]}"
    if kind == "in":
        return f"{args[0]} in {_literal(constant)}"
    if kind == "lookup":
        return f"{_literal(constant)}[{args[0]}]"
    if kind == "occurs":
        return f"indicator({args[0]} == {_literal(constant)})"
    raise RaspTypeError(f"'{node.title}' applies the Python function '{symbol}', which RASP "
                        f"text cannot express", node.span)
