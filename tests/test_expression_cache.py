"""`Interpreter.evaluate` keeps the graphs of the expressions it built: the same text gives the
same graph (and its cached values) while nothing it could reach is rebound, and a new graph
as soon as anything is."""

from __future__ import annotations

from rasp import Interpreter


def _graph(it: Interpreter, expression: str):
    return it._built[expression].value


def test_the_same_expression_reuses_its_graph():
    it = Interpreter()
    assert it.evaluate("sort(tokens, tokens)", "cab") == ["a", "b", "c"]
    first = _graph(it, "sort(tokens, tokens)")
    assert it.evaluate("sort(tokens, tokens)", "bca") == ["a", "b", "c"]
    assert _graph(it, "sort(tokens, tokens)") is first
    assert it.evaluate_batch("sort(tokens, tokens)", ["ba", "cb"]) == [["a", "b"], ["b", "c"]]
    assert _graph(it, "sort(tokens, tokens)") is first


def test_rebinding_a_name_the_expression_uses_rebuilds_it():
    it = Interpreter()
    it.run("x = tokens;")
    assert it.evaluate("x", "ab") == ["a", "b"]
    it.run("x = indices;")
    assert it.evaluate("x", "ab") == [0, 1]


def test_rebinding_a_name_a_called_function_reads_rebuilds_it():
    it = Interpreter()
    it.run("k = 1; def f(s) { return s + k; }")
    assert it.evaluate("f(indices)", "ab") == [1, 2]
    it.run("k = 10;")
    assert it.evaluate("f(indices)", "ab") == [10, 11]
    it.run("def f(s) { return s - k; }")
    assert it.evaluate("f(indices)", "ab") == [-10, -9]


def test_a_new_name_rebuilds_it():
    it = Interpreter()
    it.run("def f(s) { return s; }")
    assert it.evaluate("f(indices)", "ab") == [0, 1]
    it.run("y = 3;")  # could shadow anything a function reads
    it.evaluate("f(indices)", "ab")
    assert len(it._built) == 1


def test_an_error_is_not_cached():
    it = Interpreter()
    for _ in range(2):
        try:
            it.evaluate("nothing_here", "ab")
        except Exception as e:
            assert "undefined name" in str(e)
    assert not it._built
    it.run("nothing_here = indices;")
    assert it.evaluate("nothing_here", "ab") == [0, 1]
