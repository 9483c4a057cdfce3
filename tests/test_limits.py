"""Resource limits and interrupts: each is one clear, positioned error (an interrupt: a
KeyboardInterrupt), reached quickly, after which the session goes on with everything defined
before it intact: values too large to build, the memory budget, nesting too deep, unbounded
recursion, load cycles, Ctrl-C during an evaluation."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from rasp import Interpreter, attention, engine, evaluator, interpreter, values
from rasp.errors import RaspLimitError, RaspNameError, RaspValueError
from rasp.interpreter import PYTHON_RECURSION_LIMIT
from rasp.runner import run_piped

SETUP = "keep = indices + 1; def twice(a) { return a * 2; }"


@pytest.fixture(autouse=True)
def deep_recursion():
    """The recursion limit the `rasp` command sets for itself (cli.entry): a library that
    imports rasp keeps its own, and deep programs give 'nested too deeply' sooner there."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, PYTHON_RECURSION_LIMIT))
    yield
    sys.setrecursionlimit(limit)


def session() -> Interpreter:
    it = Interpreter(warn=lambda text: None)
    it.run(SETUP)
    return it


def assert_intact(it: Interpreter) -> None:
    """What was defined before still works, and the session's stacks are empty."""
    assert it.evaluate("twice(keep)", "abc") == [2, 4, 6]
    assert it.value("twice(21)") == 42
    assert (it.evaluator.calls, it.evaluator.loading) == ([], [])


# (program, line, column, words of the message)
SIZES = [
    ("x = 2 ^ 20000;", 1, 5, "integer too large"),
    ("x = 3 ^ 1000000000;", 1, 5, "integer too large"),
    ("x = 2 ^ 10000;\ny = x * x;", 2, 5, "integer too large"),
    ('x = "ab" * 10000000000;', 1, 5, "string too long"),
    ("x = [0] * 100000000000;", 1, 5, "list too long"),
    ('x = "a";\nfor i in range(40) { x = x + x; }', 2, 26, "string too long"),
    ("x = range(1000000000000);", 1, 5, "range too long"),
    ("x = range(10000000000000000000);", 1, 5, "range too long"),
    ('(tokens * 100000000)("ab");', 1, 2, "string too long"),
    ("(tokens_asis ^ 100000)([3]);", 1, 2, "integer too large"),
]


@pytest.mark.parametrize("program, line, column, words", SIZES, ids=[s[0] for s in SIZES])
def test_values_too_large_to_build(program, line, column, words):
    it = session()
    with pytest.raises(RaspLimitError) as info:
        it.run(program, "big.rasp")  # refused before the value is built
    assert (info.value.line, info.value.column) == (line, column)
    assert words in info.value.message
    assert_intact(it)


def test_the_largest_values_allowed_still_print():
    it = session()
    out = it.run("x = 2 ^ 12999; x; y = \"ab\" * 5000000;")
    assert out.startswith("    value: x =  " + str(2 ** 12999))
    assert len(it.value("y")) == 10_000_000


# A selection matrix too large for the memory budget is refused before anything is
# allocated. (Aggregates read their selections a block of rows at a time, so only a selector
# asked for as a whole needs its n x n bytes.)
def test_an_input_beyond_the_memory_budget_is_one_error():
    it = Interpreter(memory_limit=50_000_000, warn=lambda text: None)
    it.run(SETUP)
    tracemalloc.start()
    try:
        with pytest.raises(RaspLimitError) as info:
            it.evaluate("select(indices, indices, <)", "a" * 100_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "100000" in info.value.message  # it names the input's length
    assert peak < 50_000_000
    assert_intact(it)


def test_running_out_of_memory_is_one_positioned_error(monkeypatch):
    # what numpy raises when it cannot allocate an array, until the budget above refuses first
    def no_memory(*args):
        raise MemoryError
    monkeypatch.setattr(attention, "compare_rows", no_memory)
    it = session()
    with pytest.raises(RaspLimitError) as info:
        it.run("y = 1;\n(select(indices, indices, ==))(\"abc\");", "big.rasp")
    assert (info.value.line, info.value.column) == (2, 1)
    assert info.value.message == "not enough memory to evaluate this"
    monkeypatch.undo()
    assert_intact(it)


# ---------------------------------------------------------------- nesting and recursion

DEEP = [
    ("parentheses", "x = " + "(" * 10_000 + "1" + ")" * 10_000 + ";", 1),
    ("calls", "x = " + "twice(" * 5_000 + "1" + ")" * 5_000 + ";", 2 ** 5000),
    ("lists", "x = " + "[" * 3_000 + "]" * 3_000 + ";", None),
    ("operators", "x = 1" + " + 1" * 5_000 + ";", 5001),
]


@pytest.mark.parametrize("program, value", [d[1:] for d in DEEP], ids=[d[0] for d in DEEP])
def test_deep_but_reasonable_nesting_evaluates(program, value):
    it = session()
    it.run(program)
    if value is not None:
        assert it.value("x") == value
    assert_intact(it)


TOO_DEEP = [
    ("prefix operators", "y = 1;\nx = " + "-" * 50_000 + "1;"),
    ("calls", "y = 1;\nx = " + "twice(" * 30_000 + "1" + ")" * 30_000 + ";"),
    ("a value", "y = 1;\nx = []; for i in range(30000) { x = [x]; }\nx;"),
]


@pytest.mark.parametrize("program", [t[1] for t in TOO_DEEP], ids=[t[0] for t in TOO_DEEP])
def test_nesting_too_deep_is_one_positioned_error(program):
    it = session()
    with pytest.raises(RaspLimitError) as info:
        it.run(program, "deep.rasp")
    assert info.value.message == "nested too deeply to evaluate"
    assert info.value.line > 1
    assert it.value("y") == 1
    assert_intact(it)


def test_nesting_too_deep_through_the_python_api():
    it = session()
    with pytest.raises(RaspLimitError) as info:
        it.value("-" * 50_000 + "1")
    assert (info.value.filename, info.value.line, info.value.column) == ("<expression>", 1, 1)
    assert_intact(it)


RECURSION = [
    ("on atoms", "def f(n) { return f(n + 1); }\nx = f(0);", "too many nested calls"),
    ("building s-ops", "def f(s) { return f(s + 1); }\nx = f(indices);",
     "too many nested calls"),
    ("mutual", "def f(n) { return g(n); }\ndef g(n) { return f(n); }\nx = f(0);",
     "too many nested calls"),
    # each call nests deeply too: Python's recursion runs out before the call limit
    ("deep bodies", "def f(n) { return " + "(1 + " * 150 + "f(n)" + ")" * 150 + "; }\nx = f(0);",
     "nested too deeply"),
]


@pytest.mark.parametrize("program, words", [r[1:] for r in RECURSION],
                         ids=[r[0] for r in RECURSION])
def test_unbounded_recursion_is_one_error(program, words):
    it = session()
    with pytest.raises(RaspLimitError) as info:
        it.run(program, "rec.rasp")
    assert info.value.span is not None
    assert words in info.value.message
    with pytest.raises(RaspNameError):
        it.value("x")
    assert_intact(it)


# ---------------------------------------------------------------- load cycles

def _files(folder: Path, **texts: str) -> Path:
    for name, text in texts.items():
        (folder / f"{name}.rasp").write_text(text)
    return folder / "main.rasp"


def test_a_load_cycle_is_one_error_and_keeps_what_was_loaded(tmp_path):
    main = _files(tmp_path, main='load "a";', a='from_a = 1;\nload "b";\n',
                  b='from_b = 2;\nload "a";\n')
    it = session()
    with pytest.raises(RaspValueError) as info:
        it.run(main.read_text(), str(main))
    error = info.value
    assert error.message == "a load cycle: a.rasp loads b.rasp loads a.rasp"
    assert (Path(error.filename).name, error.line, error.column) == ("b.rasp", 2, 1)
    assert [Path(note.span.source.name).name for note in error.notes] == ["a.rasp", "main.rasp"]
    assert (it.value("from_a"), it.value("from_b")) == (1, 2)
    assert_intact(it)


def test_a_file_loading_itself_is_a_cycle(tmp_path):
    main = _files(tmp_path, main='load "main";')
    with pytest.raises(RaspValueError, match="load cycle"):
        Interpreter().run(main.read_text(), str(main))


def test_loading_one_file_twice_without_a_cycle_is_fine(tmp_path):
    main = _files(tmp_path, main='load "b"; load "c";', b='load "d";', c='load "d";',
                  d="shared = 7;")
    it = session()
    it.run(main.read_text(), str(main))
    assert it.value("shared") == 7


# ---------------------------------------------------------------- interrupts

# Where the session's state changes: an interrupt anywhere else (lark, numpy, the pure
# kernels of ops.py) reaches these modules as an exception from the line that called it.
STATEFUL = {evaluator.__file__, interpreter.__file__, values.__file__, engine.__file__}
# The clean-up that runs after an interrupt is the one place an interrupt is not survived.
CLEAN_UP = Interpreter._entry.__wrapped__.__code__


def _interrupt_at(line: int, seen: list[int]):
    """A trace function raising KeyboardInterrupt at the `line`-th line run in STATEFUL."""
    def trace(frame, event, arg):
        if frame.f_code.co_filename not in STATEFUL or frame.f_code is CLEAN_UP:
            return None
        if event == "line":
            seen[0] += 1
            if seen[0] == line:
                raise KeyboardInterrupt
        return trace
    return trace


def _run_traced(it: Interpreter, program: str, filename: str, line: int) -> int:
    """Run `program`, interrupted at its `line`-th line of rasp code; the lines counted."""
    seen = [0]
    sys.settrace(_interrupt_at(line, seen))
    try:
        it.run(program, filename)
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(None)
    return seen[0]


def test_an_interrupt_anywhere_leaves_the_session_consistent(tmp_path):
    main = _files(tmp_path, lib="def double(s) { return s * 2; }\nhalf = average(indices);",
                  main='load "lib";\ny = double(indices) + 1;\n'
                       'z = aggregate(select(indices, indices, <), y);\n(z)("abcd");\nz;\n')
    program = main.read_text()
    expected = Interpreter(warn=lambda text: None).run(program, str(main))
    it, limit = session(), sys.getrecursionlimit()
    lines = _run_traced(it, program, str(main), line=0)  # a full run, counted
    for line in range(1, lines):  # one session, interrupted at each line in turn
        _run_traced(it, program, str(main), line)
        assert sys.getrecursionlimit() == limit
        assert all(isinstance(v, np.ndarray) for c in it._caches.values() for v in c.values())
        assert_intact(it)
    assert it.run(program, str(main)) == expected


def test_an_interrupt_in_piped_mode_keeps_the_definitions_before_it(monkeypatch):
    it = Interpreter(interactive=True, out=lambda line: None)
    original = attention.aggregate

    def interrupted(*args):
        monkeypatch.setattr(attention, "aggregate", original)
        raise KeyboardInterrupt
    monkeypatch.setattr(attention, "aggregate", interrupted)
    err = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        run_piped(it, io.StringIO("a = indices + 1;\nb = average(a);\nc = 3;\n"), io.StringIO(),
                  err)
    assert err.getvalue() == ""
    run_piped(it, io.StringIO("b = average(a);\n"), io.StringIO(), err)
    assert it.evaluate("b", "abc") == [2.0] * 3
    with pytest.raises(RaspNameError):
        it.value("c")  # the interrupt ended the stream


def test_ctrl_c_ends_piped_input_with_one_message():
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    rasp = subprocess.Popen([sys.executable, "-m", "rasp"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    rasp.stdin.write("x = 1;\nfor i in range(10000000) { x = x + 1; }\ny = 2;\n")
    rasp.stdin.close()
    first = rasp.stdout.readline()  # x is defined: the long loop is running
    rasp.send_signal(signal.SIGINT)
    out, err = rasp.stdout.read(), rasp.stderr.read()
    rasp.wait(timeout=30)
    assert (first, out) == ("    value: x =  1\n", "")
    assert (rasp.returncode, err) == (130, "KeyboardInterrupt\n")


# ---------------------------------------------------------------- caches

def test_the_value_caches_stay_within_their_budget(monkeypatch):
    monkeypatch.setattr(interpreter, "CACHE_BYTES", 20_000)
    it = session()
    for i in range(500):  # a long session: every statement caches new values
        it.run(f"x{i % 10} = indices + {i};")
        assert it.evaluate(f"x{i % 10}", "abcd") == [i, i + 1, i + 2, i + 3]
        assert sum(cache.nbytes for cache in it._caches.values()) <= 20_000 + 1_000


def test_drawing_works_when_the_caches_were_just_emptied(monkeypatch, tmp_path):
    monkeypatch.setattr(interpreter, "CACHE_BYTES", 0)
    it = Interpreter(out=lambda line: None, draw_dir=tmp_path)
    output = it.run('draw(aggregate(select(indices, indices, <), indices), "abc");')
    assert "[0, 0, 0.5] (floats)" in output
