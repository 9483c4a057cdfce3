"""Batches and long inputs: evaluate_batch agrees with one-by-one evaluation, errors name
their input, aggregates never build an n x n matrix, and the memory limit is a clear error."""

from __future__ import annotations

import io
import json
import random
import tracemalloc

import pytest

from rasp import Interpreter, RaspError
from rasp.commands import main
from rasp.errors import RaspLimitError
from rasp.interpreter import default_memory_limit

PROGRAMS = [
    "sort(tokens, tokens)",
    "selector_width(select(tokens, tokens, ==))",
    "aggregate(select(indices, indices, <=), indicator(tokens == \"a\"))",
    "tokens[-1] + tokens[0]",
    "dyck2_ptf",
    "hist2_bos",
    "\"b\" in tokens",
]


@pytest.fixture(scope="module")
def session():
    it = Interpreter()
    it.run('load "paper_examples";')
    return it


@pytest.mark.parametrize("expression", PROGRAMS)
def test_batch_equals_one_by_one(session, expression):
    rng = random.Random(expression)
    inputs = ["".join(rng.choice("ab(){}§") for _ in range(rng.choice([1, 3, 8, 9])))
              for _ in range(60)]
    assert session.evaluate_batch(expression, inputs) == [
        session.evaluate(expression, x) for x in inputs]


def test_batch_of_one_token_inputs_with_in(session):
    # `x in s-op` once built its constant from the batch size instead of the length
    assert session.evaluate_batch("0 in indices", ["a", "b"]) == [[True], [True]]
    assert session.evaluate_batch("3 in indices", ["a", "b", "c"]) == [[False]] * 3


def test_batch_of_selectors_and_lists(session):
    assert session.evaluate_batch("select(indices, indices, <)", ["ab", "c"]) == [
        [[False, False], [True, False]], [[False]]]
    it = Interpreter()
    it.run("set example [1]\ntokens = tokens_int; s = sort(tokens, tokens);")
    assert it.evaluate_batch("s", [[3, 1, 2], [5, 5, 4]]) == [[1, 2, 3], [4, 5, 5]]


def test_batch_error_names_the_input(session):
    with pytest.raises(RaspError) as info:
        session.evaluate_batch("aggregate(full_s, tokens)", ["a", "b", "cd", "e"])
    assert "cannot average strings" in info.value.message
    assert info.value.notes[-1].text == "in input 3 of the batch"


def test_batch_progress_is_reported(session):
    seen = []
    session.evaluate_batch("length", ["ab", "cd", "efg"], progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (3, 3) and len(seen) == 2  # one call per length


def test_cli_inputs_text_and_jsonl(tmp_path):
    (tmp_path / "p.rasp").write_text("x = sort(tokens, tokens);\n")
    (tmp_path / "in.txt").write_text('banana\n[3, 1, 2]\n"a b"\n')
    out = io.StringIO()
    args = [str(tmp_path / "p.rasp"), "--name", "x", "--inputs", str(tmp_path / "in.txt")]
    assert main(args, stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue().splitlines() == [
        "[a, a, a, b, n, n] (strings)", "[1, 2, 3] (strings)", "[ , a, b] (strings)"]
    out = io.StringIO()
    assert main(args + ["--format", "jsonl"], stdout=out, stderr=io.StringIO()) == 0
    first = json.loads(out.getvalue().splitlines()[0])
    assert first == {"input": "banana", "output": list("aaabnn")}


def test_a_long_sort_runs_and_is_right():
    it = Interpreter()
    it.run("set example [1]\ntokens = tokens_int; s = sort(tokens, tokens);")
    xs = [random.Random(7).randrange(10**6) for _ in range(10)] * 1000
    assert it.evaluate("s", xs) == sorted(xs)


def test_aggregates_do_not_build_whole_matrices():
    it = Interpreter()
    it.run("set example [1]\ntokens = tokens_int; s = sort(tokens, tokens);")
    xs = list(range(4000, 0, -1))
    tracemalloc.start()
    it.evaluate("s", xs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < len(xs) ** 2 / 2  # a selection matrix alone would be n * n bytes


def test_memory_limit_is_a_clear_error():
    it = Interpreter(memory_limit=1 << 20)
    with pytest.raises(RaspLimitError) as info:
        it.evaluate("select(indices, indices, <)", "a" * 2000)
    assert info.value.message.startswith("an input of length 2000 needs 4 MB per selection")
    assert it.evaluate("sort(tokens, tokens)", "cab") == ["a", "b", "c"]  # still usable
    assert len(it.evaluate("sort(tokens, tokens)", "x" * 2000)) == 2000  # no matrix needed


@pytest.mark.parametrize("text, limit", [("", 4 << 30), ("512M", 512 << 20), ("2g", 2 << 30),
                                         ("1000", 1000), (" 1.5k ", 1536)])
def test_memory_limit_from_the_environment(monkeypatch, text, limit):
    monkeypatch.setenv("RASP_MEMORY_LIMIT", text)
    assert default_memory_limit() == limit


@pytest.mark.parametrize("text", ["nonsense", "-5", "0", "1X", "nanM", "M"])
def test_a_memory_limit_that_is_not_a_size_is_refused(monkeypatch, text):
    """Not silently ignored: a clear error, and the command exits with a usage error."""
    monkeypatch.setenv("RASP_MEMORY_LIMIT", text)
    with pytest.raises(ValueError, match="RASP_MEMORY_LIMIT: .* is not a size"):
        default_memory_limit()
    err = io.StringIO()
    assert main(["-c", "1;"], stdout=io.StringIO(), stderr=err) == 64
    assert err.getvalue().startswith("rasp: RASP_MEMORY_LIMIT: ")


def _batch(tmp_path, program, lines, *options, stdin=None):
    (tmp_path / "p.rasp").write_text(program)
    (tmp_path / "in.txt").write_text(lines)
    out, err = io.StringIO(), io.StringIO()
    inputs = "-" if stdin is not None else str(tmp_path / "in.txt")
    code = main([str(tmp_path / "p.rasp"), "--name", "x", "--inputs", inputs, *options],
                stdin=io.StringIO(stdin or ""), stdout=out, stderr=err)
    return code, out.getvalue().splitlines(), err.getvalue()


def test_batch_lines_are_read_one_way_and_stay_aligned(tmp_path):
    """JSON is read the same whatever the spaces around it; an empty or bad line is an error
    at its line, with an empty result line, and the others still come out."""
    code, out, err = _batch(tmp_path, "x = sort(tokens, tokens);\n",
                            'ba\n\n [2, 1]\n[2, 1] \n[[]]\n[]\n[1, "a"\n"b a"\n')
    assert out == ["[a, b] (strings)", "", "[1, 2] (strings)", "[1, 2] (strings)", "", "", "",
                   "[ , a, b] (strings)"]
    assert code == 65
    for line in (2, 5, 6, 7):
        assert f"in.txt:{line}:1: error:" in err
    assert "in.txt:3:" not in err and "in.txt:8:" not in err


def test_batch_raw_reads_every_line_as_a_string(tmp_path):
    code, out, _ = _batch(tmp_path, "x = length;\n", '[1]\n[]\n"a"\n', "--raw")
    assert code == 0 and out == ["[3]*3 (ints)", "[2]*2 (ints)", "[3]*3 (ints)"]


def test_batch_goes_on_after_an_input_fails(tmp_path):
    code, out, err = _batch(tmp_path, "x = aggregate(full_s, tokens);\n", "a\nab\nc\n",
                            "--format", "jsonl")
    assert code == 70
    rows = [json.loads(line) for line in out]
    assert rows[0] == {"input": "a", "output": ["a"]} and rows[2]["output"] == ["c"]
    assert rows[1]["line"] == 2 and "cannot average strings" in rows[1]["error"]
    assert "in.txt:2:1: note: on input line 2" in err


def test_batch_inputs_from_stdin_and_selectors_as_matrices(tmp_path):
    code, out, _ = _batch(tmp_path, "x = select(tokens, tokens, ==);\n", "", stdin="ab\n")
    assert code == 0
    assert [line.strip() for line in out] == ["a b", "a | 1", "b |   1"]


def _batch_on_a_terminal(tmp_path, *options):
    """stderr is a pseudo-terminal; returns the exit code, the stdout lines, what the terminal
    got."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    pty = pytest.importorskip("pty")
    (tmp_path / "in.txt").write_text("".join("ab" * (i % 5 + 1) + "\n" for i in range(1500)))
    root = Path(__file__).resolve().parent.parent
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "rasp", "-c", "x = sort(tokens, tokens);", "--name", "x",
         "--inputs", str(tmp_path / "in.txt"), *options], cwd=root, stdout=subprocess.PIPE,
        stderr=secondary, stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=str(root)))
    os.close(secondary)
    out = process.stdout.read()
    process.wait(timeout=60)
    seen = b""
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:
            break
        if not data:
            break
        seen += data
    os.close(primary)
    return process.returncode, out.decode().splitlines(), seen.decode(errors="replace")


def test_a_long_batch_shows_a_progress_bar_on_a_terminal_only(tmp_path):
    code, out, terminal = _batch_on_a_terminal(tmp_path)
    assert code == 0 and len(out) == 1500
    assert "1500/1500" in terminal and "inputs" in terminal
    code, out, terminal = _batch_on_a_terminal(tmp_path, "--format", "jsonl")
    assert code == 0 and len(out) == 1500 and terminal == ""
    code, out, err = _batch(tmp_path, "x = length;\n", "ab\n" * 1500)  # stderr piped
    assert code == 0 and err == ""
