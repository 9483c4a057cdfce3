"""RASP's runtime values: s-ops and selectors as an immutable computation graph.

Every expression that makes an s-op or a selector builds a node that records what it was built
from (`inputs`), the source that built it (`span`) and the calls it was built in (`trace`).
Nothing is computed until the graph is applied to an input: `evaluate(node, tokens)` walks the
graph once, bottom-up, caching each node's array (see ops.py for the array forms).

Each node also records its `depth`, the original interpreter's minimum layer (reference §12):
inputs and constants 0, maps the max of their inputs, a select one more than its keys and
queries, an aggregate max(values + 1, selector).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import ops
from .errors import RaspError, RaspValueError, Span

__all__ = ["Node", "SOp", "Selector", "Tokens", "Indices", "Constant", "Map", "Aggregate",
           "Select", "Combine", "Function", "Applied", "ValueCache", "evaluate", "prepare_input",
           "describe"]

_ids = itertools.count(1)


def next_id() -> int:
    """An id larger than every node made so far (used to tell which nodes a call made)."""
    return next(_ids)
Trace = tuple[tuple[str, Span], ...]


class Node:
    """A node of the computation graph. Its inputs never change; only its display name is set,
    once, when it is first assigned to a variable."""

    inputs: tuple[Node, ...] = ()
    depth: int = 0

    def __init__(self, label: str, span: Span | None = None, trace: Trace = ()):
        self.id = next(_ids)
        self.label = label
        self.name: str | None = None
        self.span = span
        self.trace = trace

    def named(self, name: str) -> None:
        if self.name is None:
            self.name = name

    @property
    def title(self) -> str:
        return self.name or self.label

    def compute(self, args: list[np.ndarray], tokens: list) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.title}>"


class SOp(Node):
    """A sequence operator: maps an input sequence to a sequence of the same length."""


class Selector(Node):
    """Maps an input sequence to a selection matrix (rows = queries, columns = keys)."""


class Tokens(SOp):
    """`tokens_str`, `tokens_int`, ...: the input, each value converted by `convert`."""

    def __init__(self, label: str, convert: Callable[[Any], Any] | None):
        super().__init__(label)
        self.convert = convert

    def compute(self, args, tokens):
        return ops.sequence(tokens if self.convert is None else [self.convert(t) for t in tokens])


class Indices(SOp):
    def compute(self, args, tokens):
        return np.arange(len(tokens), dtype=np.int64)


class Constant(SOp):
    """An atom used where an s-op is needed: the atom at every position."""

    def __init__(self, value: Any, span: Span | None = None, trace: Trace = ()):
        super().__init__(repr(value) if isinstance(value, str) else str(value), span, trace)
        self.value = value

    def compute(self, args, tokens):
        return ops.constant(self.value, len(tokens))


class Map(SOp):
    """An elementwise operation ("feed-forward" work): `fn` of its inputs' arrays."""

    def __init__(self, fn: Callable[..., np.ndarray], inputs: tuple[SOp, ...], label: str,
                 span: Span | None = None, trace: Trace = ()):
        super().__init__(label, span, trace)
        self.fn = fn
        self.inputs = inputs
        self.depth = max((i.depth for i in inputs), default=0)

    def compute(self, args, tokens):
        return self.fn(*args)


class Select(Selector):
    """`select(keys, queries, op)`: cell (q, k) is `keys[k] op queries[q]`."""

    def __init__(self, keys: SOp, queries: SOp, op: str, label: str,
                 span: Span | None = None, trace: Trace = ()):
        super().__init__(label, span, trace)
        self.keys, self.queries, self.op = keys, queries, op
        self.inputs = (keys, queries)
        self.depth = max(keys.depth, queries.depth) + 1

    def compute(self, args, tokens):
        keys, queries = args
        return ops.select(keys, queries, self.op)


class Combine(Selector):
    """`a and b`, `a or b`, `not a` on selectors: one selector (one attention head)."""

    def __init__(self, op: str, parts: tuple[Selector, ...], label: str,
                 span: Span | None = None, trace: Trace = ()):
        super().__init__(label, span, trace)
        self.op = op
        self.inputs = parts
        self.depth = max(p.depth for p in parts)

    def compute(self, args, tokens):
        if self.op == "not":
            return ~args[0]
        return args[0] & args[1] if self.op == "and" else args[0] | args[1]


class Aggregate(SOp):
    """`aggregate(selector, values, default)`: attention."""

    def __init__(self, selector: Selector, values: SOp, default: Any, label: str,
                 span: Span | None = None, trace: Trace = ()):
        super().__init__(label, span, trace)
        self.selector, self.values, self.default = selector, values, default
        self.inputs = (selector, values)
        self.depth = max(values.depth + 1, selector.depth)

    def compute(self, args, tokens):
        selection, values = args
        return ops.aggregate(selection, values, self.default)


class Function:
    """A RASP function: parameters, body and return expressions, closed over `env`."""

    def __init__(self, name: str, params: tuple[str, ...], body: tuple, returns: tuple,
                 env: Any, home: str):
        self.name, self.params, self.body, self.returns = name, params, body, returns
        self.env = env
        self.home = home  # name of the environment that defined it: "console", a file...

    def __repr__(self) -> str:
        return f"{self.home} function: {self.name}({', '.join(self.params)})"


class Applied:
    """The result of applying an s-op or selector to an input: a finished value to print."""

    def __init__(self, node: Node, example: Any, result: np.ndarray):
        self.node, self.example, self.result = node, example, result


def prepare_input(value: Any) -> list:
    """An input sequence as a list of atoms; a string is a sequence of characters."""
    if isinstance(value, str):
        items = list(value)
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise RaspValueError(f"an input must be a string or a list, got {describe(value)}")
    if not items:
        raise RaspValueError("an input must not be empty")
    for item in items:
        if not isinstance(item, ops.ATOM_TYPES):
            raise RaspValueError(f"input values must be atoms, got {describe(item)}")
    return items


def describe(value: Any) -> str:
    """A short description of any RASP value for messages."""
    if isinstance(value, SOp):
        return f"s-op {value.title}"
    if isinstance(value, Selector):
        return f"selector {value.title}"
    if isinstance(value, Function):
        return f"function {value.name}"
    if isinstance(value, Applied):
        return f"the result of applying {value.node.title} to an input"
    if isinstance(value, str):
        return f'"{value}"'
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class ValueCache(dict):
    """The values of graph nodes on one input, by node id, and about the bytes they hold: the
    arrays' data and their bookkeeping (an object array's strings or big ints are not
    counted, only its pointers)."""

    OVERHEAD = 200  # bytes per value beyond its data: the array object, the key, the entry

    def __init__(self) -> None:
        super().__init__()
        self.nbytes = 0

    def __setitem__(self, node_id: int, value: np.ndarray) -> None:
        self.nbytes += value.nbytes + self.OVERHEAD
        super().__setitem__(node_id, value)


_PYTHON_ERRORS = (TypeError, ValueError, ZeroDivisionError, OverflowError, KeyError, IndexError,
                  ArithmeticError)


def evaluate(node: Node, tokens: list, cache: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """The value of `node` on the input `tokens`, computing each node of the graph once."""
    cache = {} if cache is None else cache
    stack = [node]
    while stack:
        top = stack[-1]
        if top.id in cache:
            stack.pop()
            continue
        missing = [i for i in top.inputs if i.id not in cache]
        if missing:
            stack.extend(missing)
            continue
        stack.pop()
        cache[top.id] = _compute(top, [cache[i.id] for i in top.inputs], tokens)
    return cache[node.id]


def _compute(node: Node, args: list[np.ndarray], tokens: list) -> np.ndarray:
    try:
        return node.compute(args, tokens)
    except RaspError as e:
        error = e
    except _PYTHON_ERRORS as e:
        error = RaspValueError(str(e))
    if error.span is None:
        error.at(node.span)
        for message, span in reversed(node.trace):
            error.noted(message, span)
    if error.node is None:
        error.node = node
    raise error
