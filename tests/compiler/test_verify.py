"""The verification's budget: how many inputs it checks per length, said before it runs."""

from __future__ import annotations

import random
import sys

import pytest

from rasp import Interpreter
from rasp.compiler.verify import RANDOM, STRUCTURED, inputs_of_length, verify

# the module (rasp.compiler's `verify` is the function)
VERIFY = sys.modules["rasp.compiler.verify"]

VOCAB = list(range(1, 51))


class Ticks:
    """A clock that moves `step` seconds each time it is read: the check's time, made
    deterministic."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture(scope="module")
def sort_unique():
    it = Interpreter()
    it.run('load "sort";')
    return it.compile("sort_unique(tokens_int, tokens_int)", VOCAB, 5)


def test_the_default_check_is_every_input_of_short_lengths_then_capped(sort_unique,
                                                                       monkeypatch):
    monkeypatch.setattr(VERIFY.time, "perf_counter", Ticks(0.0))  # no estimate, however slow
    rng = random.Random(0)
    sizes = [len(inputs_of_length(VOCAB, n, None, 256, rng)) for n in range(1, 6)]
    assert sizes[0] == 50  # every input: 50 <= 256
    # then 2,500 inputs and more: the structured ones (50 repeated, 2,450 alternating...) capped
    assert all(STRUCTURED < size <= STRUCTURED + RANDOM for size in sizes[1:])
    announced = []
    result = verify(sort_unique.model, sort_unique.target, announce=announced.append)
    assert result.checked + result.raised == sum(sizes)  # sort_unique raises on repeats
    assert announced == [f"checking {sum(sizes):,} inputs: every input of length 1, then up "
                         f"to {STRUCTURED} structured and {RANDOM} random ones per length"]
    assert result.plan == announced[0] and result.ok
    assert sort_unique.checked(announce=announced.append).lines()[-2:] == \
        [announced[0], result.report()]


def test_verify_k_caps_structured_and_random_inputs(sort_unique):
    rng = random.Random(0)
    sizes = [len(inputs_of_length(VOCAB, n, 3, 256, rng)) for n in range(1, 6)]
    assert all(size <= 6 for size in sizes)
    result = sort_unique.verify(3)
    assert result.checked + result.raised == sum(sizes)
    assert result.plan == f"checking {sum(sizes)} inputs: up to 3 structured and 3 random " \
                          f"ones per length"
def test_a_cap_keeps_inputs_of_every_kind():
    inputs = inputs_of_length(VOCAB, 6, 8, 256, random.Random(0))[:8]
    assert [1] * 6 in inputs and [2] * 6 in inputs  # each token repeated
    assert [1, 2, 1, 2, 1, 2] in inputs  # neighbours alternating
    assert list(range(1, 7)) in inputs  # each token once (a staircase)
    assert any(t == sorted(t) and len(set(t)) > 1 and t != list(range(1, 7))
               for t in inputs)  # a sorted draw


def test_a_long_check_says_roughly_how_long_the_rest_takes(sort_unique, monkeypatch):
    """Once the first lengths took verify.TIMED seconds, the rest's tokens at the last
    length's cost per token; a check that takes under verify.QUIET seconds says nothing."""
    rng = random.Random(0)
    tokens = [n * len(inputs_of_length(VOCAB, n, None, 256, rng)) for n in range(1, 6)]
    monkeypatch.setattr(VERIFY.time, "perf_counter", Ticks(0.2))
    announced = []
    verify(sort_unique.model, sort_unique.target, announce=announced.append)
    # lengths 1 and 2 read the clock at 0.2 and 0.4 s: past TIMED after length 2
    rest = 0.2 / tokens[1] * sum(tokens[2:])
    inputs = tokens[0] + tokens[1] // 2
    assert announced[1:] == [f"about {rest:.1f} s more (extrapolated from the first "
                             f"{inputs:,} inputs)"]
    # past TIMED after length 3 (0.3 s), and 0.3 s to go: under QUIET, the plan alone
    monkeypatch.setattr(VERIFY.time, "perf_counter", Ticks(0.1))
    announced.clear()
    verify(sort_unique.model, sort_unique.target, announce=announced.append)
    assert len(announced) == 1
