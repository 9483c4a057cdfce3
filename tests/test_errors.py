"""Every kind of user mistake: one message, at the right line and column, with the source
line and carets; never a traceback."""

from __future__ import annotations

import pytest

from rasp import Interpreter, RaspError
from rasp.errors import RaspSyntaxError, Source, Span, format_error

# (program, line, column, words the message must contain)
CASES = [
    # syntax
    ("x = 1\ny = 2;", 1, 6, "missing ';'"),
    ("x = 1", 1, 6, "missing ';'"),
    ("def f(a) {\n  return a;\n", 1, 10, "'{' is never closed"),
    ("x = (1 + 2;", 1, 11, "unexpected ';', expected ')'"),
    ("x = 3 $ 4;", 1, 7, "unexpected character '$'"),
    ("x = 'a';", 1, 5, "double quotes"),
    ("x = \"abc;", 1, 5, "unterminated string"),
    ("x = = 1;", 1, 5, "expected an expression"),
    ("x = 1 +", 1, 8, "unexpected end of input"),
    ("def f(a) { y = a; }", 1, 19, "must end with 'return"),
    ("set example \"ab\";;", 1, 18, "unexpected ';'"),
    # names
    ("y = 1;\nz = y + missing;", 2, 9, "undefined name 'missing'"),
    ("x = qqq;", 1, 5, "undefined name 'qqq'"),
    ("length = 2;", 1, 1, "reserved name 'length'"),
    ("tokens = 3;", 1, 1, "tokens must be an s-op"),
    ("tokens = select(tokens, tokens, ==);", 1, 1, "tokens must be an s-op, such as "
     "tokens_int or tokens_float, got selector"),
    ("def f(x, x) { return x; }", 1, 1, "parameter 'x' appears twice in 'f'"),
    ("set example [1, \"a\"]", 1, 13, "mixes values of different types"),
    ("x = tokns + 1;", 1, 5, "undefined name 'tokns' (did you mean 'tokens'?)"),
    ("x = aggregat(full_s, tokens);", 1, 5, "(did you mean 'aggregate'?)"),
    ("y = analyze(tokens);", 1, 5, "'analyze' is a statement, not a function"),
    ("selct(tokens, tokens, ==);", 1, 1, "'selct' is not select: only select(keys, queries, "
     "==) takes a comparison as an argument (did you mean 'select'?)"),
    ("x = 1;\ndraw = 1;", 2, 1, "'draw' is a command"),
    ("def f(indices) { return 1; }", 1, 1, "reserved name 'indices'"),
    # arguments
    ("def f(a, b) { return a; }\nx = f(1);", 2, 5, "f takes 2 arguments, got 1"),
    ("x = (tokens)(\"a\", \"b\");", 1, 5, "exactly one input"),
    ("x = 3(\"a\");", 1, 5, "is not a function"),
    # kinds
    ("x = aggregate(tokens, indices);", 1, 15, "expects a selector"),
    ("x = aggregate(full_s, full_s);", 1, 23, "must be an s-op or an atom"),
    ("x = select(full_s, indices, ==);", 1, 12, "got selector full_s"),
    ("x = aggregate(full_s, tokens, indices);", 1, 31, "default must be an atom"),
    ("x = full_s + 1;", 1, 5, "cannot apply '+' to a selector"),
    ("x = indicator(1);", 1, 5, "indicator expects an s-op"),
    # values, on an input
    ("x = aggregate(full_s, tokens);\n(x)(\"ab\");", 1, 5, "cannot average strings"),
    ("x = aggregate(full_s, tokens_bool);\n(x)([True, False]);", 1, 5, "cannot average bools"),
    ("x = 1 / (indices - 1);\n(x)(\"abc\");", 1, 5, "division by zero"),
    ("x = aggregate(select(indices, indices + 1, ==), tokens);\n(x)(\"ab\");", 1, 5,
     "different types"),
    ("(tokens_asis)([1, \"a\"]);", 1, 15, "different types"),
    ("x = (tokens + 1);\n(x)(\"a\");", 1, 6, "cannot apply '+' to a string and an int"),
    ("(tokens_int)(\"ab\");", 1, 14, "not made of integers: tokens_int cannot read \"a\""),
    ("(tokens_float)([1, \"x\"]);", 1, 16, "not made of numbers"),
    # atoms: no Python messages, no complex numbers
    ("x = (-1) ^ 0.5;", 1, 5, "not a real number"),
    ("x = round(\"a\");", 1, 5, "round expects a number, got a string"),
    ("x = -\"abc\";", 1, 5, "cannot apply '-' to a string"),
    ("x = \"a\" < 1;", 1, 5, "cannot compare a string with an int"),
    ("x = range(tokens);", 1, 11, "range expects integers, got s-op tokens"),
    ("x = [1] * 1.5;", 1, 5, "repeated by an int"),
    # indexing
    ("x = [1, 2];\ny = x[5];", 2, 7, "index 5 out of range for list of length 2"),
    ("x = {\"a\": 1};\ny = x[\"b\"];", 2, 7, "not in the dict"),
    ("x = [1, 2][indices];\n(x)(\"abc\");", 1, 5, "index 2 out of range"),
    ("x = tokens[indices];", 1, 12, "indexed by an integer"),
    # files and inputs
    ("load \"no_such_file\";", 1, 1, "cannot find 'no_such_file.rasp'"),
    ("load \"" + "x" * 300 + "\";", 1, 1, "cannot find 'xxx"),  # too long for a file name
    ("load \"a\x00b\";", 1, 1, "cannot find 'a\x00b.rasp'"),
    ("(tokens)([]);", 1, 10, "must not be empty"),
    ("(tokens)(5);", 1, 10, "must be a string or a list"),
    ("set example 5", 1, 13, "must be a string or a list"),
    # limits
    ("def f(n) { return f(n + 1); }\nx = f(1);", 1, 19, "too many nested calls"),
]


def _error(program: str) -> RaspError:
    with pytest.raises(RaspError) as info:
        Interpreter(warn=lambda text: None).run(program, "prog.rasp")
    return info.value


@pytest.mark.parametrize("program, line, column, words", CASES, ids=[c[3] for c in CASES])
def test_position_and_message(program, line, column, words):
    error = _error(program)
    assert (error.filename, error.line, error.column) == ("prog.rasp", line, column)
    assert words in error.message
    text = str(error)
    assert text.startswith(f"prog.rasp:{line}:{column}: error: ")
    assert "Traceback" not in text


def test_carets_span_the_offending_source():
    text = str(_error("y = 1;\nz = y + missing;"))
    assert text.splitlines()[1:] == ["  2 | z = y + missing;", "    |         ^^^^^^^"]


def test_an_error_inside_a_function_names_the_call_site():
    program = ("def mean_of(s) {\n"
               "    return aggregate(full_s, s);\n"
               "}\n"
               "x = mean_of(tokens);\n"
               "(x)(\"ab\");\n")
    error = _error(program)
    assert (error.line, error.column) == (2, 12)
    notes = [(note.text, note.span.line, note.span.column) for note in error.notes]
    assert notes == [("in 'mean_of' called here", 4, 5),
                     ('while evaluating on the input "ab"', 5, 1)]
    text = str(error)
    assert "prog.rasp:4:5: note: in 'mean_of' called here" in text


def test_errors_in_loaded_files_point_into_the_file(tmp_path):
    (tmp_path / "lib.rasp").write_text("a = 1;\nb = nothing;\n")
    main = tmp_path / "main.rasp"
    main.write_text("load \"lib\";\n")
    with pytest.raises(RaspError) as info:
        Interpreter().run(main.read_text(), str(main))
    error = info.value
    assert (error.filename, error.line, error.column) == (str(tmp_path / "lib.rasp"), 2, 5)
    assert error.notes[0].span.source.name == str(main)


def test_format_error_expands_tabs_and_marks_at_least_one_column():
    source = Source("t.rasp", "\tx = ;\n")
    error = RaspSyntaxError("oops", Span(source, 1, 6, 1, 6))
    lines = format_error(error).splitlines()
    assert lines == ["t.rasp:1:6: error: oops", "  1 |     x = ;", "    |         ^"]


def test_warning_severity():
    error = RaspError("careful", Span(Source("w.rasp", "a;"), 1, 1, 1, 2))
    assert format_error(error, "warning").startswith("w.rasp:1:1: warning: careful")


def test_an_entry_numbers_its_lines_from_where_it_starts():
    it = Interpreter()
    with pytest.raises(RaspError) as info:
        it.run("x = 1;\ny = nope;\n", "<stdin>", first_line=7)
    error = info.value
    assert (error.line, error.column) == (8, 5)
    assert str(error).splitlines()[1] == "  8 | y = nope;"
    assert error.span.source.text == "x = 1;\ny = nope;\n"  # no padding kept in memory


@pytest.mark.parametrize("program, column, message", [
    ("selector_width(tokens);", 16, "selector_width expects a selector, got s-op tokens"),
    ("has_focus(indices);", 11, "has_focus expects a selector, got s-op indices"),
    ("sort(tokens, full_s);", 14, "sort expects an s-op as 'key', got selector full_s"),
    ('load "dyck"; dyck_k("()");', 21, 'dyck_k expects a list, got "()"'),
])
def test_wrong_arguments_to_the_library_are_told_at_the_call(program, column, message):
    error = _error(program)
    assert (error.filename, error.line, error.column) == ("prog.rasp", 1, column)
    assert error.message == message


def test_an_error_inside_the_library_is_reported_at_the_users_call():
    """The user's own call is where the error is; where the library failed is a note."""
    error = _error('load "dyck";\nx = dyck_k(["("]);')
    assert (error.filename, error.line, error.column) == ("prog.rasp", 2, 5)
    assert error.message.startswith("dyck_k: index 1 out of range")
    (note,) = error.notes
    assert note.kind == "library" and "inside the library's 'dyck_k'" in note.text
    assert note.span.source.name.endswith("dyck.rasp")
    # also when it fails later, on an input, and below a user's own function
    error = _error("def f(s) { return average(s); }\nx = f(tokens);\nx(\"ab\");")
    assert (error.line, error.column) == (1, 19)
    assert error.message.startswith("average: aggregate cannot average strings")
    assert [note.text for note in error.notes][1:] == ["in 'f' called here", "while evaluating "
                                                       "on the input \"ab\""]
    assert [note.kind for note in error.notes] == ["library", "call", "input"]


def test_a_file_of_the_library_run_itself_keeps_its_own_positions():
    """Running a library file as the program: there is no user call to move errors to."""
    from rasp.env import example_library

    name = str(example_library() / "dyck.rasp")
    with pytest.raises(RaspError) as info:
        Interpreter().run("def g(s) { return s or full_s; }\nx = g(tokens);", name)
    assert (info.value.filename, info.value.line, info.value.column) == (name, 1, 19)


def test_no_suggestion_when_nothing_is_close():
    assert _error("x = qqq;").message == "undefined name 'qqq'"
    it = Interpreter()
    it.run("analyze = 3;")  # not a keyword, as in the original: the name stays usable
    assert it.value("analyze") == 3


def test_a_huge_line_is_shown_as_a_window_around_the_caret():
    program = "x = [" + "1, " * 40000 + "qqq" + ", 2" * 1000 + "];"
    text = str(_error(program))
    assert len(text) < 400
    source, carets = text.splitlines()[1:3]
    assert source.startswith("  1 | ...") and source.endswith("...")
    assert source[carets.index("^"):].startswith("qqq")
    assert carets.count("^") == 3


def _files(tmp_path, **files):
    for name, text in files.items():
        (tmp_path / f"{name}.rasp").write_text(text, encoding="utf-8")
    return tmp_path


def test_a_load_cycle_is_caught_where_it_closes_and_names_the_files(tmp_path):
    _files(tmp_path, a='load "b";\n', b='x = 1;\nload "a";\n')
    with pytest.raises(RaspError) as info:
        Interpreter().run('load "b";\n', str(tmp_path / "a.rasp"))
    error = info.value
    assert error.message == "a load cycle: a.rasp loads b.rasp loads a.rasp"
    assert error.filename.endswith("b.rasp") and error.line == 2


def test_loading_a_file_with_a_syntax_error_notes_the_load(tmp_path):
    _files(tmp_path, bad="x = 1\ny = 2;\n", main="")
    with pytest.raises(RaspSyntaxError) as info:
        Interpreter().run('load "bad";', str(tmp_path / "main.rasp"))
    assert info.value.filename.endswith("bad.rasp")
    assert [(n.text, n.kind) for n in info.value.notes] == [("in the file loaded here", "load")]


def test_load_takes_the_suffix_and_a_byte_order_mark(tmp_path):
    _files(tmp_path, marked="\ufeffx = 1;\n", main="")
    it = Interpreter()
    it.run('load "marked.rasp"; load "sort.rasp";', str(tmp_path / "main.rasp"))
    assert it.value("x") == 1
    assert Interpreter().run("\ufeff(indices)(\"ab\");") == "\t =  [0, 1] (ints)\n"


def test_a_failing_statement_of_a_loaded_file(tmp_path):
    """Piped (as the original's REPL): reported, the rest of the file runs, the exit code says
    it failed. A script stops there; the names assigned before stay defined."""
    import io

    from rasp.commands import main

    _files(tmp_path, lib="a = 1;\nb = nope;\nc = 3;\n")
    out, err = io.StringIO(), io.StringIO()
    code = main([], stdin=io.StringIO(f'load "{tmp_path / "lib"}";\nc;\n'), stdout=out,
                stderr=err)
    assert code == 70
    assert "lib.rasp:2:5: error: undefined name 'nope'" in err.getvalue()
    assert "in the file loaded here" in err.getvalue()
    assert out.getvalue().splitlines()[-1] == "    value: c =  3"
    it = Interpreter()
    with pytest.raises(RaspError, match="nope"):
        it.run(f'load "{tmp_path / "lib"}";')
    assert it.value("a") == 1 and "c" not in it.names()
