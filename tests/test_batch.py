"""Batches and long inputs: evaluate_batch agrees with one-by-one evaluation, errors name
their input, aggregates never build an n x n matrix, and the memory limit is a clear error."""

from __future__ import annotations

import io
import json
import random
import tracemalloc

import pytest

from rasp import Interpreter, RaspError
from rasp.cli import main
from rasp.errors import RaspLimitError
from rasp.interpreter import default_memory_limit

PROGRAMS = [
    "sort(tokens, tokens)",
    "selector_width(select(tokens, tokens, ==))",
    "aggregate(select(indices, indices, <=), indicator(tokens == \"a\"))",
    "tokens[-1] + tokens[0]",
    "dyck2_ptf",
    "hist2_bos",
    "\"b\" in tokens",
]


@pytest.fixture(scope="module")
def session():
    it = Interpreter()
    it.run('load "paper_examples";')
    return it


@pytest.mark.parametrize("expression", PROGRAMS)
def test_batch_equals_one_by_one(session, expression):
    rng = random.Random(expression)
    inputs = ["".join(rng.choice("ab(){}§") for _ in range(rng.choice([1, 3, 8, 9])))
              for _ in range(60)]
    assert session.evaluate_batch(expression, inputs) == [
        session.evaluate(expression, x) for x in inputs]


def test_batch_of_one_token_inputs_with_in(session):
    # `x in s-op` once built its constant from the batch size instead of the length
    assert session.evaluate_batch("0 in indices", ["a", "b"]) == [[True], [True]]
    assert session.evaluate_batch("3 in indices", ["a", "b", "c"]) == [[False]] * 3


def test_batch_of_selectors_and_lists(session):
    assert session.evaluate_batch("select(indices, indices, <)", ["ab", "c"]) == [
        [[False, False], [True, False]], [[False]]]
    it = Interpreter()
    it.run("set example [1]\ntokens = tokens_int; s = sort(tokens, tokens);")
    assert it.evaluate_batch("s", [[3, 1, 2], [5, 5, 4]]) == [[1, 2, 3], [4, 5, 5]]


def test_batch_error_names_the_input(session):
    with pytest.raises(RaspError) as info:
        session.evaluate_batch("aggregate(full_s, tokens)", ["a", "b", "cd", "e"])
    assert "cannot average strings" in info.value.message
    assert [m for m, _ in info.value.notes][-1] == "in input 3 of the batch"


def test_batch_progress_is_reported(session):
    seen = []
    session.evaluate_batch("length", ["ab", "cd", "efg"], progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (3, 3) and len(seen) == 2  # one call per length


def test_cli_inputs_text_and_jsonl(tmp_path):
    (tmp_path / "p.rasp").write_text("x = sort(tokens, tokens);\n")
    (tmp_path / "in.txt").write_text('banana\n[3, 1, 2]\n"a b"\n')
    out = io.StringIO()
    args = [str(tmp_path / "p.rasp"), "--name", "x", "--inputs", str(tmp_path / "in.txt")]
    assert main(args, stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue().splitlines() == [
        "[a, a, a, b, n, n] (strings)", "[1, 2, 3] (strings)", "[ , a, b] (strings)"]
    out = io.StringIO()
    assert main(args + ["--format", "jsonl"], stdout=out, stderr=io.StringIO()) == 0
    first = json.loads(out.getvalue().splitlines()[0])
    assert first == {"input": "banana", "output": list("aaabnn")}


def test_a_long_sort_runs_and_is_right():
    it = Interpreter()
    it.run("set example [1]\ntokens = tokens_int; s = sort(tokens, tokens);")
    xs = [random.Random(7).randrange(10**6) for _ in range(10)] * 1000
    assert it.evaluate("s", xs) == sorted(xs)


def test_aggregates_do_not_build_whole_matrices():
    it = Interpreter()
    it.run("set example [1]\ntokens = tokens_int; s = sort(tokens, tokens);")
    xs = list(range(4000, 0, -1))
    tracemalloc.start()
    it.evaluate("s", xs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < len(xs) ** 2 / 2  # a selection matrix alone would be n * n bytes


def test_memory_limit_is_a_clear_error():
    it = Interpreter(memory_limit=1 << 20)
    with pytest.raises(RaspLimitError) as info:
        it.evaluate("select(indices, indices, <)", "a" * 2000)
    assert info.value.message.startswith("an input of length 2000 needs 4 MB per selection")
    assert it.evaluate("sort(tokens, tokens)", "cab") == ["a", "b", "c"]  # still usable
    assert len(it.evaluate("sort(tokens, tokens)", "x" * 2000)) == 2000  # no matrix needed


@pytest.mark.parametrize("text, limit", [("", 4 << 30), ("512M", 512 << 20), ("2g", 2 << 30),
                                         ("1000", 1000), ("nonsense", 4 << 30)])
def test_memory_limit_from_the_environment(monkeypatch, text, limit):
    monkeypatch.setenv("RASP_MEMORY_LIMIT", text)
    assert default_memory_limit() == limit
