"""The layer and head analysis: the report's shape and wording, the in-language statement,
and the checks made on the running example. (The figures themselves are checked against the
original in test_reference.py and test_paper_tasks.py.)"""

from __future__ import annotations

import pytest

from rasp import Interpreter, RaspError
from rasp.analysis import analyze

# program defining x, layers, heads per layer
FIGURES = [
    ("x = tokens;", 0, []),
    ("x = indices + 1;", 0, []),
    ("x = length;", 1, [1]),
    ("x = length + tokens[0];", 1, [2]),
    ("s = select(indices, indices, <); x = aggregate(s, indices) + aggregate(s, length);", 2,
     [2, 1]),
    ("x = aggregate(select(indices, indices, <), indices) + "
     "aggregate(select(indices, indices, <), indices);", 1, [2]),
    ("x = selector_width(select(tokens, tokens, ==)) * 10 + length;", 1, [3]),
    ("x = sort(sort(tokens, tokens), indices);", 3, [4, 1, 1]),
    ("x = aggregate(full_s, aggregate(full_s, indices));", 2, [1, 1]),
    ("x = (\"a\" in tokens) and length > 1;", 1, [2]),
    ("x = count(tokens, \"a\");", 1, [1]),
]


@pytest.mark.parametrize("program, layers, heads", FIGURES, ids=[f[0] for f in FIGURES])
def test_figures(program, layers, heads):
    it = Interpreter()
    it.run(program)
    report = it.analyze("x")
    assert (report.depth, report.heads_per_layer) == (layers, heads)
    assert report.max_heads == max(heads, default=0) and report.total_heads == sum(heads)


def test_json_shape():
    it = Interpreter()
    it.run("h = selector_width(select(tokens, tokens, ==));")
    data = it.analyze("h").to_json()
    assert set(data) == {"name", "layers", "heads_per_layer", "max_heads", "total_heads",
                         "detail", "warnings"}
    assert data["layers"] == 1 and data["heads_per_layer"] == [2]
    layer1 = data["detail"][1]
    assert layer1["layer"] == 1
    assert [h["aggregates"] for h in layer1["heads"]] == [
        ["selector_width/share_of_first"], ["selector_width/selects_first"]]
    assert "h" in layer1["feed_forward"]
    assert data["warnings"] == []


def test_report_text():
    it = Interpreter()
    it.run("r = aggregate(select(indices, length - indices - 1, ==), tokens);")
    lines = it.analyze("r").report().splitlines()
    assert lines[0] == "r: 2 layers, heads per layer 1/1 (max 1, total 2)"
    assert "  layer 2:" in lines
    assert "    head 1: select(indices, length - indices - 1, ==)  ->  r" in lines


def test_analyze_statement_prints_the_report():
    printed = Interpreter().run("analyze(sort(tokens, tokens));")
    assert printed.splitlines()[0] == (
        "sort(tokens, tokens): 2 layers, heads per layer 2/1 (max 2, total 3)")


def test_analyze_is_still_a_name_elsewhere():
    it = Interpreter()
    it.run("analyze = 3; y = analyze + 1;")
    assert it.value("y") == 4


def test_warning_for_averaging_non_numbers_names_the_layer():
    it = Interpreter()
    it.run("x = aggregate(select(indices, indices, <=), tokens);")
    (warning,) = it.analyze("x").warnings
    assert warning.startswith("layer 1: 'x' would average strings: on \"hello\"")


def test_warning_for_a_failure_on_the_example_names_the_layer():
    it = Interpreter()
    it.run("n = length; y = 1 / (n - 5);")
    (warning,) = it.analyze("y").warnings
    assert warning == "layer 1: 'y' fails on \"hello\": division by zero"


def test_analyze_expects_an_s_op():
    with pytest.raises(RaspError, match="analyze expects an s-op, got selector full_s"):
        Interpreter().run("analyze(full_s);")


def test_same_selector_at_two_depths_counts_in_each_layer():
    it = Interpreter()
    it.run("s = select(indices, indices, <=); a = aggregate(s, indices);"
           "b = aggregate(s, a); x = a + b;")
    report = analyze(it.value("x"))
    assert report.heads_per_layer == [1, 1]
    assert report.layers[1].heads[0].selector is report.layers[2].heads[0].selector


def test_a_deep_analysis_is_summarised_in_the_report():
    from rasp import Interpreter

    it = Interpreter()
    it.run("x = indices; for i in range(100) { x = aggregate(select(x, indices, ==), x); }")
    report = it.analyze("x")
    text = report.report()
    assert text.splitlines()[0] == "x: 100 layers, heads per layer 1x100 (max 1, total 100)"
    assert "  ... 70 more layers (--json, to_json(): all of them)" in text
    assert "  layer 100:" in text and "  layer 50:" not in text
    assert len(report.to_json()["heads_per_layer"]) == 100  # the JSON keeps everything


@pytest.mark.parametrize("heads, text", [
    ([], "-"), ([1], "1"), ([2, 1, 2], "2/1/2"), ([1] * 16, "/".join(["1"] * 16)),
    ([2] + [1] * 20 + [3, 3], "2/1x20/3x2"),
])
def test_one_text_for_the_heads_per_layer(heads, text):
    from rasp.analysis import heads_per_layer_text

    assert heads_per_layer_text(heads) == text


def test_a_deep_drawing_counts_its_heads_as_the_analysis_does(tmp_path):
    it = Interpreter(draw_dir=tmp_path, warn=lambda text: None)
    printed = it.run('x = indices; for i in range(20) { x = aggregate(select(x, indices, ==), '
                     'x); }\ndraw(x, "ab");')
    assert "20 layers, heads per layer 1x20" in printed
