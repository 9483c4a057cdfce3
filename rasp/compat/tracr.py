"""tracr's RASP programs (`tracr.rasp.rasp`) as graphs of this interpreter: `from_tracr(expr)`.

tracr is never imported: its expressions are read by their classes' names (along the class
hierarchy, so `LinearSequenceMap` is a `SequenceMap`) and attributes, so that hand-built
stand-ins convert too. What differs between tracr's semantics and ours, and what we do:

* tokens pass through unchanged in tracr (ints stay ints): they become `tokens_asis`.
* `length` is a primitive in tracr; here it is the library's `length` (one head).
* `Map` and `SequenceMap` hold Python functions: they become opaque maps of those functions,
  positioned where the function is defined; a `LinearSequenceMap`'s is annotated `linear`
  with its two factors, which our compiler checks and computes with a linear block. tracr
  merges a Map of a Map into one lambda, so inner names are lost before we see them.
* `Aggregate`'s default `None` ("nothing selected") becomes 0: our sequences hold atoms of
  one type, and tracr's own compiler reads "nothing" as 0 for numerical s-ops. Where tracr
  gives None, our value may differ (compare only where tracr's is not None); an aggregate of
  strings that selects nothing somewhere is an error here, not a None.
* A numerical aggregate averages bools as numbers in tracr: its values go through `number`
  (a bool as 0 or 1), so a lone selected bool reads 0 or 1 here where tracr copies the bool
  (equal as Python values).
* A categorical aggregate: tracr requires at most one selected key for its compiler but its
  evaluator averages several selected numbers or bools, and raises on strings; ours does the
  same (our compiler chooses each encoding itself, so `numerical`/`categorical` are kept only
  as annotations).
* `Comparison.TRUE` / `FALSE` become a selector of every key / of none; `Full` a constant;
  `ConstantSOp` a lookup by position (defined, as in tracr, only at its own length).
* No BOS: tracr's evaluator has none; our compiler adds its own, so none is added here.
* Not convertible, each error naming the construct: a `Select` whose predicate is a Python
  function (tracr's `shift_by`, `detect_pattern`, `make_count`, `make_count_less_freq`, and
  `&`/`|`/`~` of selectors with shared keys and queries, which tracr folds into such a
  predicate), and `ConstantSelector`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import dsl, graph
from ..errors import RaspTypeError

__all__ = ["from_tracr", "TRACR_DEFAULT"]

TRACR_DEFAULT = 0  # what an aggregate gives where tracr's gives None (nothing selected)
dsl.builder_module(__file__)  # nodes are positioned at the user's call of from_tracr


def from_tracr(expr: Any) -> graph.Node:
    """The s-op (or selector) of this interpreter that computes tracr's `expr`."""
    return _Converter().convert(expr)


def _kinds(expr: Any) -> list[str]:
    return [c.__name__ for c in type(expr).__mro__]


class _Converter:
    """One conversion: tracr's expressions shared in its graph stay shared in ours."""

    def __init__(self) -> None:
        self.done: dict[int, graph.Node] = {}
        self.keep: list[Any] = []  # the converted expressions, so that their ids stay theirs

    def convert(self, expr: Any) -> graph.Node:
        # iterative, children first: tracr's graphs can be deeper than Python's recursion
        stack: list[tuple[Any, bool]] = [(expr, False)]
        while stack:
            top, ready = stack.pop()
            if id(top) in self.done:
                continue
            if ready:
                self.done[id(top)] = self._node(top)
                self.keep.append(top)
            else:
                stack.append((top, True))
                stack.extend((c, False) for c in _children(top) if id(c) not in self.done)
        return self.done[id(expr)]

    def _node(self, expr: Any) -> graph.Node:
        kinds = _kinds(expr)
        kind = next((k for k in kinds if k in _CONVERT), None)
        if kind is None:
            raise _unsupported(expr, "has no counterpart here")
        node = _CONVERT[kind](self, expr)
        label = getattr(expr, "label", None)
        if isinstance(label, str) and label and kind not in _INPUTS:
            node = node.named(label)
        # (tracr gives a selector no encoding: asking raises)
        encoding = _annotation(expr, "encoding") if "SOp" in kinds else None
        if encoding is not None:
            node = node.annotated(encoding=getattr(encoding, "value", str(encoding)))
        return node

    def get(self, expr: Any) -> Any:
        return self.done[id(expr)]

    # -- one converter per tracr class

    def map(self, expr: Any) -> graph.Node:
        return _with_function_site(dsl.Map(expr.f, self.get(expr.inner)), expr.f)

    def sequence_map(self, expr: Any) -> graph.Node:
        node = dsl.SequenceMap(expr.f, self.get(expr.fst), self.get(expr.snd))
        node = _with_function_site(node, expr.f)
        factors = (getattr(expr, "fst_fac", None), getattr(expr, "snd_fac", None))
        if "LinearSequenceMap" in _kinds(expr) and None not in factors:
            node = node.annotated(linear=factors)  # f is fst_fac * x + snd_fac * y
        return node

    def select(self, expr: Any) -> graph.Node:
        predicate = expr.predicate
        if "Comparison" not in _kinds(predicate):
            raise _unsupported(expr, f"compares with the Python function "
                                     f"'{dsl.function_name(predicate)}', and a select here "
                                     f"compares with one of ==, !=, <, <=, >, >=")
        return dsl.select(self.get(expr.keys), self.get(expr.queries), predicate.value)

    def aggregate(self, expr: Any) -> graph.Node:
        default = TRACR_DEFAULT if expr.default is None else expr.default
        values = self.get(expr.sop)
        if getattr(_annotation(expr, "encoding"), "name", None) == "NUMERICAL":
            values = dsl.Map(number, values)  # tracr averages bools as numbers
        return dsl.aggregate(self.get(expr.selector), values, default)

    def full(self, expr: Any) -> graph.Node:
        return dsl.Full(expr.fill)

    def constant_sop(self, expr: Any) -> graph.Node:
        values = list(expr.value)
        return dsl.MapNode(graph.Operation("lookup", constant=values), (dsl.indices,),
                           f"{values!r}[indices]", dsl.call_site())

    def combine(self, expr: Any) -> graph.Node:
        kinds = _kinds(expr)
        if "SelectorNot" in kinds:
            return ~self.get(expr.inner)
        first, second = self.get(expr.fst), self.get(expr.snd)
        return first & second if "SelectorAnd" in kinds else first | second


_INPUTS = {"TokensType", "IndicesType", "LengthType"}
_CONVERT: dict[str, Callable[[_Converter, Any], graph.Node]] = {
    "TokensType": lambda c, e: dsl.tokens_asis,
    "IndicesType": lambda c, e: dsl.indices,
    "LengthType": lambda c, e: dsl.length,
    "Map": _Converter.map,
    "SequenceMap": _Converter.sequence_map,
    "Select": _Converter.select,
    "Aggregate": _Converter.aggregate,
    "SelectorWidth": lambda c, e: dsl.selector_width(c.get(e.selector)),
    "Full": _Converter.full,
    "ConstantSOp": _Converter.constant_sop,
    "SelectorAnd": _Converter.combine,
    "SelectorOr": _Converter.combine,
    "SelectorNot": _Converter.combine,
}
# the attributes that hold each tracr class's children
_CHILDREN = {"Map": ("inner",), "SequenceMap": ("fst", "snd"), "Select": ("keys", "queries"),
             "Aggregate": ("selector", "sop"), "SelectorWidth": ("selector",),
             "SelectorAnd": ("fst", "snd"), "SelectorOr": ("fst", "snd"),
             "SelectorNot": ("inner",)}


def number(value: Any) -> Any:
    """A bool as the number tracr averages it as; any other value as it is."""
    return int(value) if isinstance(value, bool) else value


def _annotation(expr: Any, name: str) -> Any:
    annotations = getattr(expr, "annotations", None)
    return annotations.get(name) if annotations is not None else None


def _children(expr: Any) -> list[Any]:
    kind = next((k for k in _kinds(expr) if k in _CONVERT), None)
    return [getattr(expr, a) for a in _CHILDREN.get(kind or "", ())]


def _with_function_site(node: graph.Map, function: Callable) -> graph.Map:
    """A map of tracr's is positioned where its function is defined: what the user wrote."""
    site = dsl.function_site(function)
    if site is None:
        return node
    return dsl.MapNode(node.operation, node.inputs, node.text, site)  # type: ignore[arg-type]


def _unsupported(expr: Any, why: str) -> RaspTypeError:
    label = getattr(expr, "label", None)
    named = f" '{label}'" if isinstance(label, str) and label else ""
    return RaspTypeError(f"tracr's {type(expr).__name__}{named} {why}", dsl.call_site())
