"""The numpy kernels on their own: aggregate's paths (one block or many, uniform rows,
counted or multiplied sums) must all give the reference semantics."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rasp import Interpreter, attention, ops, typed

PROGRAMS = [
    "aggregate(select(indices, indices, <=), indicator(tokens == \"1\"))",
    "aggregate(select(indices, indices, <), indices, -1)",
    "aggregate(select(tokens, tokens, ==), tokens_int * 1.5)",
    "aggregate(select(tokens, \"2\", ==), indices)",
    "aggregate(full_s, tokens_int)",
    "aggregate(select(indices, indices + 1, ==), tokens, \"-\")",
    "selector_width(select(tokens, tokens, <))",
    "sort(tokens, tokens)",
]


@pytest.mark.parametrize("expression", PROGRAMS)
def test_many_small_blocks_equal_one_block(monkeypatch, expression):
    rng = random.Random(expression)
    examples = ["".join(rng.choice("01234") for _ in range(rng.randrange(1, 40)))
                for _ in range(20)]
    it = Interpreter()
    whole = [it.evaluate(expression, x) for x in examples]
    monkeypatch.setattr(attention, "BLOCK_BYTES", 16)  # a few rows per block
    it = Interpreter()
    assert [it.evaluate(expression, x) for x in examples] == whole


def test_copies_keep_their_type_and_means_are_floats():
    selection = np.array([[True, False, False], [True, True, False], [False, False, False]])
    out = attention.aggregate(lambda a, b: selection[a:b], (3,), np.array([4, 7, 9]), 0)
    assert out.tolist() == [4, 5.5, 0] and [type(v) for v in out.tolist()] == [int, float, int]
    assert ops.seq_type(out) == "floats"


def test_uniform_rows_look_at_one_row():
    asked = []

    def rows(start, stop):
        asked.append((start, stop))
        return np.ones((stop - start, 4), dtype=bool)
    out = attention.aggregate(rows, (4,), np.array([1, 0, 0, 0]), 0, uniform=True)
    assert out.tolist() == [0.25] * 4 and asked == [(0, 1)]


@pytest.mark.parametrize("repeats", [1, attention.COUNTED])
def test_sums_of_few_valued_ints_are_counted_exactly(repeats):
    values = np.tile([0, 3, 0, -2, 3], repeats)
    selection = np.zeros((2, values.size), dtype=bool)
    selection[0, :5], selection[1, 1] = True, True
    summer = attention.Summer(values)
    assert summer.exact == (repeats > 1)  # counted from COUNTED values on, else multiplied
    assert summer(selection, attention.row_counts(selection)).tolist() == [4.0, 3.0]


def test_row_counts():
    block = np.random.default_rng(1).random((3, 70000)) < 0.5
    assert attention.row_counts(block).tolist() == np.count_nonzero(block, axis=1).tolist()


# keys and queries sorted by Python, and (more than typed.SMALL of them) by numpy
@pytest.mark.parametrize("repeats", [1, typed.SMALL // 10 + 1])
def test_comparable_strings_keep_python_order(repeats):
    keys = np.array(["b", "a", "é", "B", "a\x00"] * repeats, dtype=object)
    k, q = attention.comparable(keys, keys)
    expected = np.array([[x < y for y in keys] for x in keys])
    assert ((k[:, None] < q[None, :]) == expected).all()


def test_comparable_narrows_integers():
    k, q = attention.comparable(np.array([1, 300] * 64), np.array([2, 5] * 64))
    assert k.dtype == np.int16 and q.dtype == np.int16
    k, q = attention.comparable(np.array([1, 300]), np.array([2, 5]))  # too few to gain
    assert k.dtype == np.int64 and q.dtype == np.int64


MIXED = [[1, 2.5, True, -0.0, 2**62, 7], [0.5, 3, 2, 1.0, 1, False], [-4, -1.5, 0.0, 2**53, 3, 2.0]]


def _objects(items: list) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


@pytest.mark.parametrize("op", ["+", "-", "*", "==", "<", "!="])
@pytest.mark.parametrize("left", range(len(MIXED)))
@pytest.mark.parametrize("right", range(len(MIXED)))
def test_mixed_ints_and_floats_compute_as_python_does(op, left, right):
    """Mixed int/float sequences (aggregates make them) go through numpy, not Python calls:
    each position must still have Python's value and type, overflow to Python ints included."""
    a, b = MIXED[left], MIXED[right]
    got = ops.binary(op, _objects(a), _objects(b)).tolist()
    want = [ops.PYTHON_OPS[op](x, y) for x, y in zip(a, b)]
    assert [(type(v), repr(v)) for v in got] == [(type(v), repr(v)) for v in want]


@pytest.mark.parametrize("items", MIXED + [[1, 2.5, -3.5, 0.5, 4]])
def test_rounding_mixed_numbers_is_pythons(items):
    got = ops.unary("round", _objects(items)).tolist()
    assert [(type(v), v) for v in got] == [(type(v), v) for v in map(round, items)]


def test_strings_compare_and_concatenate_as_python_does():
    a, b = _objects(["a", "", "ab", "b"]), _objects(["a", "b", "ab", ""])
    assert ops.binary("==", a, b).tolist() == [True, False, True, False]
    assert ops.binary("!=", a, b).tolist() == [False, True, False, True]
    assert ops.binary("+", a, b).tolist() == ["aa", "b", "abab", "b"]
