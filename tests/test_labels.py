"""Node names: a unique label per computation, and a display text unparsed from the syntax
tree, the same in a file, in any REPL entry and inside functions; an immutable graph whose
annotations live on copies; maps that say what they compute."""

from __future__ import annotations

import io

import pytest

from rasp import Interpreter
from rasp.analysis import analyze, graph_below
from rasp.ast import unparse
from rasp.graph import Map, Operation
from rasp.parser import parse
from rasp.runner import chunks, run_entry

PROGRAM = ('a = 1;\n'
           'x = aggregate(select(indices, length - indices - 1, ==), tokens);\n'
           'def f(s) { inner = s + 1; return inner * 2; }\n'
           'y = f(indices);\n'
           'z = tokens[0];\n'
           'w = "a" in tokens;\n'
           'for c in ["a", "b"] { last = indicator(tokens == c); }\n'
           'h = selector_width(select(tokens, tokens, ==));\n'
           'long = aggregate(select(indices, indices, <=), indicator(tokens == "a") + '
           'indicator(tokens == "b") + indicator(tokens == "c"));\n')


def _titles(it: Interpreter, name: str) -> dict[str, list[str]]:
    """The titles of the nodes below `name`, by kind."""
    found: dict[str, list[str]] = {}
    for node in graph_below(it.value(name)):
        found.setdefault(node.kind, []).append(node.title)
    return found


def _in_file() -> Interpreter:
    it = Interpreter()
    it.run(PROGRAM, "labels.rasp")
    return it


def _in_repl_entries() -> Interpreter:
    """Each statement typed as its own REPL entry: the later ones start past line 1."""
    it = Interpreter(interactive=True, out=lambda line: None)
    err = io.StringIO()
    for number, line in enumerate(PROGRAM.splitlines(), 1):
        run_entry(it, line, "<stdin>", number, io.StringIO(), err)
    assert err.getvalue() == ""
    return it


@pytest.mark.parametrize("session", [_in_file, _in_repl_entries], ids=["file", "repl"])
@pytest.mark.parametrize("name, kind, title", [
    ("x", "select", "select(indices, length - indices - 1, ==)"),
    ("x", "map", "length - indices - 1"),
    ("x", "aggregate", "x"),
    ("x", "tokens", "tokens"),
    ("y", "map", "f/inner"),
    ("y", "map", "y"),
    ("z", "select", "select(indices, 0, ==)"),
    ("z", "aggregate", "z"),
    ("w", "map", 'indicator(tokens == "a")'),
    ("w", "aggregate", 'aggregate(full, indicator(tokens == "a"))'),
    ("w", "map", "w"),
    ("last", "map", 'tokens == "b"'),  # the loop's last turn: c is "b"
    ("last", "map", "last"),
    ("h", "aggregate", "selector_width/share_of_first"),
    ("h", "combine", "selector_width/sel or first"),
    ("long", "map", 'indicator(... == ...) + indicator(... == ...)'),
])
def test_display_texts(session, name, kind, title):
    assert title in _titles(session(), name)[kind]


def test_the_third_repl_entry_labels_its_nodes_in_analysis():
    it = _in_repl_entries()
    report = it.analyze("x").report()
    assert "    head 1: select(indices, length - indices - 1, ==)  ->  x" in report


def test_a_call_result_reads_as_the_call():
    it = _in_file()
    assert it.value("f(tokens_int)").title == "f(tokens_int)"
    assert it.value("sort(tokens, tokens)").title == "sort(tokens, tokens)"


def test_long_texts_are_cut_at_a_node_boundary():
    it = _in_file()
    aggregate = it.value("long")
    text = aggregate.inputs[1].text  # the sum of three indicators: 76 characters
    assert text == "indicator(...) + indicator(...) + indicator(...)"
    assert len(text) <= 50


def test_cut_texts_keep_their_whole_text():
    """A compiled model names its blocks by full_title: a cut text's whole text, atoms
    bound to names written out whole; a text that is not cut is its own whole text."""
    it = _in_file()
    summed = it.value("long").inputs[1]
    assert summed.full_title == ('indicator(tokens == "a") + indicator(tokens == "b") + '
                                 'indicator(tokens == "c")')
    it.run('word = "abcdefghijklmnop"; def g(s) { return (s == word) + (s == word); }')
    called = it.value("g(tokens)")
    assert called.text == "g(tokens)" and called.full_title == "g(tokens)"
    inner = called.inputs[0]  # made in g, its atom cut in the display text
    assert inner.text == 'g/s == "abcdefgh...'
    assert inner.full_title == 'g/s == "abcdefghijklmnop"'
    assert it.value("x").full_title == "x"  # a name is whole already


def test_labels_are_unique_and_kept_by_copies():
    it = _in_file()
    nodes = graph_below(it.value("long"))
    labels = [n.label for n in nodes]
    assert len(labels) == len(set(labels))
    assert {label.split("_")[0] for label in labels} >= {"select", "aggregate", "map"}
    node = it.value("x")
    copy = node.annotated(encoding="categorical")
    assert (copy.label, copy.id, copy.annotations["encoding"]) == (node.label, node.id,
                                                                  "categorical")
    assert "encoding" not in node.annotations


def test_nodes_are_immutable():
    node = _in_file().value("x")
    with pytest.raises(AttributeError):
        node.default = 3
    with pytest.raises(TypeError):
        node.annotations["name"] = "other"  # type: ignore[index]


def test_a_named_copy_is_the_same_computation():
    """Naming copies the node, keeping its id: analysis and caches see one node."""
    it = Interpreter()
    it.run("s = select(tokens, tokens, ==); a = aggregate(s, indices); b = aggregate(s, 1);"
           "t = s; both = a + b;")
    report = analyze(it.value("both"))
    assert report.heads_per_layer == [1]
    assert it.value("t") is it.value("s")  # already named: bound as it is


@pytest.mark.parametrize("source, operation", [
    ("tokens == \"a\"", Operation("binary", "==")),
    ("-indices", Operation("unary", "-")),
    ("indicator(tokens)", Operation("unary", "indicator")),
    ("indices if tokens == \"a\" else 0", Operation("choose")),
    ("tokens in [\"a\", \"b\"]", Operation("in", constant=["a", "b"])),
    ("[5, 6, 7][indices]", Operation("lookup", constant=[5, 6, 7])),
    ("tokens == \"a\" and indices > 0", Operation("binary", "and")),
])
def test_maps_record_their_operation(source, operation):
    node = Interpreter().value(source)
    assert isinstance(node, Map)
    assert node.operation == operation
    assert node.operation.constant == operation.constant


def test_unparse_brackets_only_where_precedence_needs_them():
    cases = ["(a + b) * c - (d - e)", "a - (b - c)", "not (x == 1)", "-x ^ 2", "f(x)[3]",
             "x if c else (y if d else z)", '"a" in tokens', "[x + 1 for x in range(3)]",
             "{1: 2}", "select(indices, 0, ==)", "aggregate(s, v, -1)"]
    for source in cases:
        expr = parse(source + ";").statements[0].expr
        assert unparse(expr) == source
        assert parse(unparse(expr) + ";").statements[0].expr == expr


def test_piped_names_and_help_work_as_in_the_repl():
    it = Interpreter(interactive=True, out=lambda line: None)
    out = io.StringIO()
    run_entry(it, "x = 1;", "<stdin>", 1, out, out)
    run_entry(it, "names", "<stdin>", 2, out, out)
    run_entry(it, "help", "<stdin>", 3, out, out)
    assert "value: x" in out.getvalue() and "selector_width(sel)" in out.getvalue()


def test_piped_entries_are_cut_as_the_repl_cuts_them():
    """Enter runs a complete entry, a meta-command, or an incomplete one after a second empty
    line (to show what it lacks); empty lines between entries are skipped."""
    lines = ["x = (1 +\n", "\n", "\n", "\n", "y = 2;\n", "names\n", "def f(a) {\n",
             "return a; }\n"]
    assert list(chunks(lines)) == [("x = (1 +\n\n", 1), ("y = 2;", 5), ("names", 6),
                                   ("def f(a) {\nreturn a; }", 7)]
