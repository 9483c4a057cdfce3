"""Affine maps of numbers (linear.py): found in the expression, computed by a linear block
(exact values, nothing at BOS), held as one number, a numerical output; and programs that
need them (examples/affine.rasp: tracr's pair balance and shuffle-Dyck, sums of copies) compiled
and checked against the interpreter on every input of small lengths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rasp import Interpreter, dsl
from rasp.compiler.blocks import BOS, ONE, Encoding, Feature, Layout
from rasp.compiler.graph import analyze
from rasp.compiler.linear import affine_of
from rasp.compiler.mlps import Form, Linear, Product, build_feedforward
from rasp.compiler.plan import plan_features
from rasp.compiler.valuesets import Facts, Limits
from rasp.compiler.verify import verify

# tracr's programs as examples/affine.rasp writes them, and pieces to read forms from
PROGRAMS = """
load "affine";
opens = share_so_far(tokens, "(");
closes = share_so_far(tokens, ")");
pair_balance = opens - closes;
dyck1 = shuffle_dyck_tracr(["()"]);
dyck2 = shuffle_dyck_tracr(["()", "{}"]);
sum6 = sum_before(tokens_int, 6);
sum10 = sum_before(tokens_int, 10);
scaled = 2 * (opens - closes) / 4 + 1;
squared = opens * closes;
"""


@pytest.fixture(scope="module")
def it() -> Interpreter:
    session = Interpreter(warn=lambda text: None)
    session.run(PROGRAMS, "<linear test>")
    return session


def form(it: Interpreter, name: str) -> dict[str, float] | None:
    node = it.value(name)
    affine = affine_of(node, analyze(node).depth_of, analyze(node).depth_of[node.id])
    if affine is None:
        return None
    return {**{s.title: affine.terms[s.id] for s in affine.sources}, "1": affine.const}


def test_affine_maps_are_read_from_the_expression(it):
    assert form(it, "pair_balance") == {"opens": 1.0, "closes": -1.0, "1": 0.0}
    assert form(it, "scaled") == {"opens": 0.5, "closes": -0.5, "1": 1.0}
    assert form(it, "squared") is None  # a product of two s-ops: not affine
    assert form(it, "round(opens)") is None
    assert form(it, "opens / closes") is None


def test_an_affine_map_is_one_number_and_a_non_affine_one_a_table(it):
    def spec(name: str, vocab: list, max_len: int, target: str | None = None):
        plan = plan_features(analyze(it.value(target or name)),
                             Facts(vocab, max_len, Limits()))
        return plan.specs[Feature.of(it.value(name))]

    assert spec("pair_balance", list("()"), 6).linear is not None
    assert spec("sum6", [0, 1, 2], 8).linear is not None
    assert spec("squared", list("()"), 6).linear is None
    # compared by a head: held one-hot, by a table
    it.run("query = (opens - closes) * 6; by_balance = aggregate(select(indices, query, ==), "
           "tokens);", "<linear test>")
    assert spec("query", list("()"), 6, "by_balance").linear is None
    # a step that rounds at the size of a constant it later cancels: float64 could round the
    # interpreter's value by more than the bound, so a table (exact on each value) computes it
    it.run("cancelled = (opens + 1000000) - 1000000 - closes;", "<linear test>")
    assert form(it, "cancelled") == {"opens": 1.0, "closes": -1.0, "1": 0.0}
    assert spec("cancelled", list("()"), 6).linear is None
    compiled = it.compile("cancelled", list("()"), 6)
    assert verify(compiled.model, compiled.target).ok


def linear_block(sign: int = 0):
    """A layout with a number x and a one-hot block of numbers y in {-2, 0, 5}, and the block
    computing 0.5 + 3 x - y into a numerical block."""
    layout = Layout()
    x = layout.add(Feature((101,)), "x", Encoding.NUMERICAL)
    y = layout.add(Feature((102,)), "y", Encoding.CATEGORICAL, [-2, 0, 5])
    out = layout.add(Feature((103,)), "out", Encoding.NUMERICAL)
    weights = {x.start: 3.0, **{y.start + i: -float(v) for i, v in enumerate(y.values)}}
    linear = Linear(out_feature := Feature((103,)), "out", None, Form(weights, 0.5, 20.0),
                    sign)  # type: ignore[arg-type]
    bos = np.zeros(layout.width)
    bos[BOS] = 1.0
    bos[x.start] = 7.0  # whatever BOS holds, the block writes nothing there
    ffn = build_feedforward([], layout, bos, Limits(), 1, [linear])
    assert ffn is not None and out_feature in layout.of
    return layout, x, y, out, ffn, bos


def run(ffn, x: np.ndarray) -> np.ndarray:
    h = x
    for j, (w, b) in enumerate(zip(ffn.weights, ffn.biases)):
        h = (np.maximum(h, 0.0) if j else h) @ w + b
    return h


def test_a_linear_block_computes_its_number_exactly_and_nothing_at_bos():
    layout, x, y, out, ffn, bos = linear_block()
    assert ffn.hidden == [2]  # ReLU(s) - ReLU(-s), whatever the number of leaves
    for xv, yv in itertools.product([0.0, 0.25, 1 / 3, 2.0], y.values):
        r = np.zeros(layout.width)
        r[ONE], r[x.start], r[y.dim(yv)] = 1.0, xv, 1.0
        written = run(ffn, r)
        assert written[out.start] == 0.5 + 3 * xv - yv  # the same float, bit for bit
        assert np.count_nonzero(written) == 1  # its block alone
    assert not run(ffn, bos).any()


def test_a_known_sign_needs_one_unit():
    assert linear_block(sign=1)[4].hidden == [1]


@pytest.mark.parametrize("name, vocab, max_len", [
    ("pair_balance", list("()a"), 6),
    ("scaled", list("()"), 6),
    ("dyck1", list("()"), 6),
    ("dyck2", list("(){}"), 5),
    ("sum6", [0, 1, 2], 7),
])
def test_programs_with_affine_maps_compile_exactly(it, name, vocab, max_len):
    compiled = it.compile(name, vocab, max_len)
    result = verify(compiled.model, compiled.target, exhaustive=10_000)
    assert result.ok, result.report()
    assert result.checked == sum(len(vocab) ** n for n in range(1, max_len + 1))


def test_a_number_is_a_numerical_output_of_one_dimension(it):
    model = it.compile("pair_balance", list("()a"), 50).model
    assert model.config["output"]["kind"] == "numerical"
    assert model.hidden == [0, 2]  # a linear block, where a table took hundreds of units
    assert model.parameters < 56_020  # tracr's, at max_len 50
    assert model.forward("(()") == it.evaluate("pair_balance", "(()")
    # the summary and the config say what computes what, and why each encoding
    summary = model.summary().splitlines()
    assert "  layer 1: heads _so_far, feed-forward pair_balance" in summary
    assert "  numerical: opens, closes (an average of numbers); pair_balance (affine in " \
           "averages: a linear block)" in summary
    assert {b["name"]: b.get("why") for b in model.config["layout"]}["pair_balance"] == \
        "affine in averages: a linear block"


def test_sums_of_many_copies_compile_at_the_default_limits(it):
    model = it.compile("sum10", [0, 1, 2, 3], 12).model
    assert model.hidden == [0, 1]  # the sum is never negative: one unit
    tokens = [3, 1, 0, 2, 2, 3, 1, 0, 3, 3, 2, 1]
    assert model.forward(tokens) == it.evaluate("sum10", tokens)


def test_a_function_said_to_be_affine_is_checked(it):
    opens, closes = it.value("opens"), it.value("closes")
    honest = dsl.SequenceMap(lambda x, y: x - y, opens, closes).annotated(linear=(1, -1))
    wrong = dsl.SequenceMap(lambda x, y: x * y, opens, closes).annotated(linear=(1, -1))
    for node, linear in ((honest, True), (wrong, False)):
        plan = plan_features(analyze(node), Facts(list("()"), 5, Limits()))
        assert (plan.specs[Feature.of(node)].linear is not None) is linear
        compiled = it.compile(node, list("()"), 5)
        assert verify(compiled.model, compiled.target).ok


def test_a_linear_block_beside_a_two_layer_table_passes_its_number_through(node):
    """A layer whose table needs two hidden layers: the linear units' ReLU(s) and ReLU(-s)
    pass the second layer one by one, so their difference is still s."""
    layout = Layout()
    x, y = node("tokens"), node("indices")
    for sop in (x, y):
        layout.add(Feature.of(sop), sop.title, Encoding.NUMERICAL)
    halves = [0.0, 0.5, 1.0, 1.5]
    combos = list(itertools.product(halves, halves))
    target = node("tokens == indices")
    product = Product(Feature.of(target), "less", target, [x, y], combos,
                      [a < b for a, b in combos])
    product.collapse([None, None])
    out = layout.add(Feature.of(target), "less", Encoding.CATEGORICAL, product.values)
    number = layout.add(Feature((999,)), "difference", Encoding.NUMERICAL)
    xs, ys = layout.node(x).start, layout.node(y).start
    linear = Linear(Feature((999,)), "difference", target, Form({xs: 1.0, ys: -1.0}, 0.0, 3.0), 0)
    bos = np.eye(layout.width)[BOS]
    ffn = build_feedforward([product], layout, bos, Limits(), 1, [linear])
    assert ffn is not None and len(ffn.weights) == 3
    for a, b in combos:
        r = np.zeros(layout.width)
        r[ONE], r[xs], r[ys] = 1.0, a, b
        written = run(ffn, r)
        assert written[number.start] == a - b
        assert written[out.dim(a < b)] == 1.0 and written[out.start:out.stop].sum() == 1.0
    assert not run(ffn, bos).any()
