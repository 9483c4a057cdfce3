"""The first pass alone (bounds.check_bounds): what may be compiled, and for which bounds."""

from __future__ import annotations

import pytest

from rasp.compiler.bounds import check_bounds
from rasp.compiler.graph import Constant
from rasp.errors import RaspError


def test_the_vocabulary_comes_back_as_a_list(node):
    assert check_bounds(node("tokens"), "abc", 3) == ["a", "b", "c"]
    assert check_bounds(node("tokens"), (1, 2.5, True), 1) == [1, 2.5, True]


@pytest.mark.parametrize("vocab, max_len, message", [
    ([], 4, "the vocabulary is empty"),
    (["a", ["b"]], 4, r"vocabulary items must be atoms, got \['b'\]"),
    (["a", "b", "a"], 4, r"the vocabulary \['a', 'b', 'a'\] repeats a token"),
    ([1, 1.0], 4, None),  # the int 1 and the float 1.0 are two tokens
    (["a"], 0, "max_len must be a positive integer, got 0"),
    (["a"], True, "max_len must be a positive integer, got True"),
    (["a"], 2.0, "max_len must be a positive integer, got 2.0"),
])
def test_bounds_are_checked(node, vocab, max_len, message):
    if message is None:
        assert check_bounds(node("tokens"), vocab, max_len) == vocab
        return
    with pytest.raises(RaspError, match=message):
        check_bounds(node("tokens"), vocab, max_len)


def test_only_an_s_op_that_is_not_a_constant_is_compiled(node):
    with pytest.raises(RaspError, match="compile expects an s-op"):
        check_bounds(node("select(tokens, tokens, ==)"), "ab", 2)
    with pytest.raises(RaspError, match="'3' is a constant: there is nothing to compile"):
        check_bounds(Constant(3), "ab", 2)
