"""Residual dimensions reused after an s-op's last use (`--reuse-residual`, reuse.py): which
feature each feed-forward block erases, the blocks that take the freed dimensions, erasure
exact at every position (BOS included) in float64 and float32, the choice by parameter
count, and every reader of the layout (traces, old files) true to the reused model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rasp import Interpreter
from rasp.compiler import Model, modelfile
from rasp.compiler.activations import run
from rasp.compiler.blocks import BOS, Encoding, Feature, Layout
from rasp.compiler.graph import analyze
from rasp.compiler.mlps import build_feedforward
from rasp.compiler.plan import plan_features
from rasp.compiler.reuse import erasures, parameters
from rasp.compiler.valuesets import Facts, Limits
from rasp.compiler.verify import verify

# `back` (the query of layer 1's head) is dead after layer 1: layer 2's head writes `prev2`
# in its dimensions; `indices - 1 #2` is a second node of the same text, read by layer 2
SOURCE = """
back = indices - 1;
prev_of = aggregate(select(indices, back, ==), tokens, "-");
prev2 = aggregate(select(indices, indices - 1, ==), prev_of, "-");
"""
VOCAB = list("abcd")
MAX_LEN = 5


@pytest.fixture(scope="module")
def it():
    interpreter = Interpreter()
    interpreter.run(SOURCE)
    return interpreter


def every_input(vocab: list, max_len: int) -> list[list]:
    return [list(t) for n in range(1, max_len + 1) for t in itertools.product(vocab, repeat=n)]


def test_each_feature_is_erased_by_the_block_of_its_last_reading_layer(it):
    target = it.value("prev2")
    plan = plan_features(analyze(target), Facts(VOCAB, MAX_LEN, Limits()))
    by_title = {plan.specs[f].title: at for f, at in erasures(plan).items()}
    # heads of layer 1 read tokens and back: erased by layer 1's block (sublayer 3); layer
    # 2's head reads indices (also read in layer 1) and prev_of: layer 2's (sublayer 5)
    assert by_title == {"tokens": 3, "back": 3, "indices": 5, "indices - 1": 5, "prev_of": 5}
    assert Feature.of(target) not in erasures(plan)  # the unembedding reads it


def test_a_block_dead_after_layer_1_gives_its_dimensions_to_one_written_in_layer_2(it):
    c = it.compile("prev2", VOCAB, MAX_LEN, reuse=True)
    blocks = {b["name"]: b for b in c.model.config["layout"]}
    back, prev2 = blocks["back"], blocks["prev2"]
    assert (prev2["first"], prev2["last"]) == (back["first"], back["last"])
    assert (back["from"], back["until"], prev2["from"]) == ("embed", "layer1.attn",
                                                            "layer2.attn")
    assert "until" not in prev2 and "until" not in blocks["indices"]
    assert c.model.config["layers"][1]["erases"] == ["back"]
    assert c.model.config["d_model"] == c.saving.d_model < c.saving.plain_d_model
    result = verify(c.model, c.target, exhaustive=2000)
    assert result.ok and result.checked == len(every_input(VOCAB, MAX_LEN))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_erased_dimensions_are_exactly_zero_at_every_position(it, dtype):
    model = it.compile("prev2", VOCAB, MAX_LEN, reuse=True).model
    back = next(b for b in model.config["layout"] if b["name"] == "back")
    dims = slice(back["first"], back["last"] + 1)
    for n in range(1, MAX_LEN + 1):
        inputs = [model.token_ids(t) for t in itertools.product(VOCAB, repeat=n)]
        seen = run(model.weights(dtype), model.config, np.array(inputs))
        assert seen.stages["layer1.attn"][:, 1:, dims].any()  # held until then
        assert not seen.stages["layer1.mlp"][:, :, dims].any()  # BOS (position 0) too


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_erasing_units_give_exact_zeros_for_any_number(dtype):
    """A numerical block (two units a dimension: its sign is unknown) and a one-hot block the
    embeddings write (one unit), erased from residuals holding awkward values, BOS too."""
    layout = Layout({Feature((1,)): 3, Feature((2,)): 3})
    number = layout.add(Feature((1,)), "x", Encoding.NUMERICAL, written=2)
    one_hot = layout.add(Feature((2,)), "t", Encoding.CATEGORICAL, ["a", "b"], written=0)
    number.erased = one_hot.erased = 3
    number.wiped, one_hot.wiped = [number.start], [one_hot.start, one_hot.start + 1]
    rng = np.random.default_rng(0)
    x = np.zeros((200, layout.width))
    x[:, number.start] = np.concatenate([rng.normal(0, 1e6, 100), [0.9999999, -1e-17, 1e30,
                                         -1e-30, 1 / 3] * 20])
    x[:, one_hot.start: one_hot.stop] = rng.integers(0, 2, (200, 2))
    bos = x[0].copy()
    bos[BOS] = 1.0
    x[0] = bos
    ffn = build_feedforward([], layout, bos, Limits(), 1, erased=[number, one_hot])
    assert ffn is not None and ffn.hidden == [2 + 2]
    w1, b1, w2, b2 = (a.astype(dtype) for a in (ffn.weights[0], ffn.biases[0],
                                                ffn.weights[1], ffn.biases[1]))
    x = x.astype(dtype)
    after = x + np.maximum(x @ w1 + b1, 0) @ w2 + b2
    assert not after[:, number.start: one_hot.stop].any()


def test_reuse_is_kept_only_where_it_makes_fewer_parameters(it):
    plain = it.compile("prev2", VOCAB, MAX_LEN).model
    c = it.compile("prev2", VOCAB, MAX_LEN, reuse=True)
    # the plain model's count and d_model, from the reused one's shapes alone
    assert (c.saving.plain_d_model, c.saving.plain_parameters) == \
        (plain.config["d_model"], plain.parameters)
    assert c.saving.pays and c.model.parameters == c.saving.parameters < plain.parameters
    # one layer: nothing is read after it, nothing erased, the model is the plain one
    single = it.compile("prev_of", VOCAB, MAX_LEN, reuse=True)
    assert not single.saving.pays
    assert single.saving.line() == ("  reuse would not shrink this model: d_model 21 and 798 "
                                    "parameters with it, 21 and 798 without")
    assert all("until" not in b for b in single.model.config["layout"])


def test_where_erasing_costs_more_than_it_saves_the_plain_model_is_kept():
    it = Interpreter()
    it.run('load "long_addition";')
    plain = it.compile("val1", list("019+"), 4).model
    c = it.compile("val1", list("019+"), 4, reuse=True)
    assert c.saving.d_model < c.saving.plain_d_model
    assert c.saving.parameters > c.saving.plain_parameters == plain.parameters
    assert c.model.config == plain.config
    assert all(np.array_equal(a, plain.arrays[n]) for n, a in c.model.arrays.items())


def test_the_count_from_shapes_is_the_models(it):
    for expr in ("prev_of", "prev2"):
        for reuse in (False, True):
            model = it.compile(expr, VOCAB, MAX_LEN, reuse=reuse).model
            assert parameters(model, model.config["d_model"], {}) == model.parameters


def test_a_reused_model_traces_each_s_op_where_it_is_live(it):
    c = it.compile("prev2", VOCAB, MAX_LEN, reuse=True)
    for tokens in (["a"], list("abcd"), list("dcbad")):
        trace = c.model.trace(tokens)
        for name in ("back", "prev_of", "prev2", "tokens", "indices"):
            assert trace[name] == it.evaluate(name, tokens), (name, tokens)


def test_a_model_saved_without_live_ranges_still_loads_and_traces(it, tmp_path):
    """Files written before the layout had `from` and `until`: each block is live from the
    first sublayer that writes it, read from the weights."""
    model = it.compile("prev2", VOCAB, MAX_LEN).model
    config = dict(model.config, layout=[{k: v for k, v in b.items() if k not in
                                         ("from", "until")} for b in model.config["layout"]])
    path = modelfile.save(model.arrays, config, tmp_path / "old.npz")
    old = Model.load(path)
    assert all("from" not in b for b in old.config["layout"])
    assert old.trace("abcd") == model.trace("abcd")
    assert old.forward("abcd") == it.evaluate("prev2", list("abcd"))
