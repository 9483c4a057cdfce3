"""Outcomes: what each top-level statement gives a session, as immutable data, and the one
plain-text rendering that scripts, piped input and the REPL print."""

from __future__ import annotations

import dataclasses
import io

import pytest

from rasp import Interpreter, RaspError
from rasp.outcomes import Analyzed, Drawn, Exited, Message, Reported, Shown, render
from rasp.runner import EXIT_RUNTIME, Ran, run_program


def _quiet(**kwargs) -> Interpreter:
    return Interpreter(warn=lambda text: None, **kwargs)


def test_each_statement_gives_one_typed_outcome(tmp_path):
    it = _quiet(draw_dir=tmp_path)
    program = 'x = 1;\nx;\nanalyze(length);\nshow example;\ndraw(indices, "ab");\n'
    outcomes = it.outcomes(program)
    assert [type(o) for o in outcomes] == [Shown, Analyzed, Message, Drawn]
    shown, analyzed, message, drawn = outcomes
    assert (shown.name, shown.value, shown.warning) == ("x", 1, None)
    assert analyzed.analysis.target.title == "length"
    assert message.lines == ('\ts-op example: "hello"', '\tselector example: "hello"')
    assert drawn.result.tolist() == [0, 1] and drawn.files  # the picture's files, written
    assert all(f.exists() for f in drawn.files)
    with pytest.raises(dataclasses.FrozenInstanceError):
        shown.value = 2  # type: ignore[misc]


def test_the_rendered_outcomes_are_what_run_prints(tmp_path):
    program = 'x = 1;\nx;\nanalyze(length);\nshow example;\ndraw(indices, "ab");\n'
    printed = _quiet(draw_dir=tmp_path).run(program)
    lines: list[str] = []
    for outcome in _quiet(draw_dir=tmp_path).outcomes(program):
        render(outcome, lines.append, lambda text: None)
    assert printed == "\n".join(lines) + "\n"


def test_exit_is_an_outcome_that_ends_the_program():
    assert [type(o) for o in _quiet().outcomes("1;\nexit;\n2;\n")] == [Shown, Exited]
    assert run_program(_quiet(), "1;\nquit;\n", "<stdin>", io.StringIO()) == Ran(0, True)


def test_a_value_failing_on_the_running_example_is_shown_with_a_warning():
    warnings: list[str] = []
    it = Interpreter(out=lambda line: None, warn=warnings.append)
    (shown,) = it.outcomes("x = tokens_int + 1;\nx;\n")
    assert shown.lines == ("     s-op: x",)  # the value, without the example
    assert isinstance(shown.warning, RaspError)
    assert shown.warning.context == ("'x' fails on the running example",)
    assert shown.warning.message.startswith("'x' fails on the running example: ")
    assert not shown.warning.text.startswith("'x'")  # what went wrong, kept apart
    assert warnings[0].startswith("<string>:2:1: warning: 'x' fails on the running example")


def test_a_loaded_file_that_fails_interactively_reports_and_goes_on(tmp_path):
    (tmp_path / "lib.rasp").write_text("a = 1;\nb = nope;\nc = 3;\n", encoding="utf-8")
    warned: list[str] = []
    it = Interpreter(out=lambda line: None, warn=warned.append, interactive=True)
    main = str(tmp_path / "main.rasp")
    (tmp_path / "main.rasp").write_text('load "lib";\n', encoding="utf-8")
    outcomes = it.outcomes('load "lib";\n', main)
    assert [type(o) for o in outcomes] == [Reported, Shown, Shown]
    assert outcomes[0].error.message == "undefined name 'nope'"
    assert [o.name for o in outcomes[1:]] == ["a", "c"]
    assert "lib.rasp:2:5: error: undefined name 'nope'" in warned[0]  # told as it went on
    assert run_program(it, 'load "lib";\n', main, io.StringIO()) == Ran(EXIT_RUNTIME, False)


def test_a_session_without_a_drawing_folder_writes_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (drawn,) = _quiet(draw_dir=None).outcomes('draw(indices, "ab");')
    assert drawn.files == () and not any(line.startswith("drawing:") for line in drawn.lines)
    assert list(tmp_path.iterdir()) == []


def test_a_compile_statement_gives_its_model_and_where_it_was_saved(monkeypatch, tmp_path):
    from rasp import compiler

    received: list = []
    it = _quiet()
    monkeypatch.chdir(tmp_path)
    outcomes = it.outcomes('compile(length, "ab", 3, "m");', sink=received.append)
    assert [type(o).__name__ for o in outcomes] == ["Built"] and received == outcomes
    assert outcomes[0].saved == "m.npz" and (tmp_path / "m.npz").exists()
    assert outcomes[0].lines[-1] == "saved m.npz"
    assert isinstance(outcomes[0].compiled, compiler.Compiled)
