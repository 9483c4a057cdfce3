"""A deliberately simple RASP evaluator, the other side of the differential tests.

It is written from the reference semantics (`shared/spec/original-reference.md` §4-§7), not
from the interpreter: no numpy, no graph, no caches beyond a memo per value. An s-op is a
Python function from an input to a list, computed one element at a time with Python's own
operators; a selector is a function from an input to a list of rows (one per query) of bools.

Programs are small syntax trees (the classes below), produced by `program_strategies.py`,
which also renders them as RASP source for the real interpreter. The library functions are
the reference's formulas (§7), written as such trees, except `selector_width`, which is
computed directly as what it means: how many keys each query selects.

Every user error is a `RefError`; the tests only ask whether both sides fail, not how.

`Evaluator(causal=True)` gives the causal semantics (docs/language.md): wherever a selection
is used (an aggregate, `selector_width`, a selector's own value) query q sees only keys
k <= q, and `length` at position i is i + 1.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Limits the interpreter documents (docs/language.md, "Limits"); part of its semantics.
MAX_INT_BITS = 13_000
MAX_ITEMS = 10_000_000


class RefError(Exception):
    """Something the reference semantics calls an error."""


# ---------------------------------------------------------------- the program trees

@dataclass(frozen=True)
class Lit:
    value: Any  # bool, int, float or str


@dataclass(frozen=True)
class ListLit:
    items: tuple


@dataclass(frozen=True)
class DictLit:
    pairs: tuple  # ((key Lit, value expr), ...)


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Paren:
    """Redundant parentheses: no meaning, only a test of the parser."""
    inner: Any


@dataclass(frozen=True)
class Unary:
    op: str  # - + not round indicator
    operand: Any


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / % ^ == != < > <= >= and or
    left: Any
    right: Any


@dataclass(frozen=True)
class Cond:
    then: Any
    test: Any
    otherwise: Any


@dataclass(frozen=True)
class Contains:
    item: Any
    container: Any


@dataclass(frozen=True)
class Index:
    target: Any
    index: Any


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple


@dataclass(frozen=True)
class Select:
    keys: Any
    queries: Any
    op: str


@dataclass(frozen=True)
class Aggregate:
    selector: Any
    values: Any
    default: Any | None


@dataclass(frozen=True)
class Assign:
    name: str
    value: Any


@dataclass(frozen=True)
class Def:
    name: str
    params: tuple[str, ...]
    body: tuple[Assign, ...]
    result: Any


# ---------------------------------------------------------------- values

ATOMS = (bool, int, float, str)
Input = tuple


def is_atom(value: Any) -> bool:
    return isinstance(value, ATOMS)


class Memo:
    """A value computed per input, remembered (errors too) so shared parts stay cheap."""

    def __init__(self, compute: Callable[[Input], Any]):
        self._compute = compute
        self._memo: dict[tuple, Any] = {}

    def __call__(self, tokens: Input) -> Any:
        key = tuple(map(repr, tokens))  # repr, not ==: 0.0 == -0.0, but they print apart
        if key not in self._memo:
            try:
                self._memo[key] = self._compute(tokens)
            except RefError as e:
                self._memo[key] = e
        result = self._memo[key]
        if isinstance(result, RefError):
            raise result
        return result


class Seq(Memo):
    """An s-op: input -> list of values."""


class Sel(Memo):
    """A selector: input -> rows of bools, row q for query q, column k for key k."""


@dataclass
class Func:
    definition: Def
    scope: dict  # the globals, looked up at call time


# ---------------------------------------------------------------- per-element Python

_PY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
       "%": operator.mod, "^": operator.pow, "==": operator.eq, "!=": operator.ne,
       "<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}


def python_op(op: str, a: Any, b: Any) -> Any:
    """`a op b` as Python computes it, within the documented size limits."""
    _refuse_huge(op, a, b)
    try:
        result = _PY[op](a, b)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as e:
        raise RefError(str(e)) from None
    if isinstance(result, complex):  # RASP has no complex numbers (language.md)
        raise RefError("not a real number")
    if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
        raise RefError("integer too large")
    if isinstance(result, (str, list)) and len(result) > MAX_ITEMS:
        raise RefError("sequence too large")
    return result


def _refuse_huge(op: str, a: Any, b: Any) -> None:
    """Results too large to build are refused before they are built."""
    if op == "^" and type(a) in (int, bool) and type(b) in (int, bool):
        if abs(a) > 1 and b > 0 and b * math.log2(abs(a)) > MAX_INT_BITS + 1:
            raise RefError("integer too large")
    if op == "*":
        for seq, times in ((a, b), (b, a)):
            if isinstance(seq, (str, list)) and type(times) in (int, bool):
                if len(seq) * times > MAX_ITEMS:
                    raise RefError("sequence too large")


def python_unary(op: str, a: Any) -> Any:
    try:
        if op == "not":
            return not a
        if op == "indicator":
            return 1 if a else 0
        return {"-": operator.neg, "+": operator.pos, "round": round}[op](a)
    except (TypeError, ValueError, OverflowError) as e:
        raise RefError(str(e)) from None


def checked(values: list) -> list:
    """An evaluated sequence: atoms only, and strings only among strings (§5)."""
    types = {type(v) for v in values}
    if not types <= set(ATOMS):
        raise RefError(f"not a sequence of atoms: {values}")
    if str in types and len(types) > 1:
        raise RefError(f"different types: {values}")
    return values


def seq_type(values: list) -> str:
    types = {type(v) for v in values}
    if types <= {bool}:
        return "bools"
    if types <= {str}:
        return "strings"
    return "floats" if float in types else "ints"


def as_seq(value: Any) -> Seq:
    """An s-op, or an atom standing for the s-op holding it everywhere (§6.3)."""
    if isinstance(value, Seq):
        return value
    if is_atom(value):
        return Seq(lambda tokens: checked([value] * len(tokens)))
    raise RefError(f"not an s-op or atom: {value!r}")


def elementwise(fn: Callable[..., Any], *parts: Any) -> Seq:
    """A map: `fn` of the parts' values, position by position."""
    seqs = [as_seq(p) for p in parts]
    return Seq(lambda tokens: checked([fn(*vals) for vals in
                                       zip(*[s(tokens) for s in seqs])]))


def cellwise(fn: Callable[..., bool], *selectors: Sel) -> Sel:
    return Sel(lambda tokens: [[fn(*cells) for cells in zip(*rows)]
                               for rows in zip(*[s(tokens) for s in selectors])])


# ---------------------------------------------------------------- the primitives (§6)

def select(keys: Any, queries: Any, op: str) -> Sel:
    """Cell (q, k) is `keys[k] op queries[q]`."""
    k_seq, q_seq = as_seq(keys), as_seq(queries)

    def matrix(tokens: Input) -> list:
        ks, qs = k_seq(tokens), q_seq(tokens)
        return [[bool(python_op(op, k, q)) for k in ks] for q in qs]
    return Sel(matrix)


def causal_rows(rows: list) -> list:
    """A selection seen in causal mode: row q keeps only its keys k <= q."""
    return [[on and k <= q for k, on in enumerate(row)] for q, row in enumerate(rows)]


def aggregate(selector: Any, values: Any, default: Any = 0, causal: bool = False) -> Seq:
    """Copy one selected value, average several numbers, `default` for none (§6.5)."""
    if not isinstance(selector, Sel):
        raise RefError("aggregate needs a selector")
    vals = as_seq(values)
    if not is_atom(default):
        raise RefError("the default must be an atom")

    def compute(tokens: Input) -> list:
        rows, vs = selector(tokens), vals(tokens)
        rows = causal_rows(rows) if causal else rows
        out = []
        for row in rows:
            chosen = [v for v, on in zip(vs, row) if on]
            if not chosen:
                out.append(default)
            elif len(chosen) == 1:
                out.append(chosen[0])
            elif seq_type(vs) not in ("ints", "floats"):
                raise RefError("cannot average non-numbers")
            else:
                try:
                    out.append(sum(chosen) * 1.0 / len(chosen))
                except OverflowError as e:
                    raise RefError(str(e)) from None
        return checked(out)
    return Seq(compute)


def _tokens(convert: Callable[[Any], Any] | None) -> Seq:
    def compute(tokens: Input) -> list:
        try:
            return checked([t if convert is None else convert(t) for t in tokens])
        except (TypeError, ValueError) as e:
            raise RefError(str(e)) from None
    return Seq(compute)


def _selector_width(causal: bool) -> Callable[[Any], Seq]:
    def width(sel: Any) -> Seq:
        if not isinstance(sel, Sel):
            raise RefError("selector_width needs a selector")
        return Seq(lambda tokens: [sum(row) for row in (
            causal_rows(sel(tokens)) if causal else sel(tokens))])
    return width


def builtins(causal: bool = False) -> dict[str, Any]:
    """The predefined names (§6.1, §7), fresh for each program so memos do not pile up."""
    return {
        "tokens": _tokens(str), "tokens_str": _tokens(str), "tokens_int": _tokens(int),
        "tokens_float": _tokens(float), "tokens_bool": _tokens(bool),
        "tokens_asis": _tokens(None),
        "indices": Seq(lambda tokens: list(range(len(tokens)))),
        "length": Seq(lambda tokens: list(range(1, len(tokens) + 1)) if causal
                      else [len(tokens)] * len(tokens)),
        "full_s": Sel(lambda tokens: [[True] * len(tokens) for _ in tokens]),
        "True": True, "False": False,
        "selector_width": _selector_width(causal),
    }


def _library() -> list[Def]:
    """The library functions of §7, as their formulas."""
    v, lit = Var, Lit

    def eq(a, b):
        return Binary("==", a, b)

    def sel(k, q, op):
        return Select(k, q, op)
    seq, atom, val = v("seq"), v("atom"), v("val")
    idx = v("indices")
    has_focus = Binary(">", Aggregate(v("sel"), lit(1), lit(0)), lit(0))
    later = Binary("and", sel(seq, val, "=="), sel(idx, idx, ">"))
    earlier = Binary("and", sel(seq, val, "=="), sel(idx, idx, "<"))
    precedes = Binary("or", sel(v("key"), v("key"), "<"),
                      Binary("and", sel(v("key"), v("key"), "=="), sel(idx, idx, "<")))
    same_before = Binary("and", sel(seq, seq, "=="), sel(idx, idx, "<"))
    return [
        Def("has_focus", ("sel",), (), has_focus),
        Def("count", ("seq", "atom"), (), Unary("round", Binary(
            "*", v("length"),
            Aggregate(v("full_s"), Unary("indicator", eq(seq, atom)), None)))),
        Def("contains", ("seq", "atom"), (), Binary(
            ">", Aggregate(v("full_s"), Unary("indicator", eq(seq, atom)), None), lit(0))),
        Def("max", ("a", "b"), (), Cond(v("a"), Binary(">", v("a"), v("b")), v("b"))),
        Def("min", ("a", "b"), (), Cond(v("a"), Binary("<", v("a"), v("b")), v("b"))),
        Def("average", ("seq",), (), Aggregate(v("full_s"), seq, None)),
        Def("load_from_location", ("seq", "loc"), (),
            Aggregate(sel(idx, v("loc"), "=="), seq, None)),
        Def("shift", ("seq", "n", "filler"), (),
            Aggregate(sel(Binary("+", idx, v("n")), idx, "=="), seq, v("filler"))),
        Def("mark_last_instance", ("seq", "val"), (), Binary(
            "and", eq(seq, val), Unary("not", Call("has_focus", (later,))))),
        Def("mark_first_instance", ("seq", "val"), (), Binary(
            "and", eq(seq, val), Unary("not", Call("has_focus", (earlier,))))),
        Def("select_from_last", ("seq", "val"), (),
            sel(Call("mark_last_instance", (seq, val)), lit(True), "==")),
        Def("select_from_first", ("seq", "val"), (),
            sel(Call("mark_first_instance", (seq, val)), lit(True), "==")),
        Def("sort", ("seq", "key"), (Assign("target", Call("selector_width", (precedes,))),),
            Aggregate(sel(v("target"), idx, "=="), seq, None)),
        Def("select_next_identical", ("seq",),
            (Assign("rank", Call("selector_width", (same_before,))),),
            Binary("and", sel(seq, seq, "=="),
                   sel(v("rank"), Binary("+", v("rank"), lit(1)), "=="))),
    ]


LIBRARY = _library()


# ---------------------------------------------------------------- evaluation

class Evaluator:
    """Runs a program's statements; `values` then maps each name to its reference value."""

    def __init__(self, causal: bool = False) -> None:
        self.causal = causal
        self.values: dict[str, Any] = builtins(causal)
        for definition in LIBRARY:
            self.values[definition.name] = Func(definition, self.values)

    def run(self, statements: list) -> None:
        for stmt in statements:
            if isinstance(stmt, Def):
                self.values[stmt.name] = Func(stmt, self.values)
            else:
                self.values[stmt.name] = self.build(stmt.value, self.values)

    def build(self, e: Any, env: dict) -> Any:
        """The value of an expression: atoms at once, s-ops and selectors as functions."""
        match e:
            case Lit(value=value):
                return value
            case ListLit(items=items):
                return [self.build(i, env) for i in items]
            case DictLit(pairs=pairs):
                return {self.build(k, env): self.build(v, env) for k, v in pairs}
            case Var(name=name):
                if name not in env:
                    raise RefError(f"undefined {name}")
                return env[name]
            case Paren(inner=inner):
                return self.build(inner, env)
            case Unary(op=op, operand=operand):
                return self._unary(op, self.build(operand, env))
            case Binary(op=op, left=left, right=right):
                return self._binary(op, self.build(left, env), self.build(right, env))
            case Cond():
                return self._cond(e, env)
            case Contains(item=item, container=container):
                return self._contains(self.build(item, env), self.build(container, env))
            case Index(target=target, index=index):
                return self._index(self.build(target, env), self.build(index, env), env)
            case Call(name=name, args=args):
                return self.call(self.build(Var(name), env),
                                 [self.build(a, env) for a in args])
            case Select(keys=keys, queries=queries, op=op):
                return select(self._operand(self.build(keys, env)),
                              self._operand(self.build(queries, env)), op)
            case Aggregate(selector=sel, values=values, default=default):
                return aggregate(self.build(sel, env), self._operand(self.build(values, env)),
                                 0 if default is None else self.build(default, env),
                                 self.causal)
        raise AssertionError(f"not an expression: {e!r}")

    @staticmethod
    def _operand(value: Any) -> Any:
        if isinstance(value, Seq) or is_atom(value):
            return value
        raise RefError(f"not an s-op or atom: {value!r}")

    def _unary(self, op: str, value: Any) -> Any:
        if isinstance(value, Sel):
            if op != "not":
                raise RefError(f"{op} of a selector")
            return cellwise(operator.not_, value)
        if isinstance(value, Seq):
            return elementwise(lambda a: python_unary(op, a), value)
        if op == "indicator" or isinstance(value, Func) or callable(value):
            raise RefError(f"{op} of {value!r}")
        return python_unary(op, value)

    def _binary(self, op: str, a: Any, b: Any) -> Any:
        if op in ("and", "or"):
            if isinstance(a, Sel) and isinstance(b, Sel):
                return cellwise(operator.and_ if op == "and" else operator.or_, a, b)
            if isinstance(a, Sel) or isinstance(b, Sel):
                raise RefError("selector and non-selector")
            if isinstance(a, Seq) or isinstance(b, Seq):
                both = (lambda x, y: bool(x) and bool(y)) if op == "and" else (
                    lambda x, y: bool(x) or bool(y))
                return elementwise(both, self._operand(a), self._operand(b))
            return (a and b) if op == "and" else (a or b)
        if isinstance(a, Sel) or isinstance(b, Sel):
            raise RefError(f"{op} with a selector")
        if isinstance(a, Seq) or isinstance(b, Seq):
            return elementwise(lambda x, y: python_op(op, x, y),
                               self._operand(a), self._operand(b))
        if isinstance(a, Func) or isinstance(b, Func) or callable(a) or callable(b):
            raise RefError(f"{op} with a function")
        return python_op(op, a, b)

    def _cond(self, e: Cond, env: dict) -> Any:
        test = self.build(e.test, env)
        if not isinstance(test, (Seq, Sel)):  # atoms decide lazily (§6.7)
            return self.build(e.then if test else e.otherwise, env)
        if isinstance(test, Sel):
            raise RefError("a selector as a condition")
        then = self._operand(self.build(e.then, env))
        otherwise = self._operand(self.build(e.otherwise, env))
        return elementwise(lambda c, a, b: a if c else b, test, then, otherwise)

    def _contains(self, item: Any, container: Any) -> Any:
        if isinstance(item, Seq):
            if not isinstance(container, list) or not all(map(is_atom, container)):
                raise RefError("s-op in X needs a list of atoms")
            return elementwise(lambda x: x in container, item)
        if not is_atom(item):
            raise RefError("in: not an atom or s-op on the left")
        if isinstance(container, list):
            return item in container
        if isinstance(container, Seq):  # "does it occur anywhere", at every position
            if self.causal:  # anywhere up to here
                return Seq(lambda tokens: [any(v == item for v in container(tokens)[:i + 1])
                                           for i in range(len(tokens))])
            return Seq(lambda tokens: [any(v == item for v in container(tokens))]
                       * len(tokens))
        raise RefError("atom in X needs a list or an s-op")

    def _index(self, target: Any, index: Any, env: dict) -> Any:
        if isinstance(target, Seq):
            if not isinstance(index, int):
                raise RefError("an s-op is indexed by an int")
            # s[i] = aggregate(select(indices, i, ==), s); negative i counts from `length`
            query = index if index >= 0 else self._binary("+", env["length"], index)
            return aggregate(select(env["indices"], query, "=="), target, causal=self.causal)
        if isinstance(target, (list, str, dict)):
            if isinstance(index, Seq):
                return elementwise(lambda i: _lookup(target, i), index)
            if isinstance(target, dict) and not is_atom(index):
                raise RefError("dict keys are atoms")
            if not isinstance(target, dict) and not isinstance(index, int):
                raise RefError("a list index is an int")
            return _lookup(target, index)
        raise RefError(f"cannot index {target!r}")

    def call(self, func: Any, args: list) -> Any:
        if callable(func) and not isinstance(func, Memo):
            return func(*args)
        if not isinstance(func, Func):
            raise RefError(f"{func!r} is not a function")
        definition = func.definition
        if len(args) != len(definition.params):
            raise RefError("wrong number of arguments")
        scope = dict(func.scope)
        scope.update(zip(definition.params, args))
        for stmt in definition.body:
            scope[stmt.name] = self.build(stmt.value, scope)
        return self.build(definition.result, scope)


def _lookup(container: Any, key: Any) -> Any:
    try:
        return container[key]
    except (KeyError, IndexError, TypeError) as e:
        raise RefError(f"lookup: {e}") from None
