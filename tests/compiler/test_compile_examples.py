"""Every program of the example library that the compiler accepts, compiled at max_len 16 and
checked against the interpreter on every length (exhaustively where the inputs are few);
the refused ones are refused for the reason docs/compiling.md gives. The `slow` tests take the
benchmark programs to max_len 100."""

from __future__ import annotations

import functools
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from rasp import Interpreter
from rasp.compiler import Model
from rasp.compiler.verify import inputs_of_length, same, verify
from rasp.errors import RaspError

ROOT = Path(__file__).resolve().parents[2]
FIGURE = re.compile(r"^#\s+(?P<expr>.+?): \d+ layers?, (?:heads|no heads)", re.M)
MAX_LEN = 16

# The vocabulary each program is compiled for: letters by default.
VOCABS = {"dyck": "()", "balance": "(){}", "affine": "(){}", "addition": "019+",
          "long_addition": "019+", "counting": "abl"}
SPECIAL = {"dyck2": "(){}", "dyck3": "(){}[]", 'dyck_k(["()", "[]", "{}", "<>"])': "()[]<",
           "argmin(tokens)": "abc", "count_next": "0123", "copy_next": "ab:",
           "sort_next": "abc:", "add_next": "01+="}
INT_VOCAB = [-2, 0, 1, 3]
FLOAT_VOCAB = [0.5, 1.0, 2.25]
# The programs the compiler refuses, and a piece of the reason.
REFUSED = {"cumulative_sum_float(tokens_float)": "means cannot be enumerated exactly",
           "add_next": "is a table over 'indices' (16 values), '_equals' (1,217 values), "
                       "'_plus + 1' (1,217 values)"}

def programs() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "examples").glob("*.rasp")):
        found += [(path.stem, m["expr"]) for m in FIGURE.finditer(path.read_text())]
    return found


def vocab_for(stem: str, expr: str) -> list:
    if "tokens_float" in expr:
        return FLOAT_VOCAB
    if "tokens_int" in expr:
        return INT_VOCAB
    return list(SPECIAL.get(expr, VOCABS.get(stem, "abc")))


@functools.cache
def session(stem: str) -> Interpreter:
    it = Interpreter(warn=lambda text: None)
    it.run(f'load "{stem}";')
    return it


def read(path: Path) -> tuple[dict, dict]:
    """The .npz file's config and arrays, by numpy alone."""
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data["config"])), {k: data[k] for k in data.files}


def independent_forward(config: dict, data: dict, tokens: list) -> list:
    """The forward pass written from the format's description alone (docs/compiling.md)."""
    row = {json.dumps(t): i + 1 for i, t in enumerate(config["vocab"])}  # by type and value
    rows = [0] + [row[json.dumps(t)] for t in tokens]
    x = data["embed.token"][rows] + data["embed.position"][: len(rows)]
    for number, layer in enumerate(config["layers"]):
        if layer["heads"]:
            total = 0
            for h in range(layer["heads"]):
                p = f"layer{number}.head{h}"
                logits = (x @ data[p + ".query"]) @ (x @ data[p + ".key"]).T
                weights = np.exp(logits - logits.max(axis=1, keepdims=True))
                weights /= weights.sum(axis=1, keepdims=True)
                total = total + weights @ (x @ data[p + ".value"]) @ data[p + ".output"]
            x = x + total
        h = x
        for j in range(layer["mlp"]):
            h = h @ data[f"layer{number}.mlp.{j}.weight"] + data[f"layer{number}.mlp.{j}.bias"]
            if j < layer["mlp"] - 1:
                h = np.maximum(h, 0)
        if layer["mlp"]:
            x = x + h
    y = x[1:] @ data["unembed"]
    if config["output"]["kind"] == "numerical":
        return list(y[:, 0])
    return [config["output"]["values"][i] for i in y.argmax(axis=1)]


def check(stem: str, expr: str, max_len: int, tmp_path: Path, sample: int | None,
          reuse: bool = False) -> None:
    it = session(stem)
    vocab = vocab_for(stem, expr)
    if expr in REFUSED:
        with pytest.raises(RaspError, match=re.escape(REFUSED[expr])):
            it.compile(expr, vocab, max_len, reuse=reuse)
        return
    c = it.compile(expr, vocab, max_len, reuse=reuse)
    if reuse and not c.saving.pays:
        return  # the plain model, checked without reuse
    model = c.model
    analysis = it.analyze(expr)
    assert len(model.config["layers"]) - 1 == analysis.depth
    assert model.heads_per_layer == analysis.heads_per_layer
    result = verify(model, c.target, sample=sample, exhaustive=256)
    assert result.checked > 0
    assert result.ok, result.report()
    # the saved file, run by a forward pass written from the format alone, at the limits
    path = tmp_path / "model.npz"
    model.save(path)
    config, data = read(path)
    numerical = model.config["output"]["kind"] == "numerical"
    rng = random.Random(0)
    for n in (1, max_len):
        for tokens in inputs_of_length(vocab, n, 5, 0, rng)[:10]:  # repeated, alternating...
            try:
                want = it.evaluate(expr, tokens)
            except RaspError:
                continue
            got = independent_forward(config, data, tokens)
            assert all(same(a, b, numerical) for a, b in zip(got, want)), (tokens, got, want)


@pytest.mark.parametrize("reuse", [False, True], ids=["plain", "reuse"])
@pytest.mark.parametrize("stem, expr", programs())
def test_example_compiles_exactly(stem, expr, reuse, tmp_path):
    check(stem, expr, MAX_LEN, tmp_path, sample=8, reuse=reuse)


@pytest.mark.slow
@pytest.mark.parametrize("stem, expr", [("reverse", "reverse"), ("histogram", "histogram"),
                                        ("sort", "sorted_tokens"), ("dyck", "dyck1"),
                                        ("dyck", "dyck2")])
def test_benchmark_programs_at_100(stem, expr, tmp_path):
    check(stem, expr, 100, tmp_path, sample=4)


def test_loaded_model_runs_as_compiled(tmp_path):
    model = session("reverse").compile("reverse", list("abc"), 12).model
    model.save(tmp_path / "m.npz")
    loaded = Model.load(tmp_path / "m.npz")
    assert loaded.config == model.config
    assert loaded.forward("abcab") == ["b", "a", "c", "b", "a"]
    assert loaded.parameters == model.parameters
