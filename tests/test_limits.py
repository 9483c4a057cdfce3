"""Resource limits: each one is a single clear, positioned error, reached quickly, after which
the session goes on with everything defined before it intact."""

from __future__ import annotations

import time

import pytest

from rasp import Interpreter
from rasp.errors import RaspLimitError

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
