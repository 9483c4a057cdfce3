"""The layout pass alone (layout.lay_out), on plans written here by hand: the blocks are
contiguous, in the order the model computes them, as wide as their encodings; the tables are
those of the embeddings and feed-forward blocks; features only heads read keep their classes."""

from __future__ import annotations

import pytest

from rasp.compiler.blocks import BOS, ONE, Encoding, Feature
from rasp.compiler.graph import analyze
from rasp.compiler.heads import Reading
from rasp.compiler.layout import lay_out
from rasp.compiler.plan import Plan, Spec, Stage
from rasp.compiler.valuesets import Facts, Limits
from rasp.errors import RaspError

DEFINITIONS = """
at_zero = (tokens == "a") or (indices == 0);
mean = aggregate(select(tokens, tokens, ==), indices);
first = aggregate(select(indices, 0, ==), tokens);
is_c = tokens == "c";
target = (at_zero and first == "b") or mean > 1 or is_c;
"""


@pytest.fixture
def sop(node):
    """The nodes of DEFINITIONS, by expression."""
    node("target", DEFINITIONS)
    return node


def plan_of(sop, features: list[tuple[str, Stage, int, list[str]]], readers=None,
            **limits) -> Plan:
    """A plan of the features (name, stage, depth, leaves) and readers (None: the target's);
    all are read by something other than a head unless `readers` says otherwise."""
    specs, read = {}, {}
    for name, stage, depth, leaves in features:
        feature = Feature.of(sop(name))
        specs[feature] = Spec(feature, [sop(name)], stage, depth, [sop(leaf) for leaf in leaves])
        read[feature] = (readers or {}).get(name, [None])
    facts = Facts(list("abc"), 4, Limits(**limits))
    return Plan(analyze(sop("target")), facts, specs, read)


FEATURES = [  # listed out of order: the pass orders them by depth, then stage
    ("mean", Stage.HEAD, 1, []),
    ("at_zero", Stage.FFN, 0, ["tokens", "indices"]),
    ("first", Stage.HEAD, 1, []),
    ("indices", Stage.POSITION, 0, ["indices"]),
    ("tokens", Stage.TOKEN, 0, ["tokens"]),
    ("is_c", Stage.TOKEN, 0, ["tokens"]),  # made after at_zero, computed before it
]


def test_blocks_are_contiguous_in_the_order_the_model_computes_them(sop):
    layout = lay_out(plan_of(sop, FEATURES)).layout
    described = [(b.name, b.encoding, b.start, b.size) for b in layout.blocks]
    assert described == [
        ("bos", Encoding.FLAG, BOS, 1), ("one", Encoding.FLAG, ONE, 1),
        ("tokens", Encoding.CATEGORICAL, 2, 3),
        ("is_c", Encoding.CATEGORICAL, 5, 2),  # False, True
        ("indices", Encoding.CATEGORICAL, 7, 4),
        ("at_zero", Encoding.CATEGORICAL, 11, 2),
        ("mean", Encoding.NUMERICAL, 13, 1),  # averages numbers: one dimension
        ("first", Encoding.CATEGORICAL, 14, 3),  # copies a token
    ]
    assert all(b.start == a.stop for a, b in zip(layout.blocks, layout.blocks[1:]))
    assert layout.width == 17


def test_tables_are_those_of_embeddings_and_feed_forward_blocks(sop):
    residual = lay_out(plan_of(sop, FEATURES))
    names = {name for name, *_ in FEATURES}
    tables = {name: residual.tables.get(Feature.of(sop(name))) for name in names}
    assert {name for name, table in tables.items() if table is not None} == \
        {"tokens", "is_c", "indices", "at_zero"}
    layout = residual.layout
    tokens, indices = layout.node(sop("tokens")), layout.node(sop("indices"))
    # the feed-forward table, as the model sees its leaves: one dimension of each
    seen = tables["at_zero"].table
    assert len(seen) == 3 * 4
    for t in "abc":
        for i in range(4):
            _, result = seen[(tokens.dim(t), indices.dim(i))]
            assert result is (t == "a" or i == 0)


def test_a_feature_only_heads_read_keeps_the_classes_they_tell_apart(sop):
    first = sop("first")
    reading = {"indices": [Reading(first.selector, 0)]}  # select(indices, 0, ==): 0 or not
    layout = lay_out(plan_of(sop, FEATURES, reading)).layout
    assert layout.node(sop("indices")).values == [0, 1]


def test_a_table_past_the_limit_is_refused(sop):
    with pytest.raises(RaspError, match=r"'indices' has 4 values \(limit --max-values 3\)"):
        lay_out(plan_of(sop, FEATURES, max_values=3))
