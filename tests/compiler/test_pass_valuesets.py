"""The value-sets pass alone (valuesets.Facts): what each s-op of a small graph can hold, which
aggregates average, and the combinations of values that can meet at one position."""

from __future__ import annotations

import itertools

import pytest

from rasp.compiler.graph import evaluate, input_array
from rasp.compiler.valuesets import Facts, Limits, key
from rasp.errors import RaspError

VOCAB = list("abc")
MAX_LEN = 4
DEFINITIONS = """
prefix_mean = aggregate(select(indices, indices, <=), indices);
first = aggregate(select(indices, 0, ==), tokens);
same_mean = aggregate(select(tokens, tokens, ==), indices);
is_a = tokens == "a";
"""


def facts(**limits) -> Facts:
    return Facts(VOCAB, MAX_LEN, Limits(**limits))


def taken(sop) -> set:
    """The keys of every value `sop` takes on every input within VOCAB and MAX_LEN."""
    found = set()
    for n in range(1, MAX_LEN + 1):
        for tokens in itertools.product(VOCAB, repeat=n):
            found |= {key(v) for v in evaluate(sop, input_array([list(tokens)]), {}).tolist()}
    return found


@pytest.mark.parametrize("expr, expected", [
    ("tokens", ["a", "b", "c"]),
    ("indices", [0, 1, 2, 3]),
    ("length", [1, 2, 3, 4]),
    ("length - indices", [1, 2, 3, 4]),
    ("is_a", [False, True]),
    ("first", ["a", "b", "c"]),
    # token-independent: exact, one copy (the int 0) at position 0, means elsewhere
    ("prefix_mean", [0, 0.5, 1.0, 1.5]),
])
def test_value_sets_of_small_graphs(node, expr, expected):
    domain = facts().domain(node(expr, DEFINITIONS))
    assert [(type(v), v) for v in domain] == [(type(v), v) for v in expected]


@pytest.mark.parametrize("expr", ["tokens", "indices", "length", "is_a", "first",
                                  "prefix_mean", "same_mean"])
def test_a_value_set_holds_every_value_the_interpreter_gives(node, expr):
    sop = node(expr, DEFINITIONS)
    assert taken(sop) <= {key(v) for v in facts().domain(sop)}


def test_token_independent_value_sets_are_exact(node):
    for expr in ("length", "length - indices", "prefix_mean"):
        sop = node(expr, DEFINITIONS)
        assert taken(sop) == {key(v) for v in facts().domain(sop)}, expr


def test_only_aggregates_that_average_numbers_are_numeric(node):
    f = facts()
    assert f.numeric(node("prefix_mean", DEFINITIONS))
    assert f.numeric(node("same_mean"))
    assert not f.numeric(node("first"))  # selects one key: copies, whatever it copies


def test_combinations_are_those_reachable_at_one_position(node):
    indices, length = node("indices"), node("length")
    pairs = facts().combos([indices, length], indices)
    assert sorted(pairs) == sorted((i, n) for n in range(1, MAX_LEN + 1) for i in range(n))
    tokens = node("tokens")
    assert len(facts().combos([tokens, indices], indices)) == len(VOCAB) * MAX_LEN


def test_a_table_past_the_limit_is_refused_before_it_is_enumerated(node):
    tokens, is_a = node("tokens"), node("is_a", DEFINITIONS)
    with pytest.raises(RaspError, match=r"'is_a' is a table over 'tokens' \(3 values\), 'is_a' "
                                        r"\(2 values\): 3 x 2 = 6 combinations at one "
                                        r"position \(limit --max-table 5\); a smaller"):
        facts(max_table=5).combos([tokens, is_a], is_a)


def test_a_value_set_past_the_limit_is_refused_at_its_node(node):
    with pytest.raises(RaspError, match=r"'indices' has 4 values \(limit --max-values 3\)"):
        facts(max_values=3).domain(node("indices"))


MEAN = "m = aggregate(select(indices, indices, <=), tokens_int);"


def all_means(vocab: list[int], max_len: int) -> set:
    """Every mean of w items of `vocab`, w = 1..max_len, by brute force."""
    return {key(sum(c) / w if w > 1 else c[0]) for w in range(1, max_len + 1)
            for c in itertools.combinations_with_replacement(vocab, w)}


@pytest.mark.parametrize("vocab", [[0, 1, 10 ** 5], [-10 ** 6, 1, 3], [7, 10 ** 9 + 7],
                                   [0, 3, 6, 9, 12, 15]])
def test_means_of_a_wide_range_are_enumerated_as_sets(node, vocab):
    # once a dense convolution over the range: [-10^6, 1, 3] at max_len 8 ran past 600 s
    mean = node("m", MEAN)
    domain = Facts(vocab, 8, Limits()).domain(mean)
    assert {key(v) for v in domain} == all_means(vocab, 8)


def test_means_of_many_close_values_are_enumerated_by_convolution(node):
    # sums dense in their range: each step a convolution of indicators, not a set of pairs
    mean = node("m", MEAN)
    domain = Facts(list(range(-5, 35)), 4, Limits()).domain(mean)
    assert {key(v) for v in domain} == all_means(list(range(-5, 35)), 4)


def test_means_past_the_limit_are_refused_before_they_are_all_built(node):
    mean = node("m", MEAN)
    f = Facts(list(range(0, 20 * 997, 997)), 8, Limits(max_values=100))
    with pytest.raises(RaspError) as caught:
        f.domain(mean)
    message = caught.value.message
    # steps of 997: the sums of w are the 19 w + 1 multiples from 0, past 100 at width 6
    assert "the means of 'm' over 20 values (0 to 18,943) have more than 100 values at " \
           "width 6 (limit --max-values 100)" in message
    assert "a smaller vocabulary or max_len" in message
    assert caught.value.node is mean
    assert [len(s) for s in f._sums[mean.id].found] == [1, 20, 39, 58, 77, 96]
