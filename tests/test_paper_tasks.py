"""The tasks of the paper and the library functions, with the outputs and the layer/head
figures measured on the original interpreter (../shared/spec/paper-tasks.md). The one task
of that table not here is rover.rasp's `res`, a toy inference program we do not ship."""

from __future__ import annotations

import pytest

from rasp import Interpreter
from rasp.display import format_sequence

# expression, {input: printed value}, layers, heads per layer
TASKS = [
    ("length", {"hello": "[5]*5 (ints)", "ab": "[2]*2 (ints)"}, 1, [1]),
    ("selector_width(select(tokens,tokens,==))",
     {"hello": "[1, 1, 2, 2, 1] (ints)", "aabbbc": "[2, 2, 3, 3, 3, 1] (ints)"}, 1, [2]),
    ("selector_width(select(indices,indices,<))", {"abcd": "[0, 1, 2, 3] (ints)"}, 1, [2]),
    ("has_focus(select(tokens,\"l\",==))", {"hello": "[T]*5 (bools)", "abc": "[F]*3 (bools)"},
     1, [1]),
    ("count(tokens,\"l\")", {"hello": "[2]*5 (ints)", "lol": "[2]*3 (ints)"}, 1, [1]),
    ("contains(tokens,\"l\")", {"hello": "[T]*5 (bools)", "abc": "[F]*3 (bools)"}, 1, [1]),
    ("max(indices,2)", {"hello": "[2, 2, 2, 3, 4] (ints)"}, 0, []),
    ("min(indices,2)", {"hello": "[0, 1, 2, 2, 2] (ints)"}, 0, []),
    ("average(indicator(tokens==\"l\"))",
     {"hello": "[0.4]*5 (floats)", "lol": "[0.667]*3 (floats)"}, 1, [1]),
    ("load_from_location(tokens,3)", {"hello": "[l]*5 (strings)"}, 1, [1]),
    ("shift(tokens,1,\"_\")", {"hello": "[_, h, e, l, l] (strings)", "ab": "[_, a] (strings)"},
     1, [1]),
    ("mark_last_instance(tokens,\"a\")", {"banana": "[F, F, F, F, F, T] (bools)"}, 1, [1]),
    ("mark_first_instance(tokens,\"a\")", {"banana": "[F, T, F, F, F, F] (bools)"}, 1, [1]),
    ("aggregate(select_from_last(tokens,\"a\"),indices)", {"banana": "[5]*6 (ints)"}, 2, [1, 1]),
    ("aggregate(select_from_first(tokens,\"a\"),indices)", {"banana": "[1]*6 (ints)"}, 2,
     [1, 1]),
    ("aggregate(select_next_identical(tokens),indices,-1)",
     {"abab": "[2, 3, -1, -1] (ints)", "hello": "[-1, -1, 3, -1, -1] (ints)"}, 2, [2, 1]),
    ("sort(tokens,tokens)", {"hello": "[e, h, l, l, o] (strings)",
                             "banana": "[a, a, a, b, n, n] (strings)",
                             "dcba": "[a, b, c, d] (strings)"}, 2, [2, 1]),
    ("sort(tokens,-indices)", {"hello": "[o, l, l, e, h] (strings)"}, 2, [2, 1]),
    ("aggregate(select(selector_width(select(tokens,tokens,<)),indices,==),tokens)",
     {"dcba": "[a, b, c, d] (strings)"}, 2, [2, 1]),
    ("3*indices", {"hey": "[0, 3, 6] (ints)"}, 0, []),
    ("aggregate(full_s,indicator(tokens==\"e\"))",
     {"hey": "[0.333]*3 (floats)", "abcdeeee": "[0.5]*8 (floats)"}, 1, [1]),
    ("\"e\" in tokens", {"hey": "[T]*3 (bools)", "abc": "[F]*3 (bools)"}, 1, [1]),
    ("tokens in [\"a\",\"e\",\"i\",\"o\",\"u\"]", {"hey": "[F, T, F] (bools)"}, 0, []),
    ("tokens[0]", {"hello": "[h]*5 (strings)"}, 1, [1]),
    ("tokens[-1]", {"hello": "[o]*5 (strings)"}, 2, [1, 1]),
    ("hist_nobos", {"hello": "[1, 1, 2, 2, 1] (ints)", "aabbbc": "[2, 2, 3, 3, 3, 1] (ints)"},
     1, [2]),
    ("hist_bos", {"§hello": "[0, 1, 1, 2, 2, 1] (ints)",
                  "§aabbbc": "[0, 2, 2, 3, 3, 3, 1] (ints)"}, 1, [1]),
    ("reverse", {"hello": "[o, l, l, e, h] (strings)", "abc": "[c, b, a] (strings)"}, 2, [1, 1]),
    ("sort_bos", {"§hello": "[§, e, h, l, l, o] (strings)",
                  "§banana": "[§, a, a, a, b, n, n] (strings)"}, 2, [1, 1]),
    ("hist2_bos", {"§aabbbc": "[0, 1, 1, 1, 1, 1, 1] (ints)",
                   "§hello": "[0, 3, 3, 1, 1, 3] (ints)"}, 2, [2, 1]),
    ("sort_by_most_freq", {"§aabbbc": "[§, b, a, c, §, §, §] (strings)",
                           "§hello": "[§, l, h, e, o, §] (strings)"}, 3, [2, 1, 1]),
    ("dyck1_ptf", {"(()())": "[P, P, P, P, P, T] (strings)", "())(": "[P, T, F, F] (strings)",
                   "(()": "[P]*3 (strings)"}, 2, [1, 1]),
    ("dyck2_ptf", {"({})": "[P, P, P, T] (strings)", "({)}": "[P, P, F, F] (strings)",
                   "(({}": "[P]*4 (strings)"}, 4, [1, 2, 1, 1]),
    ("dyck3_ptf", {"([]{})": "[P, P, P, P, P, T] (strings)", "([)]": "[P, P, F, F] (strings)",
                   "[[]": "[P]*3 (strings)"}, 4, [1, 2, 1, 1]),
    ("longsum", {"123+456": "[0, 0, 0, 0, 5, 7, 9] (ints)",
                 "999+001": "[0, 0, 0, 1, 0, 0, 0] (ints)", "57+68": "[0, 0, 1, 2, 5] (ints)",
                 "12+345": "[0, 0, 0, 3, 5, 7] (ints)",
                 "123+45": "[0, 0, 0, 1, 6, 8] (ints)", "99+1": "[0, 1, 0, 0] (ints)"},
     5, [2, 1, 1, 1, 1]),
    ("val1", {"123+456": "[0, 0, 0, 0, 1, 2, 3] (ints)"}, 2, [2, 1]),
    ("val2", {"123+456": "[0, 0, 0, 0, 4, 5, 6] (ints)"}, 1, [1]),
    ("carries", {"999+001": "[F, F, F, F, T, T, T] (bools)"}, 4, [2, 1, 1, 1]),
]


@pytest.fixture(scope="module")
def interpreter():
    it = Interpreter()
    it.run('load "paper_examples"; load "long_addition";')
    return it


@pytest.mark.parametrize("expression, outputs, layers, heads", TASKS, ids=[t[0] for t in TASKS])
def test_task(interpreter, expression, outputs, layers, heads):
    node = interpreter.value(expression)
    for example, printed in outputs.items():
        assert format_sequence(interpreter.apply(node, example)) == printed
    report = interpreter.analyze(expression)
    assert (report.depth, report.heads_per_layer) == (layers, heads)


def test_unique_sort_fails_on_repeated_keys(interpreter):
    from rasp import RaspError
    with pytest.raises(RaspError, match="cannot average strings"):
        interpreter.evaluate(
            "aggregate(select(selector_width(select(tokens,tokens,<)),indices,==),tokens)",
            "hello")


def test_selectors_of_the_library(interpreter):
    def rows(expression, example):
        return [[k for k, v in enumerate(row) if v]
                for row in interpreter.evaluate(expression, example)]
    assert rows("full_s", "abc") == [[0, 1, 2]] * 3
    assert rows("select_from_last(tokens,\"a\")", "banana") == [[5]] * 6
    assert rows("select_next_identical(tokens)", "abab") == [[2], [3], [], []]
