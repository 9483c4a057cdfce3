"""Inputs that used to kill a run or come out misaligned, and sizes bounded before anything
is allocated (issue 20, items 7-16): each test asserts what the user sees, one positioned
error or one line, the documented exit code, never a traceback, results aligned with inputs."""

from __future__ import annotations

import io
import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lark.lexer import LexerThread

from rasp import Interpreter, RaspError
from rasp.commands import main
from rasp.errors import format_error
from rasp.files import json_text
from rasp.parser import MAX_PROGRAM, input_status
from rasp.runner import chunks, run_piped, stream_lines

ROOT = Path(__file__).resolve().parent.parent
BAD_BYTES = b'x = indices;\ny = "a\xffb";\nz = x + 1;\n(z)("ab");\n'


def rasp(*args: str | bytes, stdin: bytes = b"", **env: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1", **env)
    return subprocess.run([sys.executable, "-m", "rasp", *args], input=stdin,
                          capture_output=True, env=environment, timeout=120)


def run(argv: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    """`rasp ARGV` in this process, stdin given as bytes (as a terminal or a file gives)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.TextIOWrapper(io.BytesIO(stdin), encoding="ascii"),
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def no_traceback(text: str | bytes) -> None:
    text = text.decode() if isinstance(text, bytes) else text
    assert "Traceback" not in text and "a bug in rasp" not in text, text


# ---------------------------------------------------------------- 7, 8: bytes and surrogates

@pytest.mark.parametrize("encoding", ["utf-8:strict", "utf-8:surrogateescape", "ascii"])
def test_piped_bytes_that_are_not_utf8_are_one_positioned_error_in_every_locale(encoding):
    """Item 7: stdin is read as bytes and decoded per entry, whatever the locale's codec."""
    result = rasp(stdin=BAD_BYTES, PYTHONIOENCODING=encoding)
    assert result.returncode == 65
    assert result.stdout.endswith(b"\t =  [1, 2] (ints)\n")  # the entries after it ran
    assert result.stderr.decode().startswith(
        "<stdin>:2:7: error: the byte 0xFF is not UTF-8 text (save the program as UTF-8)\n"
        '  2 | y = "a\\udcffb";\n')
    no_traceback(result.stderr)


def test_a_script_with_bytes_that_are_not_utf8_is_a_positioned_error(tmp_path):
    (tmp_path / "p.rasp").write_bytes(BAD_BYTES)
    code, out, err = run([str(tmp_path / "p.rasp")])
    assert (code, out) == (65, "")
    assert err.startswith(f"{tmp_path / 'p.rasp'}:2:7: error: the byte 0xFF is not UTF-8")


@pytest.mark.parametrize("command", [["compile", "--vocab", "ab", "--max-len", "3"],
                                     ["dataset", "--out", "unused"], ["analyze"]])
def test_subcommands_on_a_program_that_is_not_utf8_give_a_positioned_error(tmp_path,
                                                                         command):
    """Item 15: `train`, `dataset`, `compile` read the program as `rasp FILE` does."""
    (tmp_path / "p.rasp").write_bytes(BAD_BYTES)
    code, out, err = run([command[0], str(tmp_path / "p.rasp"), "z", *command[1:]])
    assert (code, out) == (65, "")
    assert err.startswith(f"{tmp_path / 'p.rasp'}:2:7: error: the byte 0xFF is not UTF-8")


def test_an_output_folder_that_cannot_be_made_is_one_line():
    code, out, err = run(["dataset", "paper_examples", "reverse", "--out", "/proc/rasp-x"])
    assert (code, out, err) == (64, "", "rasp dataset: No such file or directory: /proc/rasp-x\n")


def test_bad_bytes_and_lone_surrogates_fail_only_their_input_line(tmp_path):
    """Items 7 and 8: one bad line is one error at its line; the batch goes on, aligned."""
    (tmp_path / "p.rasp").write_text("x = sort(tokens, tokens);\n")
    inputs = b'ba\nc\xffd\n["\\ud800"]\n"\\udc80"\ncab\n'
    code, out, err = run([str(tmp_path / "p.rasp"), "--name", "x", "--inputs", "-"], inputs)
    assert code == 65
    assert out.split("\n") == ["[a, b] (strings)", "", "", "", "[a, b, c] (strings)", ""]
    assert "<stdin>:2:1: error: the byte 0xFF is not UTF-8 text (at column 2)" in err
    assert "<stdin>:3:1: error: a lone surrogate U+D800 is not text" in err
    assert "<stdin>:4:1: error: a lone surrogate U+DC80 is not text" in err
    no_traceback(err)


def test_surrogates_in_the_arguments_are_positioned_errors():
    """Item 15: bytes that are not UTF-8 in argv (Python gives them as surrogates)."""
    result = rasp("-c", b'(tokens)("a\xff");')
    assert result.returncode == 65
    assert result.stderr.decode().startswith("<string>:1:12: error: the byte 0xFF is not UTF-8")
    no_traceback(result.stderr)


# ---------------------------------------------------------------- 9: line ends

ODD = ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]


def test_inputs_lines_end_only_at_newline_and_carriage_return(tmp_path):
    """Item 9: U+2028, U+0085, \\x0b, \\x0c... are characters of their line: as many
    results as lines, and \\r\\n or \\r end lines as \\n does."""
    (tmp_path / "p.rasp").write_text("x = length;\n")
    lines = ["a" + odd + "b" for odd in ODD]
    (tmp_path / "in.txt").write_bytes(("\r\n".join(lines[:4]) + "\r" + "\n".join(lines[4:])
                                       + "\n").encode())
    code, out, err = run([str(tmp_path / "p.rasp"), "--name", "x", "--inputs",
                          str(tmp_path / "in.txt"), "--format", "jsonl"])
    assert (code, err) == (0, "")
    rows = [json.loads(line) for line in out.split("\n")[:-1]]
    assert [row["input"] for row in rows] == lines
    assert all(row["output"] == [3, 3, 3] for row in rows)


@pytest.mark.parametrize("odd", ODD)
def test_error_excerpts_count_lines_as_the_parser_does(odd):
    """An error after a line holding an odd character names and shows the right line."""
    with pytest.raises(RaspError) as caught:
        Interpreter().run(f'x = "a{odd}b";\ny = nope;\n', "p.rasp")
    assert format_error(caught.value).split("\n")[:2] == [
        "p.rasp:2:5: error: undefined name 'nope'", "  2 | y = nope;"]


@pytest.mark.parametrize("end", ["\r\n", "\r"])
def test_carriage_returns_end_lines_in_programs(end):
    with pytest.raises(RaspError) as caught:
        Interpreter().run(f"x = 1;{end}{end}y = nope;{end}", "p.rasp")
    assert format_error(caught.value).split("\n")[:2] == [
        "p.rasp:3:5: error: undefined name 'nope'", "  3 | y = nope;"]


def test_piped_lines_end_as_in_a_file():
    text = "x = 1;\ry = x +\r\n 1;\n(y)(\"a\u2028b\");\n"
    lines = list(stream_lines(io.TextIOWrapper(io.BytesIO(text.encode()))))
    assert lines == ["x = 1;", "y = x +", " 1;", '(y)("a\u2028b");']
    assert list(chunks(lines)) == [("x = 1;", 1), ("y = x +\n 1;", 2), ('(y)("a\u2028b");', 4)]


# ---------------------------------------------------------------- 10: linear piped entries

def _characters_lexed(monkeypatch, action) -> tuple[object, int]:
    """What `action()` gives, and the characters it had the lexer read."""
    lexed = [0]
    from_text = LexerThread.from_text.__func__  # type: ignore[attr-defined]

    def counted(cls, lexer, text):
        lexed[0] += len(text)
        return from_text(cls, lexer, text)

    with monkeypatch.context() as patched:
        patched.setattr(LexerThread, "from_text", classmethod(counted))
        return action(), lexed[0]


def _function(size: int) -> list[str]:
    return ["def f(s) {", *(f"    s{i} = s + {i};" for i in range(size)), "    return s;",
            "}", '(f(indices))("ab");']


def test_a_piped_function_is_read_once_not_once_per_line(monkeypatch):
    """Item 10: each line of an entry is lexed and parsed once, so the work grows with the
    entry, not with its square (a 400-line function took 105 s piped, 2 s as a script)."""
    lines = _function(400)
    entries, lexed = _characters_lexed(monkeypatch, lambda: list(chunks(lines)))
    assert entries == [("\n".join(lines[:-1]), 1), (lines[-1], 404)]
    assert lexed <= len("\n".join(lines)) + len(lines)


def test_the_count_of_characters_lexed_tells_quadratic_reading_apart(monkeypatch):
    """The measure above fails the old way: the whole entry read again at every line."""
    lines = _function(60)
    _, lexed = _characters_lexed(monkeypatch, lambda: list(chunks(lines)))
    _, again = _characters_lexed(monkeypatch, lambda: [
        input_status("\n".join(lines[:end])) for end in range(1, len(lines))])
    assert again > 20 * lexed


def test_piped_functions_still_run_as_the_repl_runs_them():
    out, err = io.StringIO(), io.StringIO()
    text = 'def f(s) {\n  t = select\n  (s, s, ==);\n  return selector_width(t);\n}\n' \
           '(f(tokens))("aab");\nexit 3\n\n'
    code = run_piped(Interpreter(interactive=True, out=lambda line: out.write(line + "\n")),
                     io.StringIO(text), out, err)
    assert "[2, 2, 1] (ints)" in out.getvalue()
    assert code == 65 and "<stdin>:7:1: error: 'exit' takes nothing after it" in err.getvalue()


# ---------------------------------------------------------------- 12, 13: sizes

def test_compile_max_len_beyond_the_value_bound_is_refused_at_once():
    """Item 12: refused before anything of that size is made (it allocated 12.8 GB)."""
    start = time.perf_counter()
    code, out, err = run(["compile", "paper_examples", "reverse", "--vocab", "ab",
                          "--max-len", "1000000000"])
    assert (code, out) == (64, "")
    assert err == ("rasp compile: --max-len: 1,000,000,000 positions are more values than one "
                   "s-op may have (--max-values 20,000), and the compiler's tables for 100,000 "
                   "lengths or more would take gigabytes before it said so\n")
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("command", ["dataset", "train"])
def test_dataset_lengths_are_checked_against_the_memory_limit(monkeypatch, tmp_path, command):
    monkeypatch.setenv("RASP_MEMORY_LIMIT", "1M")
    code, out, err = run([command, "paper_examples", "reverse", "--lengths", "1:2000",
                          "--out", str(tmp_path / "d")])
    assert (code, out) == (64, "")
    assert err == (f"rasp {command}: --lengths: an input of length 2,000 needs 0.0 GB per "
                   "selection matrix, over the memory limit of 0.0 GB (set RASP_MEMORY_LIMIT "
                   "to change it)\n")
    assert not (tmp_path / "d").exists()


def test_programs_over_the_size_bound_are_refused(tmp_path):
    """Item 13: the documented bound (docs/cli.md, Limits), one positioned error."""
    (tmp_path / "big.rasp").write_text("x = 1;\n" * (MAX_PROGRAM // 7 + 1))
    code, _, err = run([str(tmp_path / "big.rasp")])
    assert code == 70
    assert err.split("\n")[0] == (f"{tmp_path / 'big.rasp'}:1:1: error: the program is "
                                  f"{(MAX_PROGRAM // 7 + 1) * 7:,} characters long, over the "
                                  f"limit of {MAX_PROGRAM:,} (docs/cli.md, Limits)")


def test_endless_files_are_read_with_a_bound(tmp_path):
    """Item 15: /dev/zero as a program, an inputs file or piped input."""
    (tmp_path / "p.rasp").write_text("x = length;\n")
    code, _, err = run(["/dev/zero"])
    assert (code, err) == (64, "rasp: cannot read /dev/zero: it is over 4,000,000 bytes long, "
                           "the limit (docs/cli.md, Limits)\n")
    code, _, err = run([str(tmp_path / "p.rasp"), "--name", "x", "--inputs", "/dev/zero"])
    assert code == 64 and err.startswith("rasp: cannot read /dev/zero: it is over 100,000,000")
    with open("/dev/zero", "rb") as zero:
        err_stream = io.StringIO()
        code = run_piped(Interpreter(), io.TextIOWrapper(zero), io.StringIO(), err_stream)
    assert code == 64 and err_stream.getvalue() == (
        "<stdin>:1: error: a line longer than 1,000,000 characters (docs/cli.md, Limits); the "
        "rest of the input is not read\n")


# ---------------------------------------------------------------- 14: --scheduler

def test_a_malformed_scheduler_address_is_a_usage_error(tmp_path):
    code, out, err = run(["dataset", "paper_examples", "reverse", "--out", str(tmp_path / "d"),
                          "--format", "parquet", "--scheduler", "no such host::"])
    assert (code, out) == (64, "")
    assert err == ("rasp dataset: --scheduler: expected HOST:PORT (such as "
                   "tcp://10.0.0.5:8786), not 'no such host::'\n")


def test_a_scheduler_that_never_answers_is_given_up_on(monkeypatch):
    pytest.importorskip("distributed")
    from rasp.dataset import DatasetError, driver

    monkeypatch.setattr(driver, "CONNECT_TIMEOUT", 1)
    with socket.socket() as silent:  # takes the connection, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        start = time.perf_counter()
        with pytest.raises(DatasetError) as caught:
            driver._Dask(None, address)
    assert str(caught.value) == f"no Dask scheduler answered at {address} within 1 s"
    assert time.perf_counter() - start < 20


# ---------------------------------------------------------------- 15: what used to be a bug

def test_a_full_stdout_is_one_line():
    result = subprocess.run(f"{sys.executable} -m rasp -c '(tokens)(\"ab\");' > /dev/full",
                            shell=True, capture_output=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 64
    assert result.stderr == b"rasp: cannot write the output: No space left on device\n"


@pytest.mark.parametrize("option, message", [
    (["--seed", "-1"], "--seed: must be at least 0, not -1"),
    (["--seed", str(2 ** 32)], f"--seed: must be below 2^32, not {2 ** 32}"),
    (["--device", "bogus"], "--device: expected cpu, cuda, cuda:N or mps, not 'bogus'"),
    (["--gamma", "nan"], "--gamma: expected a finite number, not nan"),
    (["--gamma", "-1"], "--gamma: must be above 0 and at most 1, not -1"),
    (["--attention-weight", "nan"], "--attention-weight: expected a finite number, not nan"),
    (["--attention-weight", "-2"], "--attention-weight: must be at least 0, not -2"),
    (["--lr", "inf"], "--lr: expected a finite number, not inf"),
])
def test_train_option_values_out_of_range_are_usage_errors(option, message):
    """Items 15 and 16: one line, exit 64, before anything is read or trained."""
    code, out, err = run(["train", "paper_examples", "reverse", *option])
    assert (code, out, err) == (64, "", f"rasp train: {message}\n")


def test_a_huge_integer_and_a_symlink_loop_are_errors_of_the_program(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.rasp").symlink_to(tmp_path / "b.rasp")
    (tmp_path / "b.rasp").symlink_to(tmp_path / "a.rasp")
    code, _, err = run(["-c", f"x = {'9' * 5000};"])
    assert code == 70 and err.startswith("<string>:1:5: error: an integer of 5,000 digits: at "
                                         "most 4,300 are read\n")
    code, _, err = run(["-c", 'load "a";'])
    assert code == 70 and err.startswith("<string>:1:1: error: cannot find 'a.rasp'")


def test_a_history_file_that_cannot_be_written_warns_once(tmp_path):
    pytest.importorskip("prompt_toolkit")
    from rasp.repl import open_history

    warnings: list[str] = []
    history = open_history(tmp_path / "history", warnings.append)
    (tmp_path / "history").unlink()
    (tmp_path / "history").mkdir()  # no longer a file that can be appended to
    for entry in ("x = 1;", "y = 2;", "z = 3;"):
        history.append_string(entry)
    assert warnings == [f"rasp: the history is no longer kept: cannot write {tmp_path}/history: "
                        "Is a directory"]
    assert list(history.get_strings()) == ["x = 1;", "y = 2;", "z = 3;"]


def test_a_history_path_that_is_a_folder_is_not_kept(tmp_path):
    pytest.importorskip("prompt_toolkit")
    from prompt_toolkit.history import InMemoryHistory

    from rasp.repl import open_history

    warnings: list[str] = []
    assert isinstance(open_history(tmp_path, warnings.append), InMemoryHistory)
    assert warnings == [f"rasp: the history is not kept: cannot write {tmp_path}: "
                        "Is a directory"]


# ---------------------------------------------------------------- 16: JSON and terminals

def test_json_outputs_write_nan_and_infinities_as_null(tmp_path):
    assert json_text({"a": [math.nan, -math.inf, 1.5], "b": (math.inf,)}) == \
        '{"a": [null, null, 1.5], "b": [null]}'
    (tmp_path / "p.rasp").write_text("x = tokens_float * 10;\n")
    (tmp_path / "in.txt").write_text("[1e308, 1]\n")
    code, out, err = run([str(tmp_path / "p.rasp"), "--name", "x", "--inputs",
                          str(tmp_path / "in.txt"), "--format", "jsonl"])
    assert (code, err) == (0, "")
    assert json.loads(out, parse_constant=lambda name: pytest.fail(name)) == \
        {"input": [1e308, 1], "output": [None, 10.0]}


def test_control_characters_in_values_are_shown_escaped():
    """Item 16: an ESC sequence in a token never reaches the terminal raw."""
    code, out, err = run(["-c", 'x = select(tokens, tokens, ==);\n(tokens)("a\x1b[2Jb\x07");\n'
                          '(x)("\x1b");'])
    assert (code, err) == (0, "")
    assert "\x1b" not in out and "\x07" not in out
    assert out.split("\n")[0] == "\t =  [a, \\x1b, [, 2, J, b, \\x07] (strings)"
    assert " \t\t\t \\x1b | 1" in out
