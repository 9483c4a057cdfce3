"""The evaluator, table by table: (program, input) -> the output as a Python list, or the
error class. Values were checked against the reference (`../shared/spec/`)."""

from __future__ import annotations

import pytest

from rasp import Interpreter, RaspError
from rasp.errors import RaspLimitError, RaspNameError, RaspTypeError, RaspValueError


def evaluate(expression: str, example, setup: str = ""):
    it = Interpreter(warn=lambda text: None)
    it.run(setup)
    return it.evaluate(expression, example)


SOPS = [
    # inputs
    ("tokens", "abc", ["a", "b", "c"]),
    ("indices", "abc", [0, 1, 2]),
    ("tokens_int", [3, 1], [3, 1]),
    ("tokens_float", [1, 2], [1.0, 2.0]),
    ("tokens_bool", [0, 1, ""], [False, True, False]),
    ("tokens_asis", [1, 2.5], [1, 2.5]),
    ("length", "hello", [5] * 5),
    # arithmetic, Python's semantics
    ("indices + 1", "abc", [1, 2, 3]),
    ("10 - indices * 3", "abcd", [10, 7, 4, 1]),
    ("indices / 2", "abc", [0.0, 0.5, 1.0]),
    ("(indices - 2) % 3", "abcd", [1, 2, 0, 1]),
    ("2 ^ indices", "abcd", [1, 2, 4, 8]),
    ("(indices - 1) ^ -1", "ab", [-1.0, ValueError]),
    ("tokens_float ^ 1000", [2.5, 0.5], [ValueError, 0.0]),  # Python's float overflow
    ("-indices", "abc", [0, -1, -2]),
    ("tokens + tokens", "ab", ["aa", "bb"]),
    ("tokens * 2", "ab", ["aa", "bb"]),
    ("round(indices / 2)", "abcdef", [0, 0, 1, 2, 2, 2]),  # half to even
    ("round(indices + 0.5)", "abcd", [0, 2, 2, 4]),
    ("indicator(tokens == \"a\")", "aba", [1, 0, 1]),
    ("(tokens_bool + tokens_bool)", [True, False], [2, 0]),
    # comparisons and logic
    ("tokens == \"a\"", "ab", [True, False]),
    ("tokens != \"a\"", "ab", [False, True]),
    ("tokens == 1", "ab", [False, False]),
    ("indices < 1", "abc", [True, False, False]),
    ("not tokens == \"a\"", "ab", [False, False]),  # (not tokens) == "a"
    ("(indices == 0) or (indices == 1) and (indices == 2)", "abc", [False] * 3),
    ("indices and 1", "ab", [False, True]),
    ("not (indices > 0)", "ab", [True, False]),
    ("indices + 1 in [1, 3]", "abcd", [True, False, True, False]),
    ("tokens in [\"a\", \"e\"]", "hey", [False, True, False]),
    ("tokens if indices == 0 else \"-\"", "hey", ["h", "-", "-"]),
    ("1 if indices > 0 else 2.5", "ab", [2.5, 1]),
    # indexing
    ("\"abc\"[indices]", "xyz", ["a", "b", "c"]),
    ("[5, 8, 2][indices]", "abc", [5, 8, 2]),
    ("{\"a\": 1, \"b\": 2}[tokens]", "ab", [1, 2]),
    ("tokens[1]", "xyz", ["y"] * 3),
    ("tokens[-1]", "hello", ["o"] * 5),
    ("tokens[10]", "abc", [0] * 3),  # nothing selected: the default 0
    # select and aggregate
    ("aggregate(select(indices, indices, ==), tokens)", "abc", ["a", "b", "c"]),
    ("aggregate(select(indices, indices, <), indices)", "hello", [0, 0, 0.5, 1.0, 1.5]),
    ("aggregate(select(indices, indices, >), indices, -1)", "abcd", [2.0, 2.5, 3, -1]),
    ("aggregate(select(indices, indices + 1, ==), tokens, \".\")", "abc", ["b", "c", "."]),
    ("aggregate(select(tokens, \"l\", ==), indices)", "hello", [2.5] * 5),
    ("aggregate(select(indices, 0, ==), tokens_bool)", [True, False], [True, True]),
    ("aggregate(full_s, indicator(tokens == \"e\"))", "hey", [1 / 3] * 3),
    ("aggregate(select(indices, indices, !=), indices)", "abc", [1.5, 1.0, 0.5]),
    ("aggregate(select(indices, indices, >=) and select(indices, 1, <=), indices)", "abc",
     [0.5, 1, 0]),
    ("aggregate(not select(indices, indices, ==), indices)", "abc", [1.5, 1.0, 0.5]),
    ("\"e\" in tokens", "hey", [True] * 3),
    ("\"z\" in tokens", "hey", [False] * 3),
    # the library
    ("selector_width(select(tokens, tokens, ==))", "hello", [1, 1, 2, 2, 1]),
    ("selector_width(select(indices, indices, <))", "abcd", [0, 1, 2, 3]),
    ("has_focus(select(tokens, \"l\", ==))", "abc", [False] * 3),
    ("count(tokens, \"l\")", "lol", [2] * 3),
    ("contains(tokens, \"l\")", "hello", [True] * 5),
    ("max(indices, 2)", "hello", [2, 2, 2, 3, 4]),
    ("min(indices, 2)", "hello", [0, 1, 2, 2, 2]),
    ("average(indicator(tokens == \"l\"))", "hello", [0.4] * 5),
    ("load_from_location(tokens, 3)", "hello", ["l"] * 5),
    ("shift(tokens, 1, \"_\")", "hello", ["_", "h", "e", "l", "l"]),
    ("mark_last_instance(tokens, \"a\")", "banana", [False] * 5 + [True]),
    ("mark_first_instance(tokens, \"a\")", "banana", [False, True] + [False] * 4),
    ("aggregate(select_from_last(tokens, \"a\"), indices)", "banana", [5] * 6),
    ("aggregate(select_from_first(tokens, \"a\"), indices)", "banana", [1] * 6),
    ("aggregate(select_next_identical(tokens), indices, -1)", "hello", [-1, -1, 3, -1, -1]),
    ("sort(tokens, tokens)", "banana", list("aaabnn")),
    ("sort(tokens, -indices)", "hello", list("olleh")),
]


@pytest.mark.parametrize("expression, example, expected", SOPS, ids=[s[0] for s in SOPS])
def test_sop(expression, example, expected):
    if ValueError in expected:
        with pytest.raises(RaspValueError):
            evaluate(expression, example)
        return
    assert evaluate(expression, example) == pytest.approx(expected)


# Each element keeps the type Python gives it: an int in one position and a float in another
# where Python does so (pytest.approx above would not see the difference).
TYPED = [
    ("2 ^ (indices - 1)", "abc", [0.5, 1, 2]),  # int ** negative int is a float
    ("-((indices - 2) ^ 63)", "ab", [2 ** 63, 1]),  # beyond int64, not wrapped around
    ("round(10.0 ^ (indices * 10))", "abc", [1, 10 ** 10, 10 ** 20]),
    ("[5, 6, 7][tokens_asis]", [True, 2], [6, 7]),  # ints mixed with bools index too
    ("tokens_asis == 2.0 ^ 53", [2 ** 53 + 1, 2 ** 53], [False, True]),  # compared exactly
    # ints beyond int64 mixed with floats compare exactly too (found by the differential test)
    ("tokens_int == tokens_float", [1e20, 2 ** 53 + 1], [True, False]),
    # 2^53 + 1 mixed with a float, which rounds it to 2^53 as a float: compared as an int
    ("tokens_asis == 2 ^ 53 + 1", [0.5, 2 ** 53 + 1], [False, True]),
    ("tokens_int == tokens_asis", [0.5, 2 ** 53 + 1], [False, True]),
    # a mean is Python's sum(...) * 1.0 / n: large ints are summed exactly before dividing
    ("aggregate(full_s, tokens_asis)", [2 ** 63 - 1, -(2 ** 63)], [-0.5, -0.5]),
    ("aggregate(full_s, tokens_asis)", [2 ** 70, 1, -(2 ** 70)], [1 / 3] * 3),
    ("aggregate(full_s, tokens_asis)", [10 ** 400, 1, -(10 ** 400)], [1 / 3] * 3),
]


@pytest.mark.parametrize("expression, example, expected", TYPED, ids=[t[0] for t in TYPED])
def test_sop_element_types(expression, example, expected):
    result = evaluate(expression, example)
    assert result == expected
    assert [type(v) for v in result] == [type(v) for v in expected]


def test_selector_rows_are_queries():
    assert evaluate("select(indices, indices, <)", "abc") == [
        [False, False, False], [True, False, False], [True, True, False]]
    assert evaluate("select(tokens, \"l\", ==)", "ol") == [[False, True], [False, True]]


PROGRAMS = [
    # atoms, precedence
    ("x = 2 % 3 * 2;", "x", 2),
    ("x = 2 * 3 % 4;", "x", 2),
    ("x = 2 ^ 3 ^ 2;", "x", 64),
    ("x = -2 ^ 2;", "x", 4),
    ("x = not 1 == 2;", "x", False),
    ("x = True or False and False;", "x", False),
    ("x = 1 if True else 2 if False else 3;", "x", 3),
    ("x = 1 < 2 < 3;", "x", True),
    ("x = 7 / 2;", "x", 3.5),
    ("x = round(2.5) + round(3.5);", "x", 6),
    ("x = \"ab\" + \"c\";", "x", "abc"),
    ("x = [1] + [2, 3];", "x", [1, 2, 3]),
    ("x = 3 in [1, 2, 3];", "x", True),
    ("x = 007;", "x", 7),
    # functions, closures, recursion
    ("def f(a, b) { c = a * 10; return c + b; } x = f(4, 2);", "x", 42),
    ("def f(n) { return 1 if n == 0 else n * f(n - 1); } x = f(5);", "x", 120),
    ("def f() { return 1, 2; } a, b = f(); x = [b, a];", "x", [2, 1]),
    ("k = 1; def f(a) { return a + k; } k = 5; x = f(1);", "x", 6),
    ("def f(a) { def g(b) { return a + b; } return g(2); } x = f(1);", "x", 3),
    ("def f(a) { y = 99; return a; } y = 1; z = f(0); x = y;", "x", 1),
    ("def adder(n) { def add(a) { return a + n; } return add; } x = adder(3)(4);", "x", 7),
    # for loops and comprehensions
    ("x = 0; for i in [1, 2, 3] { x = x + i; }", "x", 6),
    ("for a, b in [[1, 2], [3, 4]] { x = a * b; }", "x", 12),
    ("d = {\"a\": 1, \"b\": 2}; x = 0; for k in d { x = x + d[k]; }", "x", 3),
    ("x = [i * 2 for i in range(4)];", "x", [0, 2, 4, 6]),
    ("x = [a + b for a, b in zip([1, 2], [10, 20])];", "x", [11, 22]),
    ("x = {k: k * 2 for k in [1, 2]};", "x", {1: 2, 2: 4}),
    ("i = 7; y = [i for i in [1]]; x = i;", "x", 7),
    ("x = range(1, 7, 2);", "x", [1, 3, 5]),
    ("x = len([1, 2, 3]);", "x", 3),
    ("x = [1, 2, 3][-1];", "x", 3),
    ("x = \"abc\"[1];", "x", "b"),
    ("x = {\"a\": [1, 2]}[\"a\"][0];", "x", 1),
    # out
    ("3 + 4; x = out;", "x", 7),
    ("y = 5; x = out;", "x", 5),
]


@pytest.mark.parametrize("program, name, expected", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_program(program, name, expected):
    it = Interpreter()
    it.run(program)
    assert it.env.lookup(name, None) == expected


ERRORS = [
    ("x = missing;", RaspNameError),
    ("length = 3;", RaspNameError),
    ("indices = 3;", RaspNameError),
    ("out = 3;", RaspNameError),
    ("def f(sort) { return 1; }", RaspNameError),
    ("def f(a) { return a; } f(1, 2);", RaspTypeError),
    ("x = 1(2);", RaspTypeError),
    ("x = aggregate(tokens, tokens);", RaspTypeError),
    ("x = aggregate(full_s, full_s);", RaspTypeError),
    ("x = aggregate(full_s, tokens, tokens);", RaspTypeError),
    ("x = select(full_s, indices, ==);", RaspTypeError),
    ("x = full_s + 1;", RaspTypeError),
    ("x = full_s and tokens;", RaspTypeError),
    ("x = indicator(3);", RaspTypeError),
    ("x = tokens[indices];", RaspTypeError),
    ("x = tokens in tokens;", RaspTypeError),
    ("x = [1, 2][5];", RaspValueError),
    ("x = {\"a\": 1}[\"b\"];", RaspValueError),
    ("x = 1 / 0;", RaspValueError),
    ("x = 1 + \"a\";", RaspValueError),
    ("x = range(1.5);", RaspTypeError),
    ("x = zip([1], [1, 2]);", RaspValueError),
    ("x = len(\"abc\");", RaspTypeError),
    ("a, b = 1, 2, 3;", RaspValueError),
    ("a, b = 1;", RaspTypeError),
    ("for x in 3 { y = 1; }", RaspTypeError),
    ("x = {[1]: 2};", RaspTypeError),
    ("set example 5", RaspValueError),
    ("set example \"\"", RaspValueError),
    ("def f(n) { return f(n); } x = f(1);", RaspLimitError),
    ("load \"no_such_file\";", RaspValueError),
    ("(tokens)(5);", RaspValueError),
    ("(tokens)([]);", RaspValueError),
    ("(tokens)(\"a\", \"b\");", RaspTypeError),
    ("(aggregate(full_s, tokens))(\"ab\");", RaspValueError),
    ("(aggregate(full_s, tokens_bool))([True, False]);", RaspValueError),
    ("(1 / (indices - 1))(\"abc\");", RaspValueError),
    ("(tokens_int)(\"a\");", RaspValueError),
    ("(aggregate(select(indices, indices + 1, ==), tokens))(\"ab\");", RaspValueError),
    ("(tokens_asis)([1, \"a\"]);", RaspValueError),
    ("([1, 2][indices])(\"abc\");", RaspValueError),
    ("(tokens < 1)(\"ab\");", RaspValueError),
]


@pytest.mark.parametrize("program, error", ERRORS, ids=[e[0] for e in ERRORS])
def test_error(program, error):
    with pytest.raises(error):
        Interpreter(warn=lambda text: None).run(program)


def test_failed_assignment_leaves_name_unassigned():
    it = Interpreter()
    with pytest.raises(RaspError):
        it.run("x = 1 / 0;")
    with pytest.raises(RaspNameError):
        it.run("x;")


def test_values_are_immutable_under_rebinding():
    it = Interpreter()
    it.run("a = indices + 1; b = a * 2; a = indices;")
    assert it.evaluate("b", "abc") == [2, 4, 6]


def test_tokens_can_be_rebound_and_old_sops_keep_theirs():
    it = Interpreter()
    it.run("old = tokens + \"!\"; set example [1, 2]\ntokens = tokens_int; new = tokens + 1;")
    assert it.evaluate("new", [4, 5]) == [5, 6]
    assert it.evaluate("old", [4, 5]) == ["4!", "5!"]


def test_inputs_equal_but_for_the_sign_of_zero_are_not_confused():
    it = Interpreter()
    assert it.evaluate("tokens_str", [0.0]) == ["0.0"]
    assert it.evaluate("tokens_str", [-0.0]) == ["-0.0"]


def _counting_kernels(monkeypatch) -> tuple[list[int], list[int]]:
    """The ids of the nodes whose kernels are chosen (once a plan), and of those run."""
    from rasp import engine
    chosen: list[int] = []
    ran: list[int] = []
    original = engine._kernel

    def counting(node):
        kernel = original(node)
        chosen.append(node.id)
        return lambda args, *rest: ran.append(node.id) or kernel(args, *rest)
    monkeypatch.setattr(engine, "_kernel", counting)
    monkeypatch.setattr(engine, "_plans", {})
    return chosen, ran


def test_shared_subgraphs_are_evaluated_once(monkeypatch):
    _, ran = _counting_kernels(monkeypatch)
    it = Interpreter()
    it.run("x = indices + 1; y = x * x + x;")
    it.evaluate("y", "abcd")
    assert sorted(ran) == sorted(set(ran)) and len(ran) == 5  # indices, 1, x, x * x, y


def test_a_graph_is_planned_once_and_cached_values_are_not_recomputed(monkeypatch):
    chosen, ran = _counting_kernels(monkeypatch)
    it = Interpreter()
    it.run("x = indices + 1; y = x * x + x;")
    assert it.evaluate("y", "abcd") == [2, 6, 12, 20]
    assert it.evaluate("y", "xyz") == [2, 6, 12]
    assert len(chosen) == 5 and len(ran) == 10
    ran.clear()
    assert it.evaluate("x * 2", "abcd") == [2, 4, 6, 8]  # x is cached for "abcd"
    assert len(ran) == 2  # the constant 2 and the product


def test_constants_kept_for_a_length_are_kept_apart_by_type_and_length():
    """1, 1.0 and True are equal in Python, but not the same constant."""
    it = Interpreter()
    for _ in range(2):  # made, then kept
        for text, expected in (("1", [1, 1]), ("1.0", [1.0, 1.0]), ("True", [True, True])):
            out = it.evaluate(f"{text} if indices >= 0 else {text}", "ab")
            assert out == expected and [type(v) for v in out] == [type(expected[0])] * 2
        assert it.evaluate("indices", "abc") == [0, 1, 2]
        assert it.evaluate("indices", "ab") == [0, 1]


def test_deep_graphs_evaluate_without_recursion():
    it = Interpreter()
    it.run("x = indices; for i in range(3000) { x = x + 1; }")
    assert it.evaluate("x", "ab") == [3000, 3001]


def test_an_s_op_read_past_its_end_is_the_default_everywhere():
    """As in the original, s[i] is an aggregate: a position the input lacks selects nothing."""
    it = Interpreter()
    for expression in ("tokens[5]", "load_from_location(tokens, 9)", "tokens[-5]"):
        assert it.evaluate(expression, "xyz") == [0, 0, 0]
    assert it.evaluate("tokens[2]", "xyz") == ["z"] * 3
