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
from .errors import RaspError, RaspLimitError, RaspValueError, Span

__all__ = ["Node", "SOp", "Selector", "Tokens", "Indices", "Constant", "Map", "Aggregate",
           "Select", "Combine", "Function", "Applied", "ValueCache", "evaluate", "input_array",
           "prepare_input",
           "describe"]

_ids = itertools.count(1)


def next_id() -> int:
    """An id larger than every node made so far (used to tell which nodes a call made)."""
    return next(_ids)
Trace = tuple[tuple[str, Span], ...]


class Node:
    """A node of the computation graph. Its inputs never change; only its display name is set,
    once, when it is first assigned to a variable."""

    inputs: tuple[Node, ...] = ()  # what it was built from
    depth: int = 0

    @property
    def needs(self) -> tuple[Node, ...]:
        """What must be computed before this node: its inputs, except that selectors are
        never materialised for an aggregate, which needs only what they compare."""
        return self.inputs

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

    def compute(self, args: list[np.ndarray], tokens: np.ndarray,
                shared: dict | None = None) -> np.ndarray:
        """This node's value from the values of `needs`; `shared` holds selection blocks
        reusable within one evaluation."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.title}>"


class SOp(Node):
    """A sequence operator: maps an input sequence to a sequence of the same length."""


class Selector(Node):
    """Maps an input sequence to a selection matrix (rows = queries, columns = keys)."""

    @property
    def needs(self) -> tuple[Node, ...]:
        return leaves(self)

    def compute(self, args, tokens, shared=None):
        """The whole matrix (to show the selector, or apply it): all the rows at once."""
        rows = Rows(self, {leaf.id: value for leaf, value in zip(self.needs, args)}, shared)
        block = rows.block(0, tokens.shape[-1])
        return np.broadcast_to(block, tokens.shape[:-1] + block.shape[-2:]).copy()


class Tokens(SOp):
    """`tokens_str`, `tokens_int`, ...: the input, each value converted by `convert`."""

    def __init__(self, label: str, convert: Callable[[Any], Any] | None):
        super().__init__(label)
        self.convert = convert

    def compute(self, args, tokens, shared=None):
        if self.convert is str and ops.seq_type(tokens) == "strings":
            return tokens  # already strings; arrays are never modified in place
        if self.convert is None:
            return ops.sequence(tokens)
        return ops.sequence(np.frompyfunc(self.convert, 1, 1)(tokens))


class Indices(SOp):
    def compute(self, args, tokens, shared=None):
        return np.arange(tokens.shape[-1], dtype=np.int64)


class Constant(SOp):
    """An atom used where an s-op is needed: the atom at every position."""

    def __init__(self, value: Any, span: Span | None = None, trace: Trace = ()):
        super().__init__(repr(value) if isinstance(value, str) else str(value), span, trace)
        self.value = value

    def compute(self, args, tokens, shared=None):
        return ops.constant(self.value, tokens.shape[-1])


class Map(SOp):
    """An elementwise operation ("feed-forward" work): `fn` of its inputs' arrays."""

    def __init__(self, fn: Callable[..., np.ndarray], inputs: tuple[SOp, ...], label: str,
                 span: Span | None = None, trace: Trace = ()):
        super().__init__(label, span, trace)
        self.fn = fn
        self.inputs = inputs
        self.depth = max((i.depth for i in inputs), default=0)

    def compute(self, args, tokens, shared=None):
        return self.fn(*args)


class Select(Selector):
    """`select(keys, queries, op)`: cell (q, k) is `keys[k] op queries[q]`."""

    def __init__(self, keys: SOp, queries: SOp, op: str, label: str,
                 span: Span | None = None, trace: Trace = ()):
        super().__init__(label, span, trace)
        self.keys, self.queries, self.op = keys, queries, op
        self.inputs = (keys, queries)
        self.depth = max(keys.depth, queries.depth) + 1


class Combine(Selector):
    """`a and b`, `a or b`, `not a` on selectors: one selector (one attention head)."""

    def __init__(self, op: str, parts: tuple[Selector, ...], label: str,
                 span: Span | None = None, trace: Trace = ()):
        super().__init__(label, span, trace)
        self.op = op
        self.inputs = parts
        self.depth = max(p.depth for p in parts)


SHARED_MATRIX_BYTES = 1 << 20  # selections this small keep their blocks within an evaluation


class Rows:
    """The selection matrix of a selector, made a block of queries at a time from the values
    of the s-ops it compares, so that no n x n matrix need exist at once."""

    def __init__(self, selector: Selector, values: dict[int, np.ndarray],
                 shared: dict | None = None):
        self.selector = selector
        # blocks of small matrices, and keys and queries made comparable, kept for the other
        # selectors of the same evaluation that are built from the same parts
        self.shared = shared if shared is not None else {}
        self.pairs = {s.id: self._comparable(values[s.keys.id], values[s.queries.id])
                      for s in _selects(selector)}

    def _comparable(self, keys: np.ndarray, queries: np.ndarray) -> tuple:
        key = ("comparable", id(keys), id(queries))
        if key not in self.shared:
            self.shared[key] = (ops.comparable(keys, queries), keys, queries)  # keep ids alive
        return self.shared[key][0]

    @property
    def uniform(self) -> bool:
        """Whether every query selects the same keys: all queries compared are constants,
        as in `full_s`, `select(indices, 0, ==)` or `select(tokens, "a", ==)`."""
        return all(isinstance(s.queries, Constant) for s in _selects(self.selector))

    def block(self, start: int, stop: int) -> np.ndarray:
        return self._block(self.selector, start, stop)

    def _block(self, sel: Selector, start: int, stop: int) -> np.ndarray:
        key = (sel.id, start, stop)
        if key in self.shared:
            return self.shared[key]
        if isinstance(sel, Select):
            keys, queries = self.pairs[sel.id]
            block = ops.compare_rows(keys, queries[..., start:stop], sel.op)
        else:
            first = self._block(sel.inputs[0], start, stop)
            if sel.op == "not":
                block = ~first
            else:
                second = self._block(sel.inputs[1], start, stop)
                block = first & second if sel.op == "and" else first | second
        if block.size // max(1, stop - start) * block.shape[-1] <= SHARED_MATRIX_BYTES:
            self.shared[key] = block  # the matrix is small: keep its blocks for reuse
        return block


def _selects(selector: Selector) -> list[Select]:
    if isinstance(selector, Select):
        return [selector]
    return [s for part in selector.inputs for s in _selects(part)]  # type: ignore[arg-type]


def leaves(selector: Selector) -> tuple[SOp, ...]:
    """The s-ops a selector compares: what must be computed before its rows can be."""
    found = {n.id: n for s in _selects(selector) for n in (s.keys, s.queries)}
    return tuple(found.values())


class Aggregate(SOp):
    """`aggregate(selector, values, default)`: attention."""

    def __init__(self, selector: Selector, values: SOp, default: Any, label: str,
                 span: Span | None = None, trace: Trace = ()):
        super().__init__(label, span, trace)
        self.selector, self.values, self.default = selector, values, default
        self.inputs = (selector, values)
        self.depth = max(values.depth + 1, selector.depth)

    @property
    def needs(self) -> tuple[Node, ...]:
        return (self.values, *leaves(self.selector))

    def compute(self, args, tokens, shared=None):
        values, *compared = args
        rows = Rows(self.selector, {leaf.id: v for leaf, v in zip(self.needs[1:], compared)},
                    shared)
        return ops.aggregate(rows.block, tokens.shape, values, self.default, rows.uniform)


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


def input_array(inputs: list[list], batch: bool = False) -> np.ndarray:
    """Inputs of one length as one object array: (n,) for one input, (B, n) for a batch."""
    out = np.empty((len(inputs), len(inputs[0])), dtype=object)
    out[:] = inputs
    return out if batch else out[0]


def _schedule(node: Node, cache: dict[int, np.ndarray]) -> list[Node]:
    """The nodes to compute for `node`, what each needs first, skipping what is cached."""
    order: list[Node] = []
    placed: set[int] = set(cache)
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        top, ready = stack.pop()
        if top.id in placed:
            continue
        if ready:
            placed.add(top.id)
            order.append(top)
        else:
            stack.append((top, True))
            stack.extend((i, False) for i in top.needs if i.id not in placed)
    return order


def evaluate(node: Node, tokens: np.ndarray, cache: dict[int, np.ndarray] | None = None,
             memory_limit: int | None = None) -> np.ndarray:
    """The value of `node` on `tokens` (an input, or a batch of inputs of one length),
    computing each node of the graph once and storing the values in `cache`.

    Aggregates go through their selection matrices a block of rows at a time. A selector's
    whole matrix (n * n bytes an input) is made only when it is asked for itself, and the
    bytes of those made must stay within `memory_limit`."""
    cache = {} if cache is None else cache
    matrix_bytes = tokens.size * tokens.shape[-1]
    made = 0
    shared: dict = {}
    for n in _schedule(node, cache):
        if isinstance(n, Selector) and memory_limit is not None:
            made += matrix_bytes
            _check_memory(made, matrix_bytes, memory_limit, tokens.shape)
        cache[n.id] = _compute(n, [cache[i.id] for i in n.needs], tokens, shared)
    return cache[node.id]


def _check_memory(needed: int, one: int, limit: int, shape: tuple) -> None:
    if needed > limit:
        size = (f"{shape[0]} inputs of length {shape[-1]}" if len(shape) > 1
                else f"an input of length {shape[-1]}")
        raise RaspLimitError(f"{size} needs {_megabytes(one)} per selection matrix and "
                             f"{_megabytes(needed)} here, over the memory limit of "
                             f"{_megabytes(limit)} (set RASP_MEMORY_LIMIT to change it)")


def _megabytes(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def _compute(node: Node, args: list[np.ndarray], tokens: np.ndarray,
             shared: dict) -> np.ndarray:
    try:
        return node.compute(args, tokens, shared)
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
