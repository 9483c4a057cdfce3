"""Attention heads: one per analysis head, exactly hard.

A selector is split into the conjuncts of its top-level `and`s. Each conjunct reads one block
on each side: its query s-op's one-hot (or the joint values of several query s-ops, computed by
an earlier feed-forward block), and likewise its keys. Its predicate table P[query value, key
value] is computed by the interpreter's comparison kernel. The query of value q is
SCALE * P[q, :] over the key classes (distinct columns of P), the key is the one-hot of its
class; the conjuncts' scores add up, so a key all G of them select scores G * SCALE and any
other at most (G - 1) * SCALE. The hidden BOS position scores (G - 1/2) * SCALE for every real
query: it wins exactly when nothing is selected, and its value is each served aggregate's
default. SCALE / 2 = 1024 > 745, so exp(-SCALE / 2) underflows to exactly 0 in float64: every
unselected weight is 0 and every selected one is 1 / width, at any length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .. import attention, ops
from ..errors import RaspError
from .blocks import BOS, ONE, Encoding, Feature, Layout
from .graph import Aggregate, Combine, Constant, Head, Select, Selector, SOp
from .valuesets import Facts, is_number, refusal, representative, selector_nodes

SCALE = 2.0 ** 11


@dataclass
class Side:
    """How a head reads one side (queries or keys): the values it can see, and for each the
    residual dimension that is 1 when it is there."""

    nodes: list[SOp]  # the non-constant s-ops of this side, in the order of `values`' tuples
    values: list[tuple]  # each a tuple of values, one per node
    dims: list[int]


class Reading(NamedTuple):
    """A head reading a feature: the conjunct it compares it in, and on which side."""

    conjunct: Selector
    side: int  # 0: the keys, 1: the queries (the order of selector_nodes)


@dataclass
class HeadWeights:
    query: np.ndarray
    key: np.ndarray
    value: np.ndarray
    output: np.ndarray


def side_feature(nodes: list[SOp], facts: Facts) -> Feature | None:
    """The joint feature a head needs for one side, or None when it reads a block directly
    (a single categorical s-op, or constants only)."""
    live = [n for n in nodes if not isinstance(n, Constant)]
    if not live:
        return None
    if len(live) == 1 and not (isinstance(live[0], Aggregate) and facts.numeric(live[0])):
        return None
    return Feature.together(live)


def read_side(nodes: list[SOp], layout: Layout, facts: Facts) -> Side:
    live = [n for n in nodes if not isinstance(n, Constant)]
    if not live:
        return Side([], [()], [ONE])
    feature = side_feature(nodes, facts)
    block = layout.of[feature] if feature is not None else layout.node(live[0])
    values = [v if feature is not None else (v,) for v in block.values]
    return Side(live, values, [block.start + i for i in range(len(values))])


def predicate(selector: Selector, queries: Side, keys: Side) -> np.ndarray:
    """P[q, k]: whether key value k is selected by query value q (False where the
    interpreter would raise: such inputs are not the model's to answer)."""
    if isinstance(selector, Combine):
        parts = [predicate(p, queries, keys) for p in selector.inputs]  # type: ignore[arg-type]
        if selector.op == "not":
            return ~parts[0]
        return parts[0] & parts[1] if selector.op == "and" else parts[0] | parts[1]
    assert isinstance(selector, Select)
    k = _column(selector.keys, keys)
    q = _column(selector.queries, queries)
    try:
        keys_c, queries_c = _comparable(k, q)
        return np.asarray(attention.compare_rows(keys_c, queries_c, selector.op), dtype=bool)
    except (RaspError, TypeError, ValueError, ArithmeticError):  # the kernels' own errors
        return np.array([[_compare(kv, qv, selector.op) for kv in k.tolist()]
                         for qv in q.tolist()], dtype=bool)


def _column(node: SOp, side: Side) -> np.ndarray:
    if isinstance(node, Constant):
        values = [node.value] * len(side.values)
    else:
        j = [n.id for n in side.nodes].index(node.id)
        values = [representative(v[j]) for v in side.values]
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _comparable(keys: np.ndarray, queries: np.ndarray) -> tuple:
    return attention.comparable(ops.sequence(keys), ops.sequence(queries))


def _compare(k: Any, q: Any, op: str) -> bool:
    try:
        return bool(ops.PYTHON_OPS[op](k, q))
    except (TypeError, ValueError, ArithmeticError):
        return False


def head_classes(nodes: list[SOp], values: list, joint: bool,
                 readings: list[Reading], facts: Facts) -> list[int]:
    """For a feature only heads read (`readings`: the conjunct and the side, 0 keys or 1
    queries), the class of each of its values: values on which every reading conjunct
    selects the same keys (or is selected by the same queries) against anything the other
    side can hold. A block of classes is all those heads need. The values of a `joint`
    feature are tuples, one item per node."""
    signatures: list[list[bytes]] = [[] for _ in values]
    ids = [n.id for n in nodes]
    own = Side(list(nodes), [v if joint else (v,) for v in values], [])
    for part, which in readings:
        key_nodes, query_nodes = selector_nodes(part)
        other = [n for n in (query_nodes if which == 0 else key_nodes)
                 if not isinstance(n, Constant)]
        if [n.id for n in other] == ids:
            opposite = own  # the feature compared with itself
        elif not other:
            opposite = Side([], [()], [])
        elif len(other) == 1 and not (isinstance(other[0], Aggregate)
                                      and facts.numeric(other[0])):
            opposite = Side(other, [(v,) for v in facts.domain(other[0])], [])
        else:
            return list(range(len(values)))  # joint values on the other side: keep them all
        queries, keys = (opposite, own) if which == 0 else (own, opposite)
        table = predicate(part, queries, keys)
        mine = table.T if which == 0 else table
        theirs = table if opposite is own and which == 0 else table.T
        for i in range(len(values)):
            signatures[i].append(mine[i].tobytes())
            if opposite is own:
                signatures[i].append(theirs[i].tobytes())
    found: dict[tuple, int] = {}
    return [found.setdefault(tuple(sig), len(found)) for sig in signatures]


def conjuncts(selector: Selector) -> list[Selector]:
    """The parts of a selector's top-level `and`s. A key is selected when every part selects
    it, so the head adds the parts' scores: no joint values are needed across parts."""
    if isinstance(selector, Combine) and selector.op == "and":
        return [c for part in selector.inputs for c in conjuncts(part)]  # type: ignore
    return [selector]


def build_head(head: Head, layout: Layout, facts: Facts, bos: np.ndarray) -> HeadWeights:
    """The weights of one head; `bos` is the residual at the BOS position before it.

    Each conjunct contributes SCALE * P[q, k] to the logit, so a key selected by all G of
    them scores G * SCALE and any other at most (G - 1) * SCALE; BOS scores (G - 1/2) * SCALE.
    """
    parts = conjuncts(head.selector)
    width = layout.width
    q_blocks, k_blocks = [], []
    for part in parts:
        key_nodes, query_nodes = selector_nodes(part)
        keys = read_side(key_nodes, layout, facts)
        queries = read_side(query_nodes, layout, facts)
        table = predicate(part, queries, keys)
        columns, key_class = np.unique(table.T, axis=0, return_inverse=True)
        wq = np.zeros((width, len(columns)))
        wk = np.zeros((width, len(columns)))
        for q, dim in enumerate(queries.dims):  # value q scores on the key classes it selects
            wq[dim] += SCALE * columns[:, q]
        for k, dim in enumerate(keys.dims):
            wk[dim, int(np.ravel(key_class)[k])] += 1.0
        q_blocks.append(wq)
        k_blocks.append(wk)
    bos_column = np.zeros((width, 1))
    bos_column[ONE, 0] = SCALE * (len(parts) - 0.5)
    wq = np.concatenate(q_blocks + [bos_column], axis=1)
    wk = np.concatenate(k_blocks + [np.zeros((width, 1))], axis=1)
    values, outputs = zip(*(_aggregate_weights(a, layout, facts) for a in head.aggregates))
    wv = np.concatenate(values, axis=1)
    wo = np.concatenate(outputs, axis=0)
    # At BOS, whatever the residual holds there, the query attends to the BOS key alone and
    # the value is the defaults: the BOS rows make the BOS position's vectors exactly so.
    bos_query = np.zeros(wq.shape[1])
    bos_query[-1] = SCALE * len(parts)
    bos_key = np.zeros(wk.shape[1])
    bos_key[-1] = 1.0
    defaults = wv[BOS].copy()
    for matrix, target in ((wq, bos_query), (wk, bos_key), (wv, defaults)):
        matrix[BOS] = 0.0
        matrix[BOS] = target - bos @ matrix
        # the BOS row cancels what BOS holds: exact unless that dwarfs the target
        if not np.allclose(bos @ matrix, target, rtol=1e-9, atol=1e-9):
            raise refusal(head.aggregates[0], f"the head of '{head.aggregates[0].title}' "
                          f"cannot give its defaults exactly: the BOS position holds numbers "
                          f"as large as {np.abs(bos).max():g}, past float64's precision "
                          f"beside them")
    return HeadWeights(wq, wk, wv, wo)


def _aggregate_weights(agg: Aggregate, layout: Layout,
                       facts: Facts) -> tuple[np.ndarray, np.ndarray]:
    """Value and output matrices for one aggregate; row BOS of the value holds the value the
    BOS position gives (the default)."""
    width = layout.width
    out = layout.node(agg)
    if out.encoding is Encoding.NUMERICAL:
        wv = np.zeros((width, 1))
        _number_source(agg.values, layout, wv)
        wv[BOS, 0] = float(agg.default)  # a number: Facts.numeric refuses any other
        wo = np.zeros((1, width))
        wo[0, out.start] = 1.0
        return wv, wo
    wv = np.zeros((width, out.size))
    if isinstance(agg.values, Constant):
        dim = out.dim(agg.values.value)
        if dim is not None:
            wv[ONE, dim - out.start] = 1.0
    else:
        source = layout.node(agg.values)
        for i, v in enumerate(source.values):
            dim = out.dim(v)
            if dim is not None:
                wv[source.start + i, dim - out.start] = 1.0
    default = out.dim(agg.default)
    if default is not None:
        wv[BOS, default - out.start] = 1.0
    wo = np.zeros((out.size, width))
    wo[np.arange(out.size), out.start + np.arange(out.size)] = 1.0
    return wv, wo


def _number_source(values: SOp, layout: Layout, wv: np.ndarray) -> None:
    if isinstance(values, Constant):
        wv[ONE, 0] = float(values.value)
        return
    source = layout.node(values)
    if source.encoding is Encoding.NUMERICAL:
        wv[source.start, 0] = 1.0
        return
    for i, v in enumerate(source.values):
        v = representative(v)  # a class of equal numbers (3 and 3.0) averages as its value
        if is_number(v) or isinstance(v, bool):
            wv[source.start + i, 0] = float(v)
