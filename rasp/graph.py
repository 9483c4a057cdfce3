"""The computation graph of s-ops and selectors: immutable nodes that carry annotations.

Every expression that makes an s-op or a selector builds a node recording what it was built
from (`inputs`), the source that built it (`span`) and the calls it was built in (`trace`).
A node never changes. What others want to say about it (the name it was assigned to, its
display text, a compiler's encoding or value set) lives in its `annotations`; `annotated()`
and `named()` return a copy that differs only there. A copy keeps the node's `id`, the
identity of the computation: caches, the analysis and the compiler key nodes by it, so a
named copy is the same computation as the node it was made from.

Nothing here computes: engine.py evaluates graphs, analysis.py lays them out in layers.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np

from . import ops
from .errors import Note, Span

__all__ = ["Node", "SOp", "Selector", "Tokens", "Indices", "Constant", "Map", "Operation",
           "Select", "Combine", "Aggregate", "Trace", "selects_of", "leaves", "next_id",
           "graph_below", "plain"]

# the calls a node was built in, outermost first: (Note.call(...), its span) pairs
Trace = tuple[tuple[Note, Span], ...]
N = TypeVar("N", bound="Node")

_ids = itertools.count(1)


def next_id() -> int:
    """An id larger than that of every node made so far (to tell which nodes a call made)."""
    return next(_ids)


class Node:
    """A node of the computation graph. `label` (`kind_id`) is unique and never changes;
    `title` is what reports show: the name it was assigned to, else its display text."""

    kind = "node"

    def __init__(self, inputs: tuple[Node, ...] = (), text: str = "", span: Span | None = None,
                 trace: Trace = ()):
        init = object.__setattr__
        init(self, "id", next(_ids))
        init(self, "inputs", inputs)
        init(self, "span", span)
        init(self, "trace", trace)
        init(self, "annotations", MappingProxyType({"text": text}))

    id: int
    inputs: tuple[Node, ...]
    span: Span | None
    trace: Trace
    annotations: Mapping[str, Any]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"graph nodes are immutable: use annotated() to add '{name}'")

    def annotated(self: N, **annotations: Any) -> N:
        """A copy of this node (the same computation, the same id) with more annotations."""
        other = copy.copy(self)
        object.__setattr__(other, "annotations",
                           MappingProxyType({**self.annotations, **annotations}))
        return other

    def named(self: N, name: str | None) -> N:
        return self.annotated(name=name)

    @property
    def label(self) -> str:
        """The node's unique identifier: its kind and its id, as `aggregate_12`."""
        return f"{self.kind}_{self.id}"

    @property
    def name(self) -> str | None:
        return self.annotations.get("name")

    @property
    def text(self) -> str:
        return self.annotations["text"]

    @property
    def title(self) -> str:
        return self.name or self.text or self.label

    @property
    def full_title(self) -> str:
        """The title unabbreviated: a front end records a display text's whole text
        (`full_text`) where it cuts one."""
        return self.name or self.annotations.get("full_text") or self.title

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label} {self.title}>"


class SOp(Node):
    """A sequence operator: maps an input sequence to a sequence of the same length."""

    kind = "sop"


class Selector(Node):
    """Maps an input sequence to a selection matrix (rows = queries, columns = keys)."""

    kind = "selector"


class Tokens(SOp):
    """`tokens_str`, `tokens_int`, ...: the input, each value converted by `convert`."""

    kind = "tokens"

    def __init__(self, text: str, convert: Callable[[Any], Any] | None):
        super().__init__(text=text)
        object.__setattr__(self, "convert", convert)

    convert: Callable[[Any], Any] | None


class Indices(SOp):
    kind = "indices"


class Constant(SOp):
    """An atom used where an s-op is needed: the atom at every position."""

    kind = "constant"

    def __init__(self, value: Any, span: Span | None = None, trace: Trace = ()):
        super().__init__(text=repr(value) if isinstance(value, str) else str(value), span=span,
                         trace=trace)
        object.__setattr__(self, "value", value)

    value: Any


@dataclass(frozen=True)
class Operation:
    """What a map computes at each position, in RASP's own terms: `kind` is one of

    * "binary" (`symbol` an operator of ops.binary, or "and"/"or"): of two inputs, or of one
      input and `constant` on the right;
    * "unary" (`symbol` "-", "+", "not", "round", "indicator"): of one input;
    * "choose": `then if test else otherwise`, of three inputs (test, then, otherwise);
    * "in": whether the input is in the list `constant`;
    * "lookup": `constant[x]`, a list, string or dict indexed by the input;
    * "occurs": 1 where the input equals `constant`, else 0 (for `atom in s-op`);
    * "function": `constant`, a Python function named `symbol`, of one value of each input
      (a map built in Python, rasp.dsl): opaque, so a compiler tabulates it.

    The numpy function a map applies is derived from this (`__call__`), so that whoever reads
    the graph (drawings, a compiler) knows what it computes without running it."""

    kind: str
    symbol: str = ""
    constant: Any = field(default=None, compare=False)

    def __call__(self, *args: np.ndarray) -> np.ndarray:
        if self.kind == "binary":
            left = args[0]
            right = args[1] if len(args) > 1 else ops.constant(self.constant, left.shape[-1])
            if self.symbol in ("and", "or"):
                combine = np.logical_and if self.symbol == "and" else np.logical_or
                return combine(ops.truth(left), ops.truth(right))
            return ops.binary(self.symbol, left, right)
        if self.kind == "unary":
            return ops.unary(self.symbol, args[0])
        if self.kind == "choose":
            return ops.choose(*args)
        if self.kind == "in":
            return ops.is_in(args[0], self.constant)
        if self.kind == "lookup":
            return ops.lookup(self.constant, args[0])
        if self.kind == "occurs":
            same = ops.binary("==", args[0], ops.constant(self.constant, args[0].shape[-1]))
            return same.astype(np.int64)
        if self.kind == "function":
            return ops.apply_function(self.constant, self.symbol, *args)
        raise AssertionError(f"unknown operation {self.kind}")


class Map(SOp):
    """An elementwise operation ("feed-forward" work): `operation` of its inputs' values."""

    kind = "map"

    def __init__(self, operation: Operation, inputs: tuple[SOp, ...], text: str = "",
                 span: Span | None = None, trace: Trace = ()):
        super().__init__(inputs, text, span, trace)
        object.__setattr__(self, "operation", operation)

    operation: Operation


class Select(Selector):
    """`select(keys, queries, op)`: cell (q, k) is `keys[k] op queries[q]`."""

    kind = "select"

    def __init__(self, keys: SOp, queries: SOp, op: str, text: str = "",
                 span: Span | None = None, trace: Trace = ()):
        super().__init__((keys, queries), text, span, trace)
        object.__setattr__(self, "op", op)

    op: str

    @property
    def keys(self) -> SOp:
        return self.inputs[0]  # type: ignore[return-value]

    @property
    def queries(self) -> SOp:
        return self.inputs[1]  # type: ignore[return-value]


class Combine(Selector):
    """`a and b`, `a or b`, `not a` on selectors: one selector (one attention head)."""

    kind = "combine"

    def __init__(self, op: str, parts: tuple[Selector, ...], text: str = "",
                 span: Span | None = None, trace: Trace = ()):
        super().__init__(parts, text, span, trace)
        object.__setattr__(self, "op", op)

    op: str


class Aggregate(SOp):
    """`aggregate(selector, values, default)`: attention."""

    kind = "aggregate"

    def __init__(self, selector: Selector, values: SOp, default: Any, text: str = "",
                 span: Span | None = None, trace: Trace = ()):
        super().__init__((selector, values), text, span, trace)
        object.__setattr__(self, "default", default)

    default: Any

    @property
    def selector(self) -> Selector:
        return self.inputs[0]  # type: ignore[return-value]

    @property
    def values(self) -> SOp:
        return self.inputs[1]  # type: ignore[return-value]


def selects_of(selector: Selector) -> list[Select]:
    """The plain selects a (possibly combined) selector is made of."""
    if isinstance(selector, Select):
        return [selector]
    return [s for part in selector.inputs for s in selects_of(part)]  # type: ignore[arg-type]


def leaves(selector: Selector) -> tuple[SOp, ...]:
    """The s-ops a selector compares: what must be computed before its rows can be."""
    found = {n.id: n for s in selects_of(selector) for n in (s.keys, s.queries)}
    return tuple(found.values())


def graph_below(target: Node) -> list[Node]:
    """Every node the target depends on, itself included, in creation order (one copy of
    each: annotated copies of a node share its id)."""
    seen: dict[int, Node] = {}
    stack: list[Node] = [target]
    while stack:
        node = stack.pop()
        if node.id not in seen:
            seen[node.id] = node
            stack.extend(node.inputs)
    return sorted(seen.values(), key=lambda n: n.id)


def plain(node: N) -> N:
    """`node`'s graph with every node of its class here. rasp.dsl's nodes are subclasses
    whose `==` builds an s-op, and the passes compare nodes (and lists of them) as Python
    objects: sessions and the compiler take graphs through this. The same computations: ids
    and annotations are kept; a graph of plain nodes is returned as it is."""
    made: dict[int, Node] = {}  # by Python identity: named copies of one node differ
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        top, ready = stack.pop()
        if id(top) in made:
            continue
        if not ready:
            stack.append((top, True))
            stack.extend((i, False) for i in top.inputs if id(i) not in made)
            continue
        inputs = tuple(made[id(i)] for i in top.inputs)
        base = next(c for c in type(top).__mro__ if c.__module__ == __name__)
        if base is type(top) and all(a is b for a, b in zip(inputs, top.inputs)):
            made[id(top)] = top
        else:
            other = copy.copy(top)
            object.__setattr__(other, "__class__", base)
            object.__setattr__(other, "inputs", inputs)
            made[id(top)] = other
    return made[id(node)]  # type: ignore[return-value]
