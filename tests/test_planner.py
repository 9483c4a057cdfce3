"""The planner (rasp/planner.py) at the edges of each selector pattern: it must evaluate the
pattern (not fall back) and give exactly what the block path gives, values, types and errors;
and the shapes it does not know must fall back to the block path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rasp import Interpreter, RaspError, planner
from rasp.engine import evaluate, input_array
from rasp.graph import Aggregate
from rasp.values import prepare_input

ALWAYS = 0  # plan_from: the planner even for tiny inputs

PROGRAM = """
tokens = tokens_asis;
m = aggregate(select(indices, indices, ==) or select(indices, 0, ==), tokens);
"""

INPUTS = {
    "ints": [[3, 1, 2, 1], [5, 5, 5, 5], [-2, 0, -2, 7, 1], [4], [0, 1, 2, 3, 4, 5, 6, 7],
             [2, 0, 3, 1]],
    "floats": [[0.5, -1.5, 2.25, 0.5], [-0.0, 0.0, 1.0], [2.0 ** 53, 1.0, 3.5], [0.75, -3.0]],
    "large floats": [[1e20, -1.5, 2.0], [2.0 ** 53, 1.0, 3.5]],
    "strings": [["a", "b", "a"], ["ab", "", "c", "ab"], ["x"]],
    "mixed": [[1, 2.5, 3, 0.5], [True, 2, 0.5]],
}

# (expression, input kind): patterns the planner evaluates
PLANNED = [
    # constant queries (uniform rows) and key-only masks
    ("aggregate(full_s, tokens)", "ints"),
    ("aggregate(select(tokens, 1, ==), indices, -1)", "ints"),
    ("aggregate(select(tokens, 0.5, <), indices, 0.5)", "floats"),
    ("aggregate(select(indices, 0, >), tokens)", "floats"),
    ("length", "strings"),
    # gather: select(indices, e, ==), queries in and out of range
    ("aggregate(select(indices, length - 1 - indices, ==), tokens)", "strings"),
    ("aggregate(select(indices, tokens, ==), indices, \"none\")", "ints"),
    ("aggregate(select(indices + 2, indices, ==), tokens, 0)", "floats"),
    ("aggregate(select(tokens, indices, ==), indices, -1)", "ints"),  # keys not in order
    ("aggregate(select(tokens, indices, ==) and select(tokens, 0, >), indices, -1)", "ints"),
    # equality of any multiplicity, and its complement
    ("aggregate(select(tokens, tokens, ==), indices)", "ints"),
    ("aggregate(select(tokens, tokens, ==), tokens)", "strings"),
    ("aggregate(select(tokens, tokens, !=), indices, 9)", "ints"),
    ("aggregate(select(tokens, tokens, !=), tokens)", "floats"),
    ("selector_width(select(tokens, tokens, ==))", "strings"),
    ("selector_width(select(tokens, tokens, !=))", "mixed"),
    ("aggregate(select(tokens, tokens, ==), tokens * 2 ^ 50)", "ints"),  # sums past 2^53
    ("aggregate(select(tokens, tokens, ==) and select(0, indices, <), indices, -1)", "ints"),
    # order comparisons, by the positions and by values
    ("aggregate(select(indices, indices, <), tokens, 0)", "ints"),
    ("aggregate(select(indices, indices, <=), tokens)", "floats"),
    ("aggregate(select(tokens, tokens, >), indices, -1)", "floats"),
    ("aggregate(select(tokens, tokens, >=), indices)", "strings"),
    ("aggregate(select(tokens, indices, <), tokens, 0)", "ints"),
    ("aggregate(select(indices, indices, <=), m)", "mixed"),
    ("selector_width(select(tokens, tokens, <))", "strings"),
    # conjunctions of equalities with one order comparison
    ("aggregate(select(tokens, tokens, ==) and select(indices, indices, <), indices, -1)",
     "ints"),
    ("aggregate(select(tokens, tokens, ==) and select(indices % 2, indices % 2, ==) and "
     "select(indices, indices, >), tokens)", "floats"),
    ("aggregate(select(tokens, tokens, ==) and select(indices, indices, !=), indices, 0)",
     "strings"),
    # the stable sort's lexicographic comparison, and sorts
    ("sort(tokens, tokens)", "ints"),
    ("sort(indices, tokens)", "strings"),
    ("sort(tokens, -indices)", "floats"),
    ("sort(tokens, tokens)", "mixed"),
    # and / or / not with key-only masks and with each other
    ("aggregate(select(tokens, tokens, <) or select(indices, 0, ==), indices)", "ints"),
    ("aggregate(select(tokens, tokens, <) and select(indices, 0, ==), tokens, 0)", "ints"),
    ("aggregate(not select(tokens, tokens, ==), indices, 3)", "strings"),
    ("aggregate(not (select(indices, indices, <) or select(tokens, tokens, ==)), tokens, 0)",
     "floats"),
    ("aggregate(select(indices, indices, <) and not select(indices, indices, <), tokens, 7)",
     "ints"),
    ("aggregate(select(tokens, tokens, ==) and select(tokens, tokens, <=), indices, 0)",
     "ints"),
    ("has_focus(select(tokens, tokens, >))", "strings"),
    # library functions
    ("shift(tokens, 1, 0)", "floats"),
    ("mark_last_instance(tokens, 1)", "ints"),
    ("count(tokens, \"a\")", "strings"),
    ("aggregate(select_next_identical(tokens), indices, -1)", "ints"),
    # errors: averaging strings, mixing a string default with numbers
    ("aggregate(select(indices, indices, <=), tokens)", "strings"),
    ("aggregate(select(tokens, tokens, <), indices, \"none\")", "ints"),
]

# shapes the planner leaves to the block path
FALLBACK = [
    ("aggregate(select(indices, indices, <) and select(tokens, tokens, >), indices, 0)", "ints"),
    ("aggregate(select(tokens, indices, <), indices, 0)", "strings"),  # strings and ints
    ("aggregate(select(indices, indices, <=), tokens * 2 ^ 62)", "ints"),  # sums beyond int64
    ("aggregate(select(indices, indices, <=), tokens)", "large floats"),  # sums that round
    ("aggregate(select(indices, indices, <=), tokens / 3)", "ints"),  # floats that round
]


def _graph(expression: str) -> Any:
    it = Interpreter(warn=lambda text: None)
    it.run(PROGRAM)
    return it.value(expression)


def _run(node: Any, tokens: np.ndarray, on: bool) -> Any:
    try:
        return _exact(evaluate(node, tokens, {}, plan_from=ALWAYS if on else None).tolist())
    except RaspError as e:
        return ("error", e.message, repr(e.span))


def _exact(value: Any) -> Any:
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return (type(value).__name__, repr(value))


def _taken(node: Any, tokens: np.ndarray) -> list[bool]:
    """For each aggregate evaluated, whether the planner did it."""
    taken: list[bool] = []
    plan = planner.aggregate

    def recorded(*args):
        taken.append(True)  # an error raised by the planner counts as planned
        out = plan(*args)
        taken[-1] = out is not None
        return out
    planner.aggregate = recorded
    try:
        evaluate(node, tokens, {}, plan_from=ALWAYS)
    except RaspError:
        pass
    finally:
        planner.aggregate = plan
    return taken


def _inputs(kind: str) -> list[np.ndarray]:
    return [input_array([prepare_input(x)]) for x in INPUTS[kind]]


@pytest.mark.parametrize("expression, kind", PLANNED)
def test_each_pattern_is_planned_and_identical(expression, kind):
    node = _graph(expression)
    planned = []
    for tokens in _inputs(kind):
        assert _run(node, tokens, True) == _run(node, tokens, False), tokens.tolist()
        planned.append(all(_taken(node, tokens)))
    # some inputs may fall back (floats whose sums could round), not all of them
    assert planned.count(True) >= len(planned) - 1, "the pattern fell back to the block path"


@pytest.mark.parametrize("expression, kind", FALLBACK)
def test_other_shapes_fall_back_to_blocks(expression, kind):
    node = _graph(expression)
    for tokens in _inputs(kind):
        assert _run(node, tokens, True) == _run(node, tokens, False), tokens.tolist()
    # (on some inputs the planner can: where a side is constant, for example)
    assert not all(all(_taken(node, tokens)) for tokens in _inputs(kind))


@pytest.mark.parametrize("expression, kind", PLANNED[::3] + FALLBACK[:1])
def test_batches_are_identical(expression, kind):
    node = _graph(expression)
    by_length: dict[int, list] = {}
    for x in INPUTS[kind] * 2:
        by_length.setdefault(len(x), []).append(prepare_input(x))
    for group in by_length.values():
        tokens = input_array(group, batch=True)
        assert _run(node, tokens, True) == _run(node, tokens, False)


def test_averaging_strings_is_the_same_error_found_without_the_matrix():
    node = _graph("aggregate(select(tokens, tokens, <=), tokens)")
    tokens = input_array([prepare_input(["b", "a", "c"])])
    assert _taken(node, tokens) == [True]
    with pytest.raises(RaspError, match="aggregate cannot average strings: a query selects "
                                        r"several positions of \['b', 'a', 'c'\]"):
        evaluate(node, tokens, {}, plan_from=ALWAYS)


def test_a_long_input_takes_no_matrix():
    n = 200_000  # a block of rows would take minutes; each selection matrix, 40 GB
    node = _graph("sort(tokens, tokens)")
    rng = np.random.default_rng(0)
    xs = rng.integers(-n, n, n).tolist()
    out = evaluate(node, input_array([xs]), {}, plan_from=ALWAYS)
    assert out.tolist() == sorted(xs)


def test_the_planner_sees_a_selector_as_signed_terms():
    it = Interpreter()
    sel = it.value("select(tokens, tokens, <) or (select(tokens, tokens, ==) and "
                   "select(indices, indices, <))")
    terms = planner.terms(sel, {})
    assert sorted(terms.values()) == [1, 1]  # `<` meets `==` in nothing
    width = it.value("select(tokens, tokens, !=)")
    assert sorted(planner.terms(width, {}).values()) == [-1, 1]  # all minus `==`


def test_empty_selections_take_the_default():
    node = _graph("aggregate(select(tokens, tokens, <), tokens, -1)")
    tokens = input_array([prepare_input([2, 2, 2])])
    assert evaluate(node, tokens, {}, plan_from=ALWAYS).tolist() == [-1, -1, -1]
    assert isinstance(node, Aggregate)


@pytest.mark.parametrize("name, alphabet", [
    ("sort_bos", "§abcab"), ("hist2_bos", "§aabbc"), ("sort_by_most_freq", "§abcdd"),
    ("reverse", "abc"), ("dyck1_ptf", "()"), ("dyck2_ptf", "(){}"), ("dyck3_ptf", "()[]{}"),
])
def test_paper_programs_on_longer_inputs_are_identical(name, alphabet):
    """Inputs of a few hundred tokens: repeated keys, long ranges, batches of two."""
    it = Interpreter()
    it.run('load "paper_examples";')
    node = it.value(name)
    rng = np.random.default_rng(len(name))
    for n in (300, 601):
        rows = [rng.choice(list(alphabet[1:] if alphabet[0] == "§" else alphabet), n).tolist()
                for _ in range(2)]
        if alphabet[0] == "§":
            rows = [["§"] + row[1:] for row in rows]
        for tokens in (input_array(rows[:1]), input_array(rows, batch=True)):
            assert _run(node, tokens, True) == _run(node, tokens, False)
            assert all(_taken(node, tokens))


@pytest.mark.parametrize("low, span", [(0, 10), (-5, 2**16), (3, 2**20), (-2**40, 2**41)])
def test_the_radix_order_is_a_stable_sort(low, span):
    """16 bits a pass from the lowest: one pass for narrow keys, three for 41-bit ones."""
    keys = np.random.default_rng(span).integers(low, low + span, 5000)
    keys[::7] = low + span - 1  # ties, whose order must stay that of their positions
    assert np.array_equal(planner._radix_order(keys), np.argsort(keys, kind="stable"))


def test_runs_are_the_searches_of_a_sorted_array_in_itself():
    ordered = np.sort(np.random.default_rng(1).integers(0, 40, 300))
    starts, ends = planner._runs(ordered)
    assert np.array_equal(starts, np.searchsorted(ordered, ordered, "left"))
    assert np.array_equal(ends, np.searchsorted(ordered, ordered, "right"))


def test_terms_of_the_same_keys_share_one_sort():
    """The stable sort's two terms, `k < q` and `k == q and i < j`, sort the keys alike (the
    positions grow within each key): in either order of the terms, one sort serves both."""
    for text in ("select(tokens, tokens, <) or (select(tokens, tokens, ==) and "
                 "select(indices, indices, <))", "(select(tokens, tokens, ==) and "
                 "select(indices, indices, <)) or select(tokens, tokens, <)"):
        assert _sorts(f"aggregate({text}, indices, -1)") == [3000]


def _sorts(expression: str) -> list[int]:
    """The sizes of the arrays the planner sorts, on 3,000 ints, checked against the blocks."""
    node = _graph(expression)
    xs = np.random.default_rng(2).integers(0, 10**6, 3000).tolist()  # too wide to count
    tokens = input_array([prepare_input(xs)])
    sorted_orders = []
    radix = planner._radix_order

    def counted(keys):
        sorted_orders.append(keys.size)
        return radix(keys)
    planner._radix_order = counted
    try:
        assert _run(node, tokens, True) == _run(node, tokens, False)
    finally:
        planner._radix_order = radix
    return sorted_orders
