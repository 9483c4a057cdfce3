"""The sparse forward pass (rasp/compiler/sparse.py) against the reference one, batches of
mixed lengths against inputs run alone, and the strict mapping of tokens to rows."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rasp import Interpreter
from rasp.compiler import Model, reference_forward, sparse
from rasp.compiler.verify import inputs_of_length, same
from rasp.errors import RaspError

# programs that stress each part of the pass: one-hot copies, numerical means read by maps
# (step units), joint keys, string defaults, numerical and categorical outputs
PROGRAMS = [
    ('load "reverse";', "reverse", list("abc"), 9),
    ('load "sort";', "sorted_tokens", list("abc"), 7),
    ('load "histogram";', "histogram", list("abc"), 7),
    ('load "dyck";', "dyck2", list("(){}"), 6),
    ('load "shift";', 'shift(tokens, 1, "_")', list("ab"), 6),
    ("", "aggregate(select(indices, indices, <=), tokens_int)", [1, 2, 7], 6),
    ('load "sort";', "sort_stable(tokens_int, tokens_int)", [1, 2, 3, 10], 5),
    ('share = aggregate(select(indices, indices, <=), tokens == "a");', "share > 0.5",
     list("ab"), 8),
]


CUMULATIVE = 'load "cumulative";'
ROOT = Path(__file__).resolve().parents[2]


def compiled(source: str, expr: str, vocab: list, max_len: int, causal: bool = False) -> Model:
    it = Interpreter(warn=lambda text: None, causal=causal)
    if source:
        it.run(source, "p.rasp")
    return it.compile(expr, vocab, max_len).model


def batches(model: Model, seed: int = 0) -> list[np.ndarray]:
    """Token rows for inputs of every length: the structured ones and a few random."""
    rng = random.Random(seed)
    return [np.array([model.token_ids(t) for t in inputs_of_length(model.vocab, n, 4, 0, rng)])
            for n in range(1, model.max_len + 1)]


def assert_same_sums(got: np.ndarray, want: np.ndarray) -> None:
    """The same sums, a rounding apart at most (terms added in another order)."""
    assert got.shape == want.shape
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12), np.abs(got - want).max()


def assert_same_values(model: Model, got: list[list], want: list[list]) -> None:
    """Decoded values equal as the verification compares them: categorical ones exactly,
    numbers within its 1e-6 relative (a number a rounding apart decodes a rounding apart)."""
    numerical = model.config["output"]["kind"] == "numerical"
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert len(a) == len(b) and all(same(x, y, numerical) for x, y in zip(a, b)), (a, b)


@pytest.mark.parametrize("source, expr, vocab, max_len", PROGRAMS)
def test_the_sparse_pass_equals_the_reference(source, expr, vocab, max_len):
    model = compiled(source, expr, vocab, max_len)
    weights = sparse.Weights.of(model.arrays, model.config)
    for ids in batches(model):
        want = reference_forward(model.arrays, model.config, ids)
        got = sparse.forward(weights, ids)
        assert_same_sums(got, want)
        assert_same_values(model, [model.decode(y) for y in got],
                           [model.decode(y) for y in want])


def test_the_sparse_pass_of_a_causal_model_applies_its_mask():
    model = compiled(CUMULATIVE, "cumulative_sum(tokens_int)", [0, 1, 3], 6, causal=True)
    weights = sparse.Weights.of(model.arrays, model.config)
    for ids in batches(model):
        assert_same_sums(sparse.forward(weights, ids),
                         reference_forward(model.arrays, model.config, ids))


def test_the_sparse_pass_in_float32_stays_float32():
    model = compiled('load "sort";', "sorted_tokens", list("abc"), 5)
    ids = np.array([model.token_ids("cabca")])
    y = sparse.forward(sparse.Weights.of(model.weights("float32"), model.config), ids)
    assert y.dtype == np.float32
    assert model.decode(y[0]) == list("aabcc")


def random_model(seed: int) -> Model:
    """A model of the format with random weights, most of them zero, that no compiler made:
    nothing it holds is one-hot, so every fallback of the sparse pass runs."""
    rng = np.random.default_rng(seed)
    d, vocab, max_len = 14, ["x", "y", "z"], 6

    def weights(*shape: int, zeros: float = 0.7) -> np.ndarray:
        w = rng.normal(size=shape)
        return np.where(rng.random(shape) < zeros, 0.0, w)

    layers = [{"heads": 0, "mlp": 2}, {"heads": 2, "mlp": 2}, {"heads": 1, "mlp": 3}]
    arrays = {"embed.token": weights(len(vocab) + 1, d),
              "embed.position": weights(max_len + 1, d), "unembed": weights(d, 4, zeros=0.3)}
    for number, layer in enumerate(layers):
        for h in range(layer["heads"]):
            p = f"layer{number}.head{h}"
            arrays |= {p + ".query": weights(d, 5), p + ".key": weights(d, 5),
                       p + ".value": weights(d, 3), p + ".output": weights(3, d)}
        width = d
        for j in range(layer["mlp"]):
            out = d if j == layer["mlp"] - 1 else 40
            arrays[f"layer{number}.mlp.{j}.weight"] = weights(width, out, zeros=0.9)
            arrays[f"layer{number}.mlp.{j}.bias"] = rng.normal(size=out) - 0.5
            width = out
    config = {"format": "rasp-transformer/1", "program": "random", "vocab": vocab,
              "max_len": max_len, "d_model": d, "layers": layers,
              "output": {"kind": "categorical", "values": list("abcd")}}
    return Model(arrays, config)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("causal", [False, True])
def test_the_sparse_pass_equals_the_reference_on_weights_no_compiler_made(seed, causal):
    model = random_model(seed)
    config = {**model.config, "causal": causal}
    weights = sparse.Weights.of(model.arrays, config)
    for ids in batches(model, seed):
        want = reference_forward(model.arrays, config, ids)
        assert_same_sums(sparse.forward(weights, ids), want)


def test_rows_an_ulp_apart_are_not_merged():
    third = 1 / 3
    x = np.array([[third, 1.0], [np.nextafter(third, 1), 1.0], [third, 1.0], [0.0, -0.0]])
    first, where = sparse._groups(x)
    assert list(where) == [where[0], where[1], where[0], where[3]]
    assert len({where[0], where[1], where[3]}) == 3
    assert np.array_equal(x[first][where], x)
    grouped, by = sparse._groups(np.zeros((4, 2)), np.array([0, 1, 0, 1]))
    assert by[0] == by[2] != by[1] == by[3]


@pytest.mark.parametrize("compact", [True, False])
def test_a_batch_of_mixed_lengths_equals_each_input_alone(compact):
    for source, expr, vocab, max_len in PROGRAMS[:2] + PROGRAMS[5:6]:
        model = compiled(source, expr, vocab, max_len)
        rng = random.Random(1)
        batch = [[rng.choice(vocab) for _ in range(rng.randint(1, max_len))]
                 for _ in range(40)]
        together = model.forward_batch(batch, compact)
        assert_same_values(model, together,
                           [model.forward_batch([t], compact)[0] for t in batch])
        assert_same_values(model, together, [model.forward(t) for t in batch])
        alone = [reference_forward(model.arrays, model.config,
                                   np.array([model.token_ids(t)]))[0] for t in batch]
        for y, want in zip(model.outputs(batch, compact), alone):
            assert_same_sums(y, want)


def test_padding_is_hidden_in_a_causal_model_too():
    model = compiled(CUMULATIVE, "cumulative_sum(tokens_int)", [0, 1, 3], 6, causal=True)
    batch = [[3], [1, 0, 3, 3, 1, 1], [0, 3], [1, 1, 1]]
    assert model.forward_batch(batch) == [model.forward(t) for t in batch]


def test_a_reference_batch_with_lengths_hides_each_inputs_padding():
    model = compiled('load "reverse";', "reverse", list("ab"), 5)
    ids = np.array([model.token_ids("abb") + [2, 2], model.token_ids("babab")])
    y = reference_forward(model.arrays, model.config, ids, np.array([3, 5]))
    assert model.decode(y[0][:3]) == list("bba")
    assert model.decode(y[1]) == list("babab")


def test_tokens_map_to_rows_by_type_and_value():
    """1, 1.0 and True are three vocabulary items, each its own row, which the token
    conversion then reads as the interpreter does (`tokens`: '1', '1.0', 'True'); an input
    item matches only an item of its type and value: one of another type is refused."""
    it = Interpreter(warn=lambda text: None)
    model = it.compile("tokens", [1, 1.0, True], 3).model
    assert model.token_ids([True, 1.0, 1]) == [3, 2, 1]
    assert model.forward([True, 1.0, 1]) == ["True", "1.0", "1"]
    assert it.evaluate("tokens", [True, 1.0, 1]) == ["True", "1.0", "1"]
    ints = it.compile("tokens_int + 1", [1, 2], 3).model
    zeros = it.compile("tokens_float", [0.0, 1.5], 3).model
    assert zeros.token_ids([0.0, 1.5]) == [1, 2]
    with pytest.raises(RaspError, match="token -0.0 at position 0 is not"):
        zeros.forward([-0.0])  # a zero of the other sign: another atom to the interpreter
    for wrong in (1.0, True, "1"):
        with pytest.raises(RaspError, match=f"token {wrong!r} at position 1 is not in the "
                                            r"model's vocabulary \[1, 2\]"):
            ints.forward([2, wrong])


@pytest.mark.parametrize("batch", [1, 40])
def test_logits_by_table_or_by_position_are_the_same_sums(batch):
    """Keys of one nonzero each: a logit is one query entry times it, whichever way it is
    gathered (a table of distinct queries and keys for many positions, else position by
    position)."""
    rng = np.random.default_rng(batch)
    queries = rng.normal(size=(5, 4))
    keys = np.zeros((6, 4))
    keys[np.arange(6), rng.integers(0, 4, 6)] = rng.normal(size=6)
    q, k = rng.integers(0, 5, (batch, 3)), rng.integers(0, 6, (batch, 3))
    want = np.einsum("bic,bjc->bij", queries[q], keys[k])
    assert np.array_equal(sparse._logits(queries, keys, q, k), want)


def test_an_unhashable_token_is_refused_clearly():
    model = compiled("", "tokens", list("ab"), 3)
    with pytest.raises(RaspError, match=r"token \['a'\] at position 1 is not in the model's"):
        model.forward(["a", ["a"]])
    assert model.token_ids(["b", "a"]) == [2, 1]


THREADS = """
import glob, random, sys, time
from rasp import Interpreter

def ticks():  # CPU time of each of this process's threads so far (Linux)
    found = {}
    for path in glob.glob("/proc/self/task/*/stat"):
        fields = open(path).read().rsplit(")", 1)[1].split()
        found[path.split("/")[4]] = int(fields[11]) + int(fields[12])
    return found

it = Interpreter(warn=lambda text: None)
it.run('load "sort";')
model = it.compile("sorted_tokens", list("abc"), 32).model
rng = random.Random(0)
inputs = [[rng.choice("abc") for _ in range(rng.randint(1, 32))] for _ in range(200)]
for compact in (True, False):  # the sparse pass first: no BLAS thread has worked yet
    time.sleep(1)  # BLAS threads spin a while after their last call: let them go idle
    before = ticks()
    model.forward_batch(inputs, compact)
    after = ticks()
    print(sum(after[t] > before.get(t, 0) for t in after))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
def test_the_sparse_pass_runs_on_one_thread_whatever_blas_is_given():
    """With two BLAS threads, the reference pass keeps both busy; the sparse pass calls no
    BLAS routine, so only the main thread runs (each thread's CPU time, from /proc)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2",
           "MKL_NUM_THREADS": "2", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", THREADS], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    sparse_pass, reference = map(int, done.stdout.split())
    if reference < 2:
        pytest.skip("this BLAS ran the reference pass on one thread: nothing to compare")
    assert sparse_pass == 1


def test_layout_names_are_unique_where_one_function_is_called_twice():
    """shuffle_dyck calls _prefix_state once per pair: its blocks share display texts, and
    the saved layout tells them apart (#2), so that a trace keeps every block."""
    model = compiled('load "balance";', 'shuffle_dyck(["()", "{}"])', list("(){}"), 4)
    names = [block["name"] for block in model.config["layout"]]
    assert len(set(names)) == len(names)
    assert "shuffle_dyck/_prefix_state/balance #2" in names
    assert len(model.trace("({})")) == len(names) - 2  # every block but the flags


def test_layout_names_are_whole():
    """A block's name is its s-op's name, else its whole text: never a display text cut with
    "...", which a trace's keys and the TransformerLens hooks would carry."""
    long = ('aggregate(select(indices, indices, <=), indicator(tokens == "a") + '
            'indicator(tokens == "b"))')
    model = compiled("", f"{long} > 0", list("abc"), 4)
    names = [block["name"] for block in model.config["layout"]]
    assert long in names and f"{long} > 0" in names
    assert not any("..." in name for name in names)
    assert model.trace("ca")[long] == [0, 0.5]
