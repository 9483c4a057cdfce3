"""Resource limits: each one is a single clear, positioned error, reached quickly, after which
the session goes on with everything defined before it intact."""

from __future__ import annotations

import time

import pytest

from rasp import Interpreter
from rasp.errors import RaspLimitError, RaspNameError

SETUP = "keep = indices + 1; def twice(a) { return a * 2; }"


def session() -> Interpreter:
    it = Interpreter(warn=lambda text: None)
    it.run(SETUP)
    return it


def assert_intact(it: Interpreter) -> None:
    """What was defined before still works, and the session's stacks are empty."""
    assert it.evaluate("twice(keep)", "abc") == [2, 4, 6]
    assert it.value("twice(21)") == 42
    assert (it._calls, it._loading) == ([], [])


# (program, line, column, words of the message)
SIZES = [
    ("x = 2 ^ 20000;", 1, 5, "integer too large"),
    ("x = 3 ^ 1000000000;", 1, 5, "integer too large"),
    ("x = 2 ^ 10000;\ny = x * x;", 2, 5, "integer too large"),
    ('x = "ab" * 10000000000;', 1, 5, "string too long"),
    ("x = [0] * 100000000000;", 1, 5, "list too long"),
    ('x = "a";\nfor i in range(40) { x = x + x; }', 2, 26, "string too long"),
    ("x = range(1000000000000);", 1, 5, "range too long"),
    ("x = range(10000000000000000000);", 1, 5, "range too long"),
    ('(tokens * 100000000)("ab");', 1, 2, "string too long"),
    ("(tokens_asis ^ 100000)([3]);", 1, 2, "integer too large"),
]


@pytest.mark.parametrize("program, line, column, words", SIZES, ids=[s[0] for s in SIZES])
def test_values_too_large_to_build(program, line, column, words):
    it = session()
    start = time.perf_counter()
    with pytest.raises(RaspLimitError) as info:
        it.run(program, "big.rasp")
    assert time.perf_counter() - start < 1
    assert (info.value.line, info.value.column) == (line, column)
    assert words in info.value.message
    assert_intact(it)


def test_the_largest_values_allowed_still_print():
    it = session()
    out = it.run("x = 2 ^ 12999; x; y = \"ab\" * 5000000;")
    assert out.startswith("    value: x =  " + str(2 ** 12999))
    assert len(it.value("y")) == 10_000_000


# ---------------------------------------------------------------- nesting and recursion

DEEP = [
    ("parentheses", "x = " + "(" * 10_000 + "1" + ")" * 10_000 + ";", 1),
    ("calls", "x = " + "twice(" * 5_000 + "1" + ")" * 5_000 + ";", 2 ** 5000),
    ("lists", "x = " + "[" * 3_000 + "]" * 3_000 + ";", None),
    ("operators", "x = 1" + " + 1" * 5_000 + ";", 5001),
]


@pytest.mark.parametrize("program, value", [d[1:] for d in DEEP], ids=[d[0] for d in DEEP])
def test_deep_but_reasonable_nesting_evaluates(program, value):
    it = session()
    it.run(program)
    if value is not None:
        assert it.value("x") == value
    assert_intact(it)


TOO_DEEP = [
    ("prefix operators", "y = 1;\nx = " + "-" * 50_000 + "1;"),
    ("calls", "y = 1;\nx = " + "twice(" * 30_000 + "1" + ")" * 30_000 + ";"),
    ("a value", "y = 1;\nx = []; for i in range(30000) { x = [x]; }\nx;"),
]


@pytest.mark.parametrize("program", [t[1] for t in TOO_DEEP], ids=[t[0] for t in TOO_DEEP])
def test_nesting_too_deep_is_one_positioned_error(program):
    it = session()
    start = time.perf_counter()
    with pytest.raises(RaspLimitError) as info:
        it.run(program, "deep.rasp")
    assert time.perf_counter() - start < 10
    assert info.value.message == "nested too deeply to evaluate"
    assert info.value.line > 1
    assert it.value("y") == 1
    assert_intact(it)


def test_nesting_too_deep_through_the_python_api():
    it = session()
    with pytest.raises(RaspLimitError) as info:
        it.value("-" * 50_000 + "1")
    assert (info.value.filename, info.value.line, info.value.column) == ("<expression>", 1, 1)
    assert_intact(it)


RECURSION = [
    ("on atoms", "def f(n) { return f(n + 1); }\nx = f(0);", "too many nested calls"),
    ("building s-ops", "def f(s) { return f(s + 1); }\nx = f(indices);",
     "too many nested calls"),
    ("mutual", "def f(n) { return g(n); }\ndef g(n) { return f(n); }\nx = f(0);",
     "too many nested calls"),
    # each call nests deeply too: Python's recursion runs out before the call limit
    ("deep bodies", "def f(n) { return " + "(1 + " * 60 + "f(n)" + ")" * 60 + "; }\nx = f(0);",
     "nested too deeply"),
]


@pytest.mark.parametrize("program, words", [r[1:] for r in RECURSION],
                         ids=[r[0] for r in RECURSION])
def test_unbounded_recursion_is_one_error(program, words):
    it = session()
    with pytest.raises(RaspLimitError) as info:
        it.run(program, "rec.rasp")
    assert info.value.span is not None
    assert words in info.value.message
    with pytest.raises(RaspNameError):
        it.value("x")
    assert_intact(it)
