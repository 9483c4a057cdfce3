"""The REPL's logic without a terminal: prompt_toolkit reads keystrokes from a pipe and draws
on a dummy output; the completer is called directly (Tab completes asynchronously, so a pipe
cannot wait for it)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, InMemoryHistory, ThreadedHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from rasp import commands, runner
from rasp.env import example_library
from rasp.interpreter import Interpreter
from rasp.repl import (
    MAX_FAILURES,
    RaspCompleter,
    Repl,
    history_path,
    make_session,
    open_history,
)
from rasp.runner import HELP, entry_status, meta_command

UP, LEFT, CTRL_C, CTRL_D = "\x1b[A", "\x1b[D", "\x03", "\x04"


@pytest.fixture
def pipe():
    with create_pipe_input() as pipe_input:
        yield pipe_input


def interpreter(out: io.StringIO | None = None, err: io.StringIO | None = None) -> Interpreter:
    out, err = out or io.StringIO(), err or io.StringIO()
    return Interpreter(out=lambda line: out.write(line + "\n"),
                       warn=lambda line: err.write(line + "\n"), interactive=True)


def prompt(pipe, keys: str, history=None) -> str:
    pipe.send_text(keys)
    return make_session(interpreter(), input=pipe, output=DummyOutput(), history=history).prompt()


class Session:
    """A whole REPL session fed by keystrokes: what it printed, and how it ended."""

    def __init__(self, pipe, keys: str, show_traceback: bool = False, patch=None):
        self.out, self.err = io.StringIO(), io.StringIO()
        self.interpreter = interpreter(self.out, self.err)
        if patch:
            patch(self.interpreter)
        pipe.send_text(keys + CTRL_D)
        session = make_session(self.interpreter, input=pipe, output=DummyOutput())
        self.code = Repl(self.interpreter, session, self.out, self.err, show_traceback).run()
        self.printed = self.out.getvalue().split("\n", 3)[3]  # after the banner


# ---------------------------------------------------------------- when Enter runs an entry

@pytest.mark.parametrize("text, status", [
    ("x = 1;", "complete"),
    ("a = 1; b = 2;", "complete"),
    ("x = 1 +", "incomplete"),
    ("x = 1", "incomplete"),
    ("def f(a) {", "incomplete"),
    ("x = [1,\n", "incomplete"),
    ("x = = 1;", "invalid"),
    ('x = "abc', "invalid"),
    ("", "complete"),
    ("# a comment", "complete"),
    ('set example "hey"', "complete"),
    ("help", "complete"),
    ("  names all ", "complete"),
    ("names", "complete"),
    ("help me", "invalid"),
])
def test_entry_status(text, status):
    assert entry_status(text) == status


@pytest.mark.parametrize("text, command", [
    ("help", "help"), (" names ", "names"), ("names  all", "names all"),
    ("help;", None), ("names;", None), ("names = 1;", None), ("helpful", None),
])
def test_meta_command(text, command):
    assert meta_command(text) == command


def test_incomplete_lines_are_joined_until_complete(pipe):
    assert prompt(pipe, "x = (1 +\r2);\r") == "x = (1 +\n2);"


def test_missing_semicolon_waits_for_it(pipe):
    assert prompt(pipe, "x = 1\r;\r") == "x = 1\n;"


def test_function_body_is_indented_and_the_brace_dedented(pipe):
    assert prompt(pipe, "def f(a) {\rb = a;\rreturn b;\r}\r") == (
        "def f(a) {\n    b = a;\n    return b;\n}")


def test_typing_the_indentation_does_not_double_it(pipe):
    """Typed key by key, a body indented by hand comes out as pasted; deeper stays deeper."""
    assert prompt(pipe, "def f(a) {\r    b = a;\r    return b;\r}\r") == (
        "def f(a) {\n    b = a;\n    return b;\n}")
    assert prompt(pipe, "def f(a) {\r      return a;\r}\r") == (
        "def f(a) {\n      return a;\n  }")  # two more than Enter gave: kept
    assert prompt(pipe, "def f(a) {\r\treturn a;\r}\r") == "def f(a) {\n    return a;\n}"


def test_tab_indents_at_the_start_of_a_line(pipe):
    assert prompt(pipe, "x = [1,\r\t2];\r") == "x = [1,\n    2];"


def test_invalid_input_is_submitted(pipe):
    assert prompt(pipe, "x = = 1;\r") == "x = = 1;"


def test_several_statements_on_one_line(pipe):
    assert prompt(pipe, "a = 1; b = a + 1;\r") == "a = 1; b = a + 1;"


def test_enter_with_the_cursor_inside_the_last_line_runs_it(pipe):
    assert prompt(pipe, "x = 1;" + LEFT * 3 + "\r") == "x = 1;"


def test_a_second_empty_line_runs_an_incomplete_entry(pipe):
    assert prompt(pipe, "x = 1\r\r\r") == "x = 1\n\n"


def test_alt_enter_runs_an_incomplete_entry(pipe):
    assert prompt(pipe, "x = 1\x1b\r") == "x = 1"


def test_ctrl_c_abandons_the_entry(pipe):
    with pytest.raises(KeyboardInterrupt):
        prompt(pipe, "x = (1 +" + CTRL_C)


def test_ctrl_d_on_an_empty_line_ends(pipe):
    with pytest.raises(EOFError):
        prompt(pipe, CTRL_D)


def test_ctrl_d_in_a_line_does_not_end(pipe):
    assert prompt(pipe, "x" + CTRL_D + " = 1;\r") == "x = 1;"


def test_up_recalls_the_previous_entry(pipe):
    session = make_session(interpreter(), input=pipe, output=DummyOutput())
    pipe.send_text("x = 1;\r")
    session.prompt()
    pipe.send_text("y = 2;\r")
    session.prompt()
    pipe.send_text("x" + UP + "\r")  # Up searches for entries starting with what is typed
    assert session.prompt() == "x = 1;"


def test_suggestions_come_from_the_history(pipe):
    session = make_session(interpreter(), input=pipe, output=DummyOutput())
    pipe.send_text("hist = selector_width(select(tokens, tokens, ==));\r")
    session.prompt()
    suggestion = session.auto_suggest.get_suggestion(session.default_buffer, Document("hist ="))
    assert suggestion.text == " selector_width(select(tokens, tokens, ==));"


# ---------------------------------------------------------------- history

def test_history_persists_in_a_file(pipe, tmp_path):
    path = tmp_path / "history"
    assert prompt(pipe, "x = 1;\r", history=FileHistory(str(path))) == "x = 1;"
    pipe.send_text(UP + "\r")
    session = make_session(interpreter(), input=pipe, output=DummyOutput(),
                           history=FileHistory(str(path)))
    assert session.prompt() == "x = 1;"


def test_history_path_flag_then_environment_then_data_folder(monkeypatch, tmp_path):
    assert history_path(str(tmp_path / "h"), {"RASP_HISTORY": "/x"}) == tmp_path / "h"
    assert history_path(None, {"RASP_HISTORY": str(tmp_path / "e")}) == tmp_path / "e"
    assert history_path("", {"RASP_HISTORY": "/x"}) is None
    assert history_path(None, {"RASP_HISTORY": ""}) is None
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert history_path(None, {}) == tmp_path / "data" / "rasp" / "history"


def test_open_history(tmp_path):
    warnings: list[str] = []
    history = open_history(tmp_path / "new" / "history", warnings.append)
    assert isinstance(history, ThreadedHistory) and (tmp_path / "new" / "history").exists()
    assert isinstance(open_history(None, warnings.append), InMemoryHistory)
    (tmp_path / "file").write_text("")
    unusable = open_history(tmp_path / "file" / "history", warnings.append)
    assert isinstance(unusable, InMemoryHistory)
    assert warnings and warnings[0].startswith("rasp: the history is not kept: cannot write")


# ---------------------------------------------------------------- completion

def completions(text: str, it: Interpreter | None = None) -> dict[str, str]:
    completer = RaspCompleter(it or interpreter())
    found = completer.get_completions(Document(text), CompleteEvent(completion_requested=True))
    return {c.text: c.display_meta_text for c in found}


def test_completes_keywords_builtins_and_library():
    assert completions("sel") == {
        "selector examples on": "command", "selector examples off": "command",
        "select": "built-in", "selector": "keyword", "selector_width": "function(sel)",
        "select_from_first": "function(seq, val)", "select_from_last": "function(seq, val)",
        "select_next_identical": "function(seq)"}
    assert completions("x = ret") == {"return": "keyword"}
    assert completions("x = le") == {"len": "built-in", "length": "s-op"}
    assert completions("hel") == {"help": "REPL help"}


def test_completes_names_defined_and_loaded():
    it = interpreter()
    it.run('my_hist = selector_width(select(tokens, tokens, ==)); my_sel = '
           'select(indices, indices, <); my_n = 3; def my_f(a, b) { return a; } '
           'load "paper_examples";')
    assert completions("x = my_", it) == {"my_hist": "s-op", "my_sel": "selector",
                                          "my_n": "value", "my_f": "function(a, b)"}
    assert completions("(rev", it) == {"reverse": "s-op"}
    assert completions("dyckk", it) == {"dyckk_ptf": "function(paren_pairs)"}
    assert completions("_", it) == {}  # a file's private names stay private


def test_completes_commands_whole():
    assert completions("full") == {"full seq display on": "command",
                                   "full seq display off": "command", "full_s": "selector"}
    found = RaspCompleter(interpreter()).get_completions(Document("x = 1; set s"),
                                                         CompleteEvent())
    assert {(c.text, c.start_position) for c in found} == {
        ("set s-op example", -5), ("set selector example", -5)}


def test_nothing_is_completed_in_strings_and_comments():
    assert completions('x = "sel') == {}
    assert completions("x = 1; # sel") == {}


def test_completes_loadable_files(tmp_path, monkeypatch):
    (tmp_path / "mine.rasp").write_text("m = 1;\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.rasp").write_text("d = 1;\n")
    monkeypatch.chdir(tmp_path)
    shipped = {p.stem: "example" for p in example_library().glob("*.rasp")}
    assert {"paper_examples", "long_addition", "sort", "dyck"} <= set(shipped)
    assert completions('load "') == {"mine": "file", **shipped}
    assert completions('load "pap') == {"paper_examples": "example"}
    assert completions('load "sub/') == {"sub/deep": "file"}


# ---------------------------------------------------------------- the loop

def test_session_prints_results_and_goes_on_after_errors(pipe):
    session = Session(pipe, 'def double(s) {\rreturn s * 2;\r}\r(double(indices))("abc");\r'
                            "y = nope;\rz = = 1;\rz = 5;\r")
    assert session.code == 0
    assert session.printed == ("     console function: double(s)\n"
                               "\t =  [0, 2, 4] (ints)\n"
                               "    value: z =  5\n")
    errors = session.err.getvalue()
    assert errors.startswith("<stdin>:5:5: error: undefined name 'nope'\n  5 | y = nope;\n")
    assert "<stdin>:6:5: error: unexpected '='" in errors


def test_named_values_show_on_the_running_example(pipe):
    session = Session(pipe, 'set example "hey"\rs = select(indices, indices, ==);\r'
                            "x = indices;\rshow example\r")
    assert session.printed == (
        "     selector: s\n \t Example:\n \t\t\t     h e y\n \t\t\t h | 1    \n"
        " \t\t\t e |   1  \n \t\t\t y |     1\n"
        '     s-op: x\n \t Example: x("hey") = [0, 1, 2] (ints)\n'
        '\ts-op example: "hey"\n\tselector example: "hey"\n')


def test_ctrl_c_clears_the_entry_and_the_session_goes_on(pipe):
    session = Session(pipe, CTRL_C + "x = (1 +" + CTRL_C + "x = 5;\r")
    assert session.printed == "    value: x =  5\n"  # silently: nothing was running
    assert session.err.getvalue() == ""


def test_interrupted_evaluation_keeps_earlier_definitions(pipe):
    def interrupt_applications(it: Interpreter) -> None:
        def apply(*args, **kwargs):
            raise KeyboardInterrupt
        it.apply = apply  # every evaluation on an input is "interrupted"

    session = Session(pipe, 'x = 7;\r(indices)("abc");\rx + 1;\r', patch=interrupt_applications)
    assert session.printed == "    value: x =  7\n    value: out =  8\n"
    assert session.err.getvalue().startswith("interrupted: the entry was stopped")


def test_a_second_ctrl_c_while_the_first_is_reported_does_not_end_the_session(pipe):
    class Jumpy(io.StringIO):
        """Ctrl-C strikes again while the first one is being reported."""
        struck = False

        def write(self, text: str) -> int:
            if text.startswith("interrupted") and not self.struck:
                self.struck = True
                raise KeyboardInterrupt
            return super().write(text)

    out, err = io.StringIO(), Jumpy()
    it = interpreter(out)

    def apply(*args, **kwargs):
        raise KeyboardInterrupt
    it.apply = apply  # type: ignore[method-assign]
    pipe.send_text('(indices)("ab");\rx = 5;\r' + CTRL_D)
    assert Repl(it, make_session(it, input=pipe, output=DummyOutput()), out, err).run() == 0
    assert out.getvalue().endswith("    value: x =  5\n")
    assert err.getvalue().startswith("interrupted")


def test_exit_ends_the_session(pipe):
    session = Session(pipe, "x = 1;\rexit\ry = 2;\r")
    assert (session.code, session.printed) == (0, "    value: x =  1\n")


def test_help_and_names(pipe, tmp_path, monkeypatch):
    (tmp_path / "mine.rasp").write_text("m = indices;\n_private = 1;\n")
    monkeypatch.chdir(tmp_path)
    session = Session(pipe, "names\rhelp\rn = 3;\rload \"mine\";\rnames\rnames all\r")
    printed = session.printed.split("\n")
    assert printed[0] == "nothing is defined yet (names all: the library too)"
    assert "\n".join(printed[1:]).startswith(HELP)
    after = printed[1 + HELP.count("\n"):]
    assert after[:5] == ["    value: n =  3", "     s-op: m", "     s-op: m", "    value: n",
                         "library:"]
    assert after[5].startswith("     s-op: tokens_str, tokens_int, ")
    assert after[-4:] == ["this session:", "     s-op: m", "    value: n", ""]


def test_internal_error_is_one_line_and_the_session_goes_on(pipe):
    def break_run(it: Interpreter) -> None:
        real = it.outcomes

        def outcomes(text, filename="<string>", first_line=1):
            if "boom" in text:
                raise ValueError("boom")
            return real(text, filename, first_line)
        it.outcomes = outcomes

    session = Session(pipe, "boom;\rx = 1;\r", patch=break_run)
    assert session.err.getvalue() == (
        "internal error: ValueError: boom -- a bug in rasp; please report it with the input "
        "that caused it (--traceback shows where)\n")
    assert session.printed == "    value: x =  1\n"
    with create_pipe_input() as again:
        traced = Session(again, "boom;\r", show_traceback=True, patch=break_run)
    assert traced.err.getvalue().startswith("Traceback (most recent call last):")


def test_a_broken_prompt_gives_up_instead_of_spinning():
    class Broken:
        calls = 0

        def prompt(self) -> str:
            Broken.calls += 1
            raise RuntimeError("terminal gone")

    err = io.StringIO()
    code = Repl(interpreter(), Broken(), io.StringIO(), err).run()  # type: ignore[arg-type]
    assert (code, Broken.calls) == (runner.EXIT_INTERNAL, MAX_FAILURES)
    assert err.getvalue().count("internal error: RuntimeError: terminal gone") == MAX_FAILURES


def test_errors_are_numbered_over_the_session(pipe):
    session = Session(pipe, "a = 1;\rb = [1,\r2];\rc = nope;\r")
    assert session.err.getvalue().startswith("<stdin>:4:5: error: undefined name 'nope'")


def test_colour_in_the_session(pipe):
    session = Session(pipe, "x = indices;\r",
                      patch=lambda it: setattr(it.settings, "colour", True))
    assert session.printed.startswith("     \x1b[36ms-op:\x1b[0m \x1b[1mx\x1b[0m\n")


def test_cli_flags_reach_the_repl(monkeypatch):
    seen = {}

    def fake_repl(out, err, history_file=None, show_traceback=False):
        seen.update(history_file=history_file, show_traceback=show_traceback)
        return 0

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    import rasp.repl
    monkeypatch.setattr(rasp.repl, "run_repl", fake_repl)
    assert commands.main(["--history-file", "/tmp/h", "--traceback"], stdin=Terminal()) == 0
    assert seen == {"history_file": "/tmp/h", "show_traceback": True}


def test_traceback_flag_for_scripts(monkeypatch):
    def broken(self, text, filename="<string>"):
        raise ValueError("boom")

    monkeypatch.setattr(Interpreter, "outcomes", broken)
    for flag, traced in (([], False), (["--traceback"], True)):
        err = io.StringIO()
        assert commands.main([*flag, "-c", "1;"], stdout=io.StringIO(), stderr=err) == 70
        assert err.getvalue().startswith("Traceback") is traced
        assert err.getvalue().endswith("(--traceback shows where)\n")


def test_the_repl_module_is_not_imported_by_scripts():
    import subprocess
    import sys
    code = ("import sys, rasp.commands; rasp.commands.main(['-c', '1;']); "
            "print('rasp.repl' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent.parent, timeout=60)
    assert result.stdout.splitlines()[-1] == "False"


def test_the_session_in_the_cli_doc(pipe):
    """docs/cli.md shows a REPL session: typed again, it prints what the page says."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    block = doc[doc.index("## The REPL"):].split("```")[1].strip("\n").split("\n")
    assert block[0] == "$ rasp"
    typed = [line[3:] for line in block[1:] if line[:3] in (">> ", ".. ")]
    expected = [line for line in block[1:] if line[:3] not in (">> ", ".. ")]
    out = io.StringIO()
    it = interpreter(out)
    pipe.send_text("".join(line.strip() + "\r" for line in typed) + CTRL_D)
    Repl(it, make_session(it, input=pipe, output=DummyOutput()), out, io.StringIO()).run()
    assert out.getvalue().splitlines() == expected


def test_every_statement_of_the_help_primer_runs_in_a_fresh_session(tmp_path, monkeypatch):
    """What `help` suggests typing works as typed, each alone in a fresh session (`load`
    need not come first) and all in order in one."""
    monkeypatch.chdir(tmp_path)  # draw writes its picture in comp_flows/ here
    primer = HELP.split("Commands:")[0].splitlines()[2:]
    statements = [code for line in primer if (code := line[2:33].strip()).endswith(";")]
    assert len(statements) == 6 and statements[-1] == 'compile(length, "abc", 8);'
    for statement in statements:
        Interpreter(warn=lambda line: None).run(statement)
    it = Interpreter(warn=lambda line: None)
    for statement in statements:
        it.run(statement)
