"""The evaluation engine: the value of a graph node on an input, or on a batch of inputs.

`evaluate(node, tokens)` runs the node's `Plan`: its graph ordered bottom-up (without
recursion) and each node's kernel chosen, once for every input, so that an input pays for
the kernels only. Each node is computed from the values of what it needs, and each array is
cached by node id (see ops.py and attention.py for the array forms). Aggregates read their
selection a block of rows at a time (`Rows`), so that no n x n matrix need exist at once; a
selector's whole matrix is made only when it is asked for itself, within the memory limit.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Container

import numpy as np

from . import attention, ops, planner, typed
from .errors import RaspError, RaspLimitError, RaspValueError, python_message
from .graph import (
    Aggregate,
    Constant,
    Indices,
    Map,
    Node,
    Select,
    Selector,
    Tokens,
    leaves,
    selects_of,
)

__all__ = ["ValueCache", "Plan", "Rows", "Selection", "evaluate", "input_array", "needs",
           "causal_mask"]

# Aggregates are evaluated by the pattern of their selector where the planner knows it
# (planner.py), else by blocks of rows: on inputs of at least `plan_from` selection cells
# (n x n), an argument of `evaluate`. Below PLANNER_CELLS blocks are faster: the planner's
# fixed cost is some 50 numpy calls an aggregate. Measured: the planner wins from n = 512 on
# (sort, Dyck-2, histogram), the blocks up to n = 128, and on batches of 16,384 inputs of
# length 32 the two are even or the blocks ahead. The tests pass 0 (the planner at every
# size) and None (never). RASP_PLANNER=0 makes None the default: the benchmarks compare the two.
PLANNER_CELLS = 1 << 16
PLAN_FROM: int | None = None if os.environ.get("RASP_PLANNER", "1") == "0" else PLANNER_CELLS

SHARED_MATRIX_BYTES = 1 << 20  # selections this small keep their blocks within an evaluation

# what a kernel raises on a user's mistake: RaspError, or Python's own (then placed as a
# RaspValueError with Python's message)
_KERNEL_ERRORS = (RaspError, TypeError, ValueError, ZeroDivisionError, OverflowError, KeyError,
                  IndexError, ArithmeticError)


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


def input_array(inputs: list[list], batch: bool = False) -> np.ndarray:
    """Inputs of one length as one object array: (n,) for one input, (B, n) for a batch;
    strings with their codes (typed.py)."""
    out = np.empty((len(inputs), len(inputs[0])), dtype=object)
    out[:] = inputs
    out = out if batch else out[0]
    coded = typed.encode(out)
    return out if coded is None else coded


class Selection:
    """What a selector compares, found once for every input: its plain selects (with the
    ids of their keys and queries), the s-ops they compare, and whether all its queries are
    constants."""

    def __init__(self, selector: Selector):
        selects = selects_of(selector)
        self.selector = selector
        self.pairs = [(s.id, s.keys.id, s.queries.id) for s in selects]
        self.compared = leaves(selector)
        self.constant_queries = all(isinstance(s.queries, Constant) for s in selects)


class Rows:
    """The selection matrix of a selector, made a block of queries at a time from the values
    of the s-ops it compares (by node id)."""

    def __init__(self, selection: Selection, values: dict[int, np.ndarray],
                 shared: dict | None = None, causal: bool = False):
        self.selector = selection.selector
        self.causal = causal  # each query sees only the keys at or before it (k <= q)
        # Whether every query selects the same keys: all queries compared are constants, as
        # in `full_s`, `select(indices, 0, ==)` or `select(tokens, "a", ==)`.
        self.uniform = not causal and selection.constant_queries
        # blocks of small matrices, and keys and queries made comparable, kept for the other
        # selectors of the same evaluation that are built from the same parts
        self.shared = shared if shared is not None else {}
        self.pairs = {select: self._comparable(values[keys], values[queries])
                      for select, keys, queries in selection.pairs}

    def _comparable(self, keys: np.ndarray, queries: np.ndarray) -> tuple:
        key = ("comparable", id(keys), id(queries))
        if key not in self.shared:
            # the arrays are kept too, so that their ids stay theirs
            self.shared[key] = (attention.comparable(keys, queries), keys, queries)
        return self.shared[key][0]

    def block(self, start: int, stop: int) -> np.ndarray:
        block = self._block(self.selector, start, stop)
        return block & causal_mask(start, stop, block.shape[-1]) if self.causal else block

    def _block(self, sel: Selector, start: int, stop: int) -> np.ndarray:
        key = (sel.id, start, stop)
        if key in self.shared:
            return self.shared[key]
        if isinstance(sel, Select):
            keys, queries = self.pairs[sel.id]
            block = attention.compare_rows(keys, queries[..., start:stop], sel.op)
        else:
            first = self._block(sel.inputs[0], start, stop)  # type: ignore[arg-type]
            if sel.op == "not":  # type: ignore[attr-defined]
                block = ~first
            else:
                second = self._block(sel.inputs[1], start, stop)  # type: ignore[arg-type]
                block = first & second if sel.op == "and" else first | second  # type: ignore
        if block.size // max(1, stop - start) * block.shape[-1] <= SHARED_MATRIX_BYTES:
            self.shared[key] = block  # the matrix is small: keep its blocks for reuse
        return block


def causal_mask(start: int, stop: int, n: int) -> np.ndarray:
    """Rows start..stop of the causal mask of an input of length n: query q sees key k
    exactly when k <= q."""
    return np.arange(n)[np.newaxis, :] <= np.arange(start, stop)[:, np.newaxis]


def needs(node: Node) -> tuple[Node, ...]:
    """What must be computed before `node`: its inputs, except that selectors are never
    materialised for an aggregate, which needs only what they compare."""
    if isinstance(node, Aggregate):
        return (node.values, *leaves(node.selector))
    if isinstance(node, Selector):
        return leaves(node)
    return node.inputs


# A kernel: a node's value from the values it needs, the input (for its shape), the
# evaluation's shared parts, `plan_from` and `causal` (as `evaluate` has them)
Kernel = Callable[[list, np.ndarray, dict, "int | None", bool], np.ndarray]


class Step:
    """One node of a plan: the ids of the values it needs, in order, and its kernel."""

    __slots__ = ("node", "needs", "kernel")

    def __init__(self, node: Node):
        self.node = node
        self.needs = tuple(i.id for i in needs(node))
        self.kernel = _kernel(node)


class Plan:
    """A graph made ready to evaluate, once for every input: its steps in an order where
    each comes after what it needs, each with its node's kernel chosen. Nodes never change,
    so a plan is kept (by the id of the node evaluated) for the next input."""

    def __init__(self, node: Node):
        self.steps = [Step(n) for n in _order(node)]

    def schedule(self, cache: Container[int]) -> list[Step]:
        """The steps to run, skipping what `cache` holds and what only that needs."""
        if not cache:
            return self.steps
        wanted, kept = {self.steps[-1].node.id}, []
        for step in reversed(self.steps):
            if step.node.id in wanted and step.node.id not in cache:
                kept.append(step)
                wanted.update(step.needs)
        return kept[::-1]


KEPT_PLANS = 1 << 8  # plans kept (then all are forgotten, and made again)
_plans: dict[int, Plan] = {}


def plan(node: Node) -> Plan:
    """The plan of `node`'s graph, made on its first evaluation."""
    found = _plans.get(node.id)
    if found is None:
        found = Plan(node)
        if len(_plans) >= KEPT_PLANS:
            _plans.clear()
        _plans[node.id] = found
    return found


def _order(node: Node) -> list[Node]:
    """The nodes to compute for `node`, each after what it needs, `node` last."""
    order: list[Node] = []
    placed: set[int] = set()
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
            stack.extend((i, False) for i in needs(top) if i.id not in placed)
    return order


def _kernel(node: Node) -> Kernel:
    """The function computing `node`'s value, chosen by the node's kind once for all
    inputs."""
    if isinstance(node, Map):
        operation = node.operation
        return lambda args, tokens, shared, plan_from, causal: operation(*args)
    if isinstance(node, Aggregate):
        return functools.partial(_aggregate, node, Selection(node.selector))
    if isinstance(node, Selector):
        return functools.partial(_selection, Selection(node))
    if isinstance(node, Tokens):
        return functools.partial(_tokens, node)
    if isinstance(node, Indices):
        return lambda args, tokens, shared, plan_from, causal: _fixed(
            ("indices",), tokens.shape[-1], lambda n: np.arange(n, dtype=np.int64))
    if isinstance(node, Constant):
        key, value = ("constant", ops.atom_key(node.value)), node.value
        return lambda args, tokens, shared, plan_from, causal: _fixed(
            key, tokens.shape[-1], lambda n: ops.constant(value, n))
    raise AssertionError(f"cannot evaluate {node!r}")


def _aggregate(node: Aggregate, selection: Selection, args: list[np.ndarray],
               tokens: np.ndarray, shared: dict, plan_from: int | None,
               causal: bool) -> np.ndarray:
    values, *leaf_values = args
    by_id = dict(zip((leaf.id for leaf in selection.compared), leaf_values))
    # the planner knows bidirectional patterns only: causal aggregates go by blocks
    if plan_from is not None and not causal and tokens.shape[-1] ** 2 >= plan_from:
        planned = planner.aggregate(node, values, by_id, tokens.shape, shared)
        if planned is not None:
            return planned
    rows = Rows(selection, by_id, shared, causal)
    return attention.aggregate(rows.block, tokens.shape, values, node.default, rows.uniform)


def _selection(selection: Selection, args: list[np.ndarray], tokens: np.ndarray,
               shared: dict, plan_from: int | None, causal: bool) -> np.ndarray:
    """The whole matrix (to show the selector): all rows at once."""
    rows = Rows(selection, dict(zip((leaf.id for leaf in selection.compared), args)), shared,
                causal)
    block = rows.block(0, tokens.shape[-1])
    return np.broadcast_to(block, tokens.shape[:-1] + block.shape[-2:]).copy()


def _tokens(node: Tokens, args: list[np.ndarray], tokens: np.ndarray, shared: dict,
            plan_from: int | None, causal: bool) -> np.ndarray:
    if node.convert is str and ops.seq_type(tokens) == "strings":
        return tokens  # already strings; arrays are never modified in place
    if node.convert is None:
        return ops.sequence(tokens)
    try:
        return ops.sequence(np.frompyfunc(node.convert, 1, 1)(tokens))
    except (TypeError, ValueError, OverflowError):
        raise RaspValueError(_not_convertible(node, tokens)) from None


# Indices and constants depend on the input's length only: up to KEPT_LENGTH they are made
# once for each length and kept, read-only (arrays are never modified in place anyway).
KEPT_LENGTH, KEPT_FIXED = 1 << 10, 1 << 12
_kept_fixed: dict[tuple, np.ndarray] = {}


def _fixed(key: tuple, n: int, make: Callable[[int], np.ndarray]) -> np.ndarray:
    """`make(n)`, the value `key` names at length n: kept after the first time."""
    if n > KEPT_LENGTH:
        return make(n)
    where = (*key, n)
    found = _kept_fixed.get(where)
    if found is None:
        found = make(n)
        found.flags.writeable = False
        if len(_kept_fixed) >= KEPT_FIXED:
            _kept_fixed.clear()
        _kept_fixed[where] = found
    return found


def evaluate(node: Node, tokens: np.ndarray, cache: dict[int, np.ndarray] | None = None,
             memory_limit: int | None = None, plan_from: int | None = PLAN_FROM,
             causal: bool = False) -> np.ndarray:
    """The value of `node` on `tokens` (an input, or a batch of inputs of one length),
    computing each node of the graph once and storing the values in `cache`. The bytes of
    whole selection matrices made (n * n an input) must stay within `memory_limit`.
    Aggregates on inputs of `plan_from` selection cells or more are planned (None: never).
    `causal`: every selection is restricted to keys at or before the query (k <= q), so
    that the values at positions 0..i depend on tokens 0..i only; `cache` must then hold
    causal values only."""
    cache = {} if cache is None else cache
    matrix_bytes = tokens.size * tokens.shape[-1]
    made = 0
    shared: dict = {}
    for step in plan(node).schedule(cache):
        if memory_limit is not None and isinstance(step.node, Selector):
            made += matrix_bytes
            _check_memory(made, matrix_bytes, memory_limit, tokens.shape)
        try:
            cache[step.node.id] = step.kernel([cache[i] for i in step.needs], tokens, shared,
                                              plan_from, causal)
        except _KERNEL_ERRORS as e:
            raise _placed(e, step.node) from None
    return cache[node.id]


def _check_memory(needed: int, one: int, limit: int, shape: tuple) -> None:
    if needed > limit:
        size = (f"{shape[0]} inputs of length {shape[-1]}" if len(shape) > 1
                else f"an input of length {shape[-1]}")
        raise RaspLimitError(f"{size} needs {_megabytes(one)} per selection matrix and "
                             f"{_megabytes(needed)} here, over the memory limit of "
                             f"{_megabytes(limit)} (set RASP_MEMORY_LIMIT to change it)")


def _not_convertible(node: Tokens, tokens: np.ndarray) -> str:
    """Why an input cannot be read by tokens_int or tokens_float: its first bad token."""
    wanted = "integers" if node.convert is int else "numbers"
    for token in tokens.ravel().tolist():
        try:
            node.convert(token)  # type: ignore[misc]
        except (TypeError, ValueError, OverflowError):
            shown = f'"{token}"' if isinstance(token, str) else repr(token)
            return f"the input is not made of {wanted}: {node.title} cannot read {shown}"
    return f"the input is not made of {wanted}"


def _megabytes(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def _placed(e: Exception, node: Node) -> RaspError:
    """An error of `node`'s kernel, placed at the node's source and calls."""
    error = e if isinstance(e, RaspError) else RaspValueError(python_message(e))
    if error.span is None:
        error.at(node.span)
        for message, span in reversed(node.trace):
            error.noted(message, span)
        error.rehomed()
    if error.node is None:
        error.node = node
    return error
