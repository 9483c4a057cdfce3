"""One feed-forward block alone (mlps.build_feedforward), on a layout written here by hand: it
computes its table on every combination of its leaves' values (one-hot or numerical, with one
hidden layer or two), writes the result's block alone, and nothing at BOS."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from rasp.compiler.blocks import BOS, ONE, Encoding, Feature, Layout
from rasp.compiler.mlps import FeedForward, Product, build_feedforward
from rasp.compiler.valuesets import Limits
from rasp.errors import RaspError

TOKENS = list("abc")
SMALL = [0, 1, 2]
HALVES = [0.0, 0.5, 1.0, 1.5]
# name: the leaves (a categorical leaf by its values, a numerical one as None: its values
# are then HALVES) and the table
TABLES: dict[str, tuple[list, Callable]] = {
    "one-hot leaves": ([TOKENS, SMALL], lambda t, i: t == "a" or i == 2),
    "one number": ([TOKENS, None], lambda t, x: x >= 1 if t == "a" else x == 0.5),
    "two numbers": ([None, None], lambda x, y: "<" if x < y else "=" if x == y else ">"),
}


def block_for(node, leaves: list, table: Callable) -> tuple[Layout, Product, FeedForward]:
    """A layout holding the leaves (as tokens, indices: any s-ops will do) and the result,
    the product of the table over every combination, and the block computing it."""
    nodes = [node("tokens"), node("indices")][: len(leaves)]
    layout = Layout()
    for sop, values in zip(nodes, leaves):
        encoding = Encoding.NUMERICAL if values is None else Encoding.CATEGORICAL
        layout.add(Feature.of(sop), sop.title, encoding, values)
    combos = list(itertools.product(*(HALVES if v is None else v for v in leaves)))
    target = node("tokens == indices")
    product = Product(Feature.of(target), "result", target, nodes, combos,
                      [table(*c) for c in combos])
    product.collapse([None if v is None else layout.node(n) for n, v in zip(nodes, leaves)])
    layout.add(product.feature, "result", Encoding.CATEGORICAL, product.values)
    bos = np.zeros(layout.width)
    bos[BOS] = 1.0
    ffn = build_feedforward([product], layout, bos, Limits(), 1)
    assert ffn is not None
    return layout, product, ffn


def run(ffn: FeedForward, x: np.ndarray) -> np.ndarray:
    h = x
    for j, (w, b) in enumerate(zip(ffn.weights, ffn.biases)):
        h = (np.maximum(h, 0.0) if j else h) @ w + b
    return h


@pytest.mark.parametrize("name", TABLES)
def test_a_block_computes_its_table_on_every_combination(node, name):
    leaves, table = TABLES[name]
    layout, product, ffn = block_for(node, leaves, table)
    assert len(ffn.weights) == (3 if name == "two numbers" else 2)  # hidden layers + 1
    out = layout.of[product.feature]
    for combo in product.combos:
        x = np.zeros(layout.width)
        x[ONE] = 1.0
        for sop, value in zip(product.leaves, combo):
            block = layout.node(sop)
            if block.encoding is Encoding.NUMERICAL:
                x[block.start] = value
            else:
                x[block.dim(value)] = 1.0
        y = run(ffn, x)
        wanted = np.zeros(layout.width)
        wanted[out.dim(table(*combo))] = 1.0
        np.testing.assert_allclose(y, wanted, rtol=0, atol=1e-9, err_msg=str(combo))


@pytest.mark.parametrize("name", TABLES)
def test_a_block_writes_nothing_at_bos(node, name):
    layout, _, ffn = block_for(node, *TABLES[name])
    bos = np.zeros(layout.width)
    bos[BOS] = 1.0
    assert not run(ffn, bos).any()


def test_a_block_past_the_unit_limit_is_refused(node):
    layout, product, _ = block_for(node, *TABLES["one-hot leaves"])
    with pytest.raises(RaspError, match=r"layer 1 needs at least 9 hidden units \(limit "
                                        r"--max-units 8\), 9 of its units for 'result', a table "
                                        r"over 'tokens' \(3 values\), 'indices' \(3 values\)"):
        build_feedforward([product], layout, np.eye(layout.width)[BOS], Limits(max_units=8), 1)


def test_no_product_no_block():
    assert build_feedforward([], Layout(), np.zeros(2), Limits(), 0) is None
