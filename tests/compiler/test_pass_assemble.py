"""The assemble pass alone (assemble.assemble), from a plan and a layout: the names and shapes
of the arrays, the embeddings' rows, the unembedding and the configuration; and the names
helper it stores them by (names.py), spelled as docs/compiling.md spells the format."""

from __future__ import annotations

import numpy as np
import pytest

from rasp.compiler import names
from rasp.compiler.assemble import assemble
from rasp.compiler.blocks import BOS, ONE
from rasp.compiler.graph import analyze
from rasp.compiler.layout import Residual, lay_out
from rasp.compiler.plan import Plan, plan_features
from rasp.compiler.valuesets import Facts, Limits

VOCAB = list("abc")
MAX_LEN = 4


@pytest.fixture
def passes(node) -> tuple[Plan, Residual]:
    """The plan and the layout of `same`: one head, one feed-forward block."""
    target = node("same", "same = aggregate(select(indices, 0, ==), tokens) == tokens;")
    plan = plan_features(analyze(target), Facts(VOCAB, MAX_LEN, Limits()))
    return plan, lay_out(plan)


def test_arrays_are_named_as_the_format_says(passes):
    model = assemble(*passes, "same")
    assert sorted(model.arrays) == sorted([
        "embed.token", "embed.position",
        "layer1.head0.query", "layer1.head0.key", "layer1.head0.value", "layer1.head0.output",
        "layer1.mlp.0.weight", "layer1.mlp.0.bias", "layer1.mlp.1.weight", "layer1.mlp.1.bias",
        "unembed"])
    assert model.config["layers"] == [
        {"heads": 0, "mlp": 0, "selectors": [], "maps": []},
        {"heads": 1, "mlp": 2, "selectors": ["select(indices, 0, ==)"], "maps": ["same"]}]


def test_shapes_follow_the_layout(passes):
    plan, residual = passes
    model = assemble(plan, residual, "same")
    d = residual.layout.width
    a = model.arrays
    assert model.config["d_model"] == d
    assert a["embed.token"].shape == (len(VOCAB) + 1, d)
    assert a["embed.position"].shape == (MAX_LEN + 1, d)
    k, v = a["layer1.head0.query"].shape[1], a["layer1.head0.value"].shape[1]
    assert (a["layer1.head0.key"].shape, a["layer1.head0.output"].shape) == ((d, k), (v, d))
    hidden = a["layer1.mlp.0.weight"].shape[1]
    assert a["layer1.mlp.0.weight"].shape == (d, hidden)
    assert (a["layer1.mlp.0.bias"].shape, a["layer1.mlp.1.weight"].shape) == \
        ((hidden,), (hidden, d))
    assert a["unembed"].shape == (d, 2)  # True, False: as the table meets them
    assert model.config["output"] == {"kind": "categorical", "values": [True, False]}
    # each block with the stage whose residual first holds it; none is erased
    assert [{k: v for k, v in b.items() if k != "from"} for b in model.config["layout"]] == \
        residual.layout.describe()
    assert {b["name"]: b["from"] for b in model.config["layout"]} == {
        "bos": "embed", "one": "embed", "tokens": "embed", "indices": "embed",
        "aggregate(select(indices, 0, ==), tokens)": "layer1.attn", "same": "layer1.mlp"}
    assert model.config["program"] == "same"


def test_embeddings_write_the_flags_and_the_tables(passes, node):
    plan, residual = passes
    a = assemble(plan, residual, "same").arrays
    tokens = residual.layout.node(node("tokens"))
    token_rows = a["embed.token"]
    assert np.flatnonzero(token_rows[0]).tolist() == [BOS]
    for row, t in enumerate(VOCAB, 1):
        assert np.flatnonzero(token_rows[row]).tolist() == [ONE, tokens.dim(t)]
    indices = residual.layout.node(node("indices"))  # two classes: 0 and the others
    assert [np.flatnonzero(r).tolist() for r in a["embed.position"][1:]] == \
        [[indices.dim(0)]] + [[indices.dim(1)]] * (MAX_LEN - 1)


def test_the_unembedding_reads_the_targets_block(passes):
    plan, residual = passes
    a = assemble(plan, residual, "same").arrays
    out = residual.layout.node(plan.analysis.target)
    assert np.array_equal(a["unembed"][out.start:out.stop], np.eye(out.size))
    assert not np.delete(a["unembed"], np.arange(out.start, out.stop), axis=0).any()


def test_the_names_helper_spells_the_format():
    assert names.head(2, 1) == ("layer2.head1.query", "layer2.head1.key",
                                "layer2.head1.value", "layer2.head1.output")
    assert names.mlp(0, 3) == ("layer0.mlp.3.weight", "layer0.mlp.3.bias")
    assert names.expected([{"heads": 0, "mlp": 1}, {"heads": 1, "mlp": 0}]) == [
        "embed.token", "embed.position", "layer0.mlp.0.weight", "layer0.mlp.0.bias",
        "layer1.head0.query", "layer1.head0.key", "layer1.head0.value", "layer1.head0.output",
        "unembed"]
