"""The Python API checks its arguments at the call, with one clear TypeError or ValueError,
and takes numpy arrays as inputs."""

from __future__ import annotations

import numpy as np
import pytest

from rasp import Interpreter, RaspError


@pytest.mark.parametrize("kwargs, error, words", [
    ({"memory_limit": "1M"}, TypeError, "memory_limit must be a number of bytes"),
    ({"memory_limit": True}, TypeError, "memory_limit must be a number of bytes"),
    ({"memory_limit": 0}, ValueError, "at least 1 byte"),
    ({"out": "stdout"}, TypeError, "out must be a function"),
    ({"warn": 3}, TypeError, "warn must be a function"),
    ({"draw_dir": 5}, TypeError, "draw_dir must be a path"),
])
def test_interpreter_arguments_are_checked_at_the_call(kwargs, error, words):
    with pytest.raises(error, match=words):
        Interpreter(**kwargs)


@pytest.mark.parametrize("call, words", [
    (lambda it: it.run(5), "run expects the program's text as a str, got int"),
    (lambda it: it.run(b"x = 1;"), "got bytes"),
    (lambda it: it.evaluate(5, "ab"), "expected an expression as a str, got int"),
    (lambda it: it.analyze(None), "got NoneType"),
    (lambda it: it.evaluate_batch(tokens_list := ["ab"], tokens_list), "got list"),
])
def test_methods_check_their_arguments(call, words):
    with pytest.raises(TypeError, match=words):
        call(Interpreter())


def test_numpy_arrays_are_inputs():
    it = Interpreter()
    assert it.evaluate("tokens_int + 1", np.array([1, 2, 3])) == [2, 3, 4]
    assert it.evaluate("tokens_float", np.array([0.5, 1.5])) == [0.5, 1.5]
    assert it.evaluate("tokens", np.array(["a", "b"])) == ["a", "b"]
    assert it.evaluate("tokens_int", [np.int64(4), 5]) == [4, 5]
    assert it.evaluate_batch("length", [np.array([1, 2]), np.array([3])]) == [[2, 2], [1]]
    with pytest.raises(RaspError, match="one sequence, got an array of shape"):
        it.evaluate("tokens", np.zeros((2, 2)))


def test_an_expression_of_several_statements_is_one_clear_error():
    with pytest.raises(RaspError, match="expected one expression"):
        Interpreter().value("1; 2")


def test_zeros_of_either_sign_are_different_inputs():
    """The session's caches key inputs by `ops.atom_key`: 0.0 == -0.0, yet they print
    differently, so one must not be answered with the other's cached value."""
    from rasp.ops import atom_key

    assert atom_key(0.0) != atom_key(-0.0) and atom_key(1.0) == atom_key(1.0)
    assert atom_key(1) != atom_key(1.0) != atom_key(True)
    it = Interpreter()
    assert [str(v) for v in it.evaluate("tokens_float", [0.0])] == ["0.0"]
    assert [str(v) for v in it.evaluate("tokens_float", [-0.0])] == ["-0.0"]


def test_the_planner_switch_is_a_setting_of_the_session(monkeypatch):
    from rasp import engine, planner

    asked: list[int] = []
    plan = planner.aggregate
    monkeypatch.setattr(planner, "aggregate", lambda *args: asked.append(1) or plan(*args))
    it, other = Interpreter(), Interpreter()
    it.plan_from = 0  # the planner at every size, in this session only
    assert it.evaluate("sort(tokens, tokens)", "banana") == list("aaabnn") and asked
    asked.clear()
    it.plan_from = None  # the block path everywhere
    assert it.evaluate_batch("sort(tokens, tokens)", ["cab", "ba"]) == [list("abc"), list("ab")]
    assert other.evaluate("sort(tokens, tokens)", "banana") == list("aaabnn")  # 36 cells: blocks
    assert not asked and other.plan_from == engine.PLAN_FROM
