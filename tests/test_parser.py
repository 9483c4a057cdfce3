"""Source -> AST, and the REPL's complete/incomplete/invalid decision."""

from __future__ import annotations

import pytest

from rasp import ast, parse
from rasp.parser import input_status


def expr(text: str) -> ast.Expr:
    (stmt,) = parse(text + ";").statements
    return stmt.expr


def n(name):
    return ast.Name(name, span=None)


def c(value):
    return ast.Const(value, span=None)


def b(op, left, right):
    return ast.BinOp(op, left, right, span=None)


PRECEDENCE = [
    ("1 + 2 * 3", b("+", c(1), b("*", c(2), c(3)))),
    ("2 % 3 * 2", b("%", c(2), b("*", c(3), c(2)))),
    ("2 ^ 3 ^ 2", b("^", b("^", c(2), c(3)), c(2))),
    ("-2 ^ 2", b("^", ast.UnaryOp("-", c(2), span=None), c(2))),
    ("not a == b", b("==", ast.UnaryOp("not", n("a"), span=None), n("b"))),
    ("a or b and c", b("and", b("or", n("a"), n("b")), n("c"))),
    ("1 < 2 < 3", b("<", b("<", c(1), c(2)), c(3))),
    ("a in b or c", ast.Contains(n("a"), b("or", n("b"), n("c")), span=None)),
    ("x if c else y if d else z",
     ast.Cond(ast.Cond(n("x"), n("c"), n("y"), span=None), n("d"), n("z"), span=None)),
    ("-x[0]", ast.UnaryOp("-", ast.Index(n("x"), c(0), span=None), span=None)),
    ("f(a)(b)", ast.Call(ast.Call(n("f"), (n("a"),), span=None), (n("b"),), span=None)),
    ("a != b", b("!=", n("a"), n("b"))),
]


@pytest.mark.parametrize("text, tree", PRECEDENCE, ids=[p[0] for p in PRECEDENCE])
def test_precedence(text, tree):
    assert expr(text) == tree


def test_builtin_forms():
    assert expr("select (k, q, <=)") == ast.Select(n("k"), n("q"), "<=", span=None)
    assert expr("aggregate(s, v)") == ast.Aggregate(n("s"), n("v"), None, span=None)
    assert expr("range(1, 3)") == ast.Builtin("range", (c(1), c(3)), span=None)
    assert expr("[x for a, b in l]") == ast.ListComp(n("x"), ("a", "b"), n("l"), span=None)
    assert expr("1.50") == c(1.5) and expr('"a#b"') == c("a#b")


def test_builtin_words_stay_usable_as_names():
    assert expr("select") == n("select") and expr("range") == n("range")


def test_statements():
    program = parse('a, b = 1, 2; def f(x) { y = x; return y, 1; }\n'
                    'for i in l { z = i; } load "lib"; draw(t, "ab");\n'
                    'set s-op example "ab"\nshow example examples off full seq display on quit()')
    kinds = [type(s).__name__ for s in program.statements]
    assert kinds == ["Assign", "FuncDef", "For", "Load", "Draw", "SetExample", "ShowExample",
                     "ToggleExamples", "ToggleFullDisplay", "Exit"]
    assert program.statements[5] == ast.SetExample("s-op", c("ab"), span=None)


def test_spans_are_one_based_with_exclusive_end():
    select = expr("x + select(a, b, ==)").right
    span = select.span
    assert (span.line, span.column, span.end_line, span.end_column) == (1, 5, 1, 21)


STATUS = [
    ("x = 1;", "complete"), ("x = 1 +", "incomplete"), ("def f(a) {", "incomplete"),
    ("x = 1; y", "incomplete"), ("x = = 1;", "invalid"), ('x = "abc', "invalid"),
    ("", "complete"), ("# comment", "complete"), ("set example \"a\"", "complete"),
    ("a = [1,\n 2", "incomplete"), ("x = 1", "incomplete"),
]


@pytest.mark.parametrize("text, status", STATUS, ids=[s[0] or "empty" for s in STATUS])
def test_input_status(text, status):
    assert input_status(text) == status


def test_deep_nesting_needs_no_recursion_in_the_parser():
    # rasp.parse is public: it must not depend on the caller's recursion limit
    depth = 5000
    (stmt,) = parse("x = " + "f(" * depth + "1" + ")" * depth + ";").statements
    node, levels = stmt.values[0], 0
    while isinstance(node, ast.Call):
        node, levels = node.args[0], levels + 1
    assert (levels, node) == (depth, c(1))


def test_set_example_takes_an_expression_to_the_end_of_its_line():
    from rasp import Interpreter

    it = Interpreter(interactive=True)
    printed = it.run('set example "ab" + "c"  # a comment\nshow example\n'
                     'set s-op example [1, 2] + [3];show s-op example\n'
                     'set example [1,\n  2]\nshow example\n')
    assert printed.splitlines() == ['\ts-op example: "abc"', '\tselector example: "abc"',
                                    "\ts-op example: [1, 2, 3]", "\ts-op example: [1, 2]",
                                    "\tselector example: [1, 2]"]


@pytest.mark.parametrize("text, status", [
    ('set example "ab" + "c"', "complete"), ('set example "ab" +', "invalid"),
    ("set example [1,", "incomplete"), ("exit now", "invalid"), ("exit", "complete"),
    ("quit();", "complete"), ("exit # bye", "complete"),
])
def test_enter_on_commands(text, status):
    from rasp.parser import input_status

    assert input_status(text) == status


def test_commands_with_something_wrong_after_them():
    from rasp import RaspError
    from rasp.parser import parse

    with pytest.raises(RaspError, match=r"'exit' takes nothing after it") as info:
        parse("x = 1;\nexit now\n")
    assert (info.value.line, info.value.column) == (2, 1)
    with pytest.raises(RaspError, match="the example's expression is not complete") as info:
        parse('set example "ab" +\nshow example\n')
    assert (info.value.line, info.value.column) == (1, 19)


@pytest.mark.parametrize("text, inside", [
    ('x = "ab', "string"), ('x = "ab"', "code"), ("x # a comment", "comment"),
    ('"a#b" + ', "code"), ('"a" # "b', "comment"), ("", "code"), ('x = "a\ny', "code"),
])
def test_one_scanner_tells_strings_and_comments(text, inside):
    from rasp.parser import ends_in, scan

    assert ends_in(text) == inside
    kinds = "".join({"code": "c", "string": "s", "comment": "#"}[k] for _, _, k in scan(text))
    assert len(kinds) == len(text)
    if text == '"a" # "b':  # the quotes of a string are its own; a comment runs to the end
        assert kinds == "sssc####"
