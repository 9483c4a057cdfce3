"""One attention head alone (heads.build_head), on a layout written here by hand: on every
input its attention is where the interpreter's selector says (uniform over the selected keys,
BOS alone when none is), and it writes the mean of what it reads, or the default."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rasp.compiler.blocks import BOS, ONE, Encoding, Feature, Layout
from rasp.compiler.graph import Head, evaluate, input_array
from rasp.compiler.heads import SCALE, build_head
from rasp.compiler.valuesets import Facts, Limits

VOCAB = list("abc")
MAX_LEN = 4
SELECTORS = ["select(tokens, tokens, ==)",
             "select(tokens, tokens, <)",  # the smallest token selects nothing
             "select(indices, 0, ==)",  # a constant query
             "select(tokens, tokens, <) and select(indices, indices, >)",  # two conjuncts
             "select(tokens, tokens, ==) or select(indices, indices, ==)"]


def tiny_layout(node, agg, numerical: bool) -> Layout:
    layout = Layout()
    layout.add(Feature.of(node("tokens")), "tokens", Encoding.CATEGORICAL, VOCAB)
    layout.add(Feature.of(node("indices")), "indices", Encoding.CATEGORICAL,
               list(range(MAX_LEN)))
    # what a selector comparing both on one side reads (the plan's joint feature)
    layout.add(Feature.together([node("tokens"), node("indices")]), "(tokens, indices)",
               Encoding.CATEGORICAL, list(itertools.product(VOCAB, range(MAX_LEN))))
    if numerical:
        layout.add(Feature.of(agg), "agg", Encoding.NUMERICAL)
    else:  # the tokens it copies, and its default
        layout.add(Feature.of(agg), "agg", Encoding.CATEGORICAL, [*VOCAB, agg.default])
    return layout


def residual(layout: Layout, node, tokens: tuple) -> np.ndarray:
    """The residual the head reads: BOS, then each position's flag, token and index, and
    the two together."""
    x = np.zeros((len(tokens) + 1, layout.width))
    x[0, BOS] = 1.0
    joint = layout.of[Feature.together([node("tokens"), node("indices")])]
    for p, t in enumerate(tokens, 1):
        x[p, ONE] = 1.0
        x[p, layout.node(node("tokens")).dim(t)] = 1.0
        x[p, layout.node(node("indices")).dim(p - 1)] = 1.0
        x[p, joint.dim((t, p - 1))] = 1.0
    return x


def expected_attention(selector, tokens: tuple) -> np.ndarray:
    """From the interpreter's selection matrix: each query's selected keys alike, BOS alone
    where there are none; BOS attends to itself."""
    selected = np.asarray(evaluate(selector, input_array([list(tokens)]), {}), dtype=float)
    selected = selected.reshape(len(tokens), len(tokens))
    out = np.zeros((len(tokens) + 1,) * 2)
    out[0, 0] = 1.0
    for q, row in enumerate(selected, 1):
        if row.any():
            out[q, 1:] = row / row.sum()
        else:
            out[q, 0] = 1.0
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("numerical", [False, True], ids=["copies tokens", "averages indices"])
@pytest.mark.parametrize("selector", SELECTORS)
def test_a_head_attends_where_its_selector_says_and_writes_the_mean(node, selector, numerical):
    values = "indices" if numerical else "tokens"
    agg = node(f"aggregate({selector}, {values})")
    layout = tiny_layout(node, agg, numerical)
    bos = residual(layout, node, ())[0]
    weights = build_head(Head(agg.selector, [agg]), layout, Facts(VOCAB, MAX_LEN, Limits()), bos)
    out = layout.node(agg)
    for n in range(1, MAX_LEN + 1):
        for tokens in itertools.product(VOCAB, repeat=n):
            x = residual(layout, node, tokens)
            attention = softmax((x @ weights.query) @ (x @ weights.key).T)
            wanted = expected_attention(agg.selector, tokens)
            np.testing.assert_allclose(attention, wanted, rtol=0, atol=1e-12)
            written = attention @ (x @ weights.value) @ weights.output
            block = written[1:, out.start:out.stop]
            np.testing.assert_allclose(block, expected_writes(layout, node, agg, x, wanted)[1:],
                                       rtol=0, atol=1e-12)
            assert not np.delete(written, np.arange(out.start, out.stop), axis=1).any(), \
                "a head writes its aggregate's block alone"


def expected_writes(layout: Layout, node, agg, x: np.ndarray, attention: np.ndarray):
    """Each position's aggregate: the mean of what the selected keys hold, else the
    default (in the aggregate's block: one number, or a one-hot over tokens and default)."""
    out = layout.node(agg)
    if out.encoding is Encoding.NUMERICAL:
        held = (np.arange(len(x)) - 1.0)[:, None]  # each position's index
        default = np.array([float(agg.default)])
    else:
        tokens = layout.node(node("tokens"))
        held = np.zeros((len(x), out.size))
        held[:, :tokens.size] = x[:, tokens.start:tokens.stop]
        default = np.eye(out.size)[out.dim(agg.default) - out.start]
    return np.array([default if row[0] == 1.0 else row[1:] @ held[1:] for row in attention])


def test_the_scale_makes_unselected_weights_exactly_zero():
    assert np.exp(-SCALE / 2) == 0.0  # a key scored SCALE / 2 below the best: weight 0
