"""The `rasp` command as a user runs it: a subprocess, its output and its exit code."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def rasp(*args: str, stdin: str | None = None, cwd: Path = ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "rasp", *args], input=stdin, text=True,
                          capture_output=True, cwd=cwd, env=env, timeout=60)


def test_script_prints_expression_statements(tmp_path):
    program = tmp_path / "p.rasp"
    program.write_text('x = indices * 2;\n(x)("abc");\n')
    result = rasp(str(program))
    assert (result.returncode, result.stdout, result.stderr) == (0, "\t =  [0, 2, 4] (ints)\n", "")


def test_code_string():
    result = rasp("-c", '(sort(tokens, tokens))("banana");')
    assert result.stdout == "\t =  [a, a, a, b, n, n] (strings)\n"
    assert result.returncode == 0


def test_runtime_error_exit_code_and_message():
    result = rasp("-c", 'x = 1;\n(aggregate(full_s, tokens))("ab");')
    assert result.returncode == 70
    assert result.stderr.startswith("<string>:2:2: error: aggregate cannot average strings")
    assert "Traceback" not in result.stderr


def test_syntax_error_exit_code():
    result = rasp("-c", "x = ;")
    assert result.returncode == 65
    assert result.stderr.splitlines() == ["<string>:1:5: error: unexpected ';', expected an "
                                          "expression", "  1 | x = ;", "    |     ^"]


def test_piped_input_reports_errors_and_goes_on():
    result = rasp(stdin='x = 1;\ny = nope;\nz = x + 1;\n')
    assert result.returncode == 70  # the code of the last entry that failed
    assert result.stdout == "    value: x =  1\n    value: z =  2\n"
    assert result.stderr.startswith("<stdin>:2:5: error: undefined name 'nope'")


def test_missing_file_is_a_usage_error(tmp_path):
    result = rasp(str(tmp_path / "absent.rasp"))
    assert result.returncode == 64
    assert "cannot read" in result.stderr


def test_load_finds_the_example_library_from_anywhere(tmp_path):
    result = rasp("-c", 'load "paper_examples"; (reverse)("abc");', cwd=tmp_path)
    assert result.stdout == "\t =  [c, b, a] (strings)\n"


def test_load_looks_beside_the_loading_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "lib.rasp").write_text("k = 3;\n")
    (tmp_path / "sub" / "main.rasp").write_text('load "lib";\n(indices + k)("ab");\n')
    assert rasp(str(tmp_path / "sub" / "main.rasp")).stdout == "\t =  [3, 4] (ints)\n"


def test_analyze_json(tmp_path):
    program = tmp_path / "p.rasp"
    program.write_text("r = aggregate(select(indices, length - indices - 1, ==), tokens);\n")
    result = rasp("analyze", str(program), "r", "--json")
    report = json.loads(result.stdout)
    assert {k: report[k] for k in ("layers", "heads_per_layer", "max_heads", "total_heads")} == {
        "layers": 2, "heads_per_layer": [1, 1], "max_heads": 1, "total_heads": 2}
    assert [len(layer["heads"]) for layer in report["detail"]] == [0, 1, 1]


def test_analyze_expression_and_text_report(tmp_path):
    program = tmp_path / "p.rasp"
    program.write_text("")
    result = rasp("analyze", str(program), "sort(tokens, tokens)")
    assert result.stdout.splitlines()[0] == (
        "sort(tokens, tokens): 2 layers, heads per layer 2/1 (max 2, total 3)")


def test_analyze_of_a_selector_is_an_error(tmp_path):
    program = tmp_path / "p.rasp"
    program.write_text("s = select(indices, indices, ==);\n")
    result = rasp("analyze", str(program), "s")
    assert result.returncode == 70
    assert "analyze expects an s-op, got selector s" in result.stderr


def test_version():
    assert rasp("--version").stdout.startswith("rasp ")


def test_a_reader_that_goes_away_ends_rasp_quietly(tmp_path):
    # `rasp < program | head -1`: once head has its line, writing fails with EPIPE
    program = tmp_path / "many.rasp"
    program.write_text("x = 1;\n" * 20_000)
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    with program.open() as stdin, (tmp_path / "stderr").open("w+") as stderr, \
            subprocess.Popen([sys.executable, "-m", "rasp"], stdin=stdin, stderr=stderr,
                             stdout=subprocess.PIPE, text=True, env=env) as process:
        assert process.stdout.readline() == "    value: x =  1\n"
        process.stdout.close()
        assert process.wait(timeout=60) == 141
        stderr.seek(0)
        assert stderr.read() == ""



def test_help_lists_the_subcommands():
    result = rasp("--help")
    assert result.returncode == 0 and "rasp analyze FILE NAME" in result.stdout


def test_analyze_exit_codes_and_the_running_example():
    result = rasp("analyze", "sort", "1+")
    assert result.returncode == 65
    assert "1 | 1+\n" in result.stderr and ";" not in result.stderr
    result = rasp("analyze", "sort", "tokens_int + 1", "--example", "[1, 2]")
    assert result.returncode == 0 and "warning" not in result.stdout + result.stderr
    result = rasp("analyze", "sort", "tokens", "--example", '[1, "a"]')
    assert result.returncode == 64 and "mixes values" in result.stderr


# ------------------------------------------------- one exit-code table for every subcommand

COMMANDS = {  # each subcommand: its argv before FILE NAME, the options a run of it needs
    "run": ([], ["--inputs", "{inputs}"]),
    "analyze": (["analyze"], []),
    "compile": (["compile"], ["--vocab", "ab", "--max-len", "4"]),
    "train": (["train"], ["--lengths", "1:3", "--train", "20", "--val", "5", "--test", "5",
                          "--epochs", "1", "--out", "{tmp}/run"]),
    "dataset": (["dataset"], ["--out", "{tmp}/data"]),
}
BAD_VALUES = {"run": ["--format", "xml"], "analyze": ["--example", '[1, "a"]'],
              "compile": ["--max-len", "0"], "train": ["--vocab", "aa"],
              "dataset": ["--vocab", ""]}
MISTAKES = {  # the mistake: FILE, NAME, more options, and the exit code it gives everywhere
    "missing file": ("{tmp}/absent.rasp", "x", [], 64),
    "syntax error in the file": ("{tmp}/syntax.rasp", "x", [], 65),
    "unknown NAME": ("{tmp}/good.rasp", "nope", [], 70),
    "unknown option": ("{tmp}/good.rasp", "x", ["--no-such-option"], 64),
    "bad option value": ("{tmp}/good.rasp", "x", None, 64),
}


def run_in_process(argv: list[str]) -> tuple[int, str, str]:
    from rasp.commands import main

    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.StringIO(), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
@pytest.mark.parametrize("subcommand", sorted(COMMANDS))
def test_the_same_mistake_gives_the_same_exit_code_everywhere(subcommand, mistake, tmp_path):
    (tmp_path / "good.rasp").write_text("x = indices;\n")
    (tmp_path / "syntax.rasp").write_text("x = ;\n")
    (tmp_path / "inputs.txt").write_text("ab\n")
    file, name, more, code = MISTAKES[mistake]
    head, options = COMMANDS[subcommand]
    more = BAD_VALUES[subcommand] if more is None else more
    where = {"{tmp}": str(tmp_path), "{inputs}": str(tmp_path / "inputs.txt")}

    def filled(arg: str) -> str:
        for key, value in where.items():
            arg = arg.replace(key, value)
        return arg

    argv = [*head, file] + (["--name", name] if subcommand == "run" else [name])
    status, out, err = run_in_process([filled(a) for a in [*argv, *options, *more]])
    assert status == code, err
    assert "Traceback" not in err and err.strip()
    if code == 64:  # one line, naming the command
        prog = "rasp" if subcommand == "run" else f"rasp {subcommand}"
        assert len(err.strip().splitlines()) == 1 and err.startswith(f"{prog}: "), err
    if mistake == "syntax error in the file":
        assert err.startswith(f"{tmp_path / 'syntax.rasp'}:1:5: error: unexpected ';'"), err


@pytest.mark.parametrize("subcommand", sorted(COMMANDS))
def test_help_of_every_subcommand_exits_0_and_prints_its_usage(subcommand):
    head, _ = COMMANDS[subcommand]
    status, out, err = run_in_process([*head, "--help"])
    prog = " ".join(["rasp", *head])
    assert (status, err) == (0, "") and out.startswith(f"usage: {prog} ")


def test_argument_errors_exit_64_from_the_installed_command():
    result = rasp("compile", "reverse")  # argparse's own mistake: it would exit 2
    assert result.returncode == 64
    assert result.stderr == ("rasp compile: the following arguments are required: name, "
                             "--vocab, --max-len\n")


@pytest.mark.parametrize("flag, message", [
    ("--vocab", "the vocabulary ['a', 'a'] repeats a token"),
    ("--vocab", "the vocabulary is empty"),
    ("--vocab", "not a JSON list: Expecting value: line 1 column 2 (char 1)"),
    ("--max-len", "must be at least 1, not 0"),
    ("--max-len", "expected a whole number, not 'x'"),
    ("--vocab", "a JSON object, not a JSON list"),
    ("--verify", "must be at least 0, not -1"),
])
def test_bad_compile_options_are_usage_errors(flag, message):
    value = {"not -1": "-1", "repeats": "aa", "empty": "", "object": '{"a": 1}', "JSON": "[",
             "at least": "0", "whole": "x"}
    given = next(v for k, v in value.items() if k in message)
    argv = ["compile", "reverse", "reverse", "--vocab", "ab", "--max-len", "4", flag, given]
    assert run_in_process(argv) == (64, "", f"rasp compile: {flag}: {message}\n")


def test_a_vocab_of_braces_is_its_characters():
    """Only a JSON object with members is refused as JSON: `{}` is the tokens { and }."""
    from rasp.commands.common import vocab
    assert vocab("{}") == ["{", "}"] and vocab("{a") == ["{", "a"]


def test_alphabet_still_works_as_the_old_name_of_vocab(tmp_path):
    argv = ["dataset", "reverse", "reverse", "--alphabet", "xyz", "--lengths", "2:2", "--train",
            "3", "--val", "1", "--test", "1", "--out", str(tmp_path)]
    status, _, err = run_in_process(argv)
    assert (status, err) == (0, "rasp dataset: warning: --alphabet is now --vocab\n")
    first = json.loads((tmp_path / "train.jsonl").read_text().splitlines()[0])
    assert set(first["input"]) <= set("xyz")
    status, out, _ = run_in_process(["dataset", "--help"])
    assert "--vocab" in out and "--alphabet" not in out


def test_a_model_that_disagrees_is_refused_with_70_and_not_saved(tmp_path, monkeypatch):
    import rasp.compiler
    from rasp.errors import RaspValueError

    monkeypatch.setattr(rasp.compiler.Compiled, "refusal",
                        lambda self: RaspValueError("the model disagrees with the interpreter"))
    model = tmp_path / "m.npz"
    status, out, err = run_in_process(["compile", "reverse", "reverse", "--vocab", "ab",
                                       "--max-len", "3", "--out", str(model)])
    assert status == 70 and "verification:" in out
    assert err == "rasp compile: error: the model disagrees with the interpreter\n"
    assert not model.exists()


def test_a_folder_that_cannot_be_written_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    status, out, err = run_in_process(["dataset", "reverse", "reverse", "--lengths", "2:2",
                                       "--train", "3", "--val", "1", "--test", "1", "--out",
                                       str(tmp_path / "file" / "data")])
    assert (status, out) == (64, "")
    assert err == f"rasp dataset: Not a directory: {tmp_path / 'file' / 'data'}\n"


@pytest.mark.parametrize("form", [[], ["--format", "parquet"]])
def test_a_dataset_folder_is_one_runs_and_force_replaces_it(form, tmp_path):
    if form:
        pytest.importorskip("pyarrow")
    argv = ["dataset", "reverse", "reverse", "--lengths", "2:2", "--train", "3", "--val", "1",
            "--test", "1", "--out", str(tmp_path / "d"), *form]
    assert run_in_process(argv)[0] == 0
    before = {p: p.read_bytes() for p in (tmp_path / "d").rglob("*") if p.is_file()}
    status, out, err = run_in_process([*argv, "--seed", "1"])
    assert (status, out) == (64, "")
    assert err.startswith(f"rasp dataset: error: {tmp_path / 'd'} holds a complete dataset")
    assert "--force to replace it" in err and err.count("\n") == 1
    assert {p: p.read_bytes() for p in (tmp_path / "d").rglob("*") if p.is_file()} == before
    assert run_in_process([*argv, "--seed", "1", "--force"])[0] == 0


def test_compile_says_which_file_it_wrote(tmp_path):
    status, out, _ = run_in_process(["compile", "reverse", "reverse", "--vocab", "ab",
                                     "--max-len", "3", "--out", str(tmp_path / "m.bin")])
    assert status == 0 and out.endswith(f"saved {tmp_path / 'm.bin.npz'}\n")
    assert (tmp_path / "m.bin.npz").is_file() and not (tmp_path / "m.bin").exists()


@pytest.mark.parametrize("target", ["folder", "/dev/null"])
def test_compile_refuses_an_out_that_cannot_be_a_model_file(tmp_path, target):
    """A folder would get FOLDER.npz beside it, /dev/null a new /dev/null.npz: both are
    refused in one line before compiling, and nothing is written."""
    given = str(tmp_path / target) if target == "folder" else target
    (tmp_path / "folder").mkdir()
    before = sorted(tmp_path.rglob("*"))
    status, out, err = run_in_process(["compile", "reverse", "reverse", "--vocab", "ab",
                                       "--max-len", "3", "--out", given])
    reason = "is a folder" if target == "folder" else "is not a regular file"
    assert (status, out) == (64, "")
    assert err.startswith(f"rasp compile: --out: {given} {reason}: give the model file's ")
    assert err.count("\n") == 1
    assert sorted(tmp_path.rglob("*")) == before and not os.path.exists(given + ".npz")


def _terminal_line(written: str) -> str:
    """What a terminal shows of one line written with carriage returns."""
    screen: list[str] = []
    cursor = 0
    for char in written:
        if char == "\r":
            cursor = 0
            continue
        screen[cursor:cursor + 1] = [char]
        cursor += 1
    return "".join(screen)


def test_the_dataset_progress_line_leaves_no_stale_characters():
    """A shorter progress text (the rate fell) covers the longer one before it."""
    from rasp.commands.dataset import StatusLine

    stream = io.StringIO()
    line = StatusLine(stream)
    line.show("rasp dataset: 1/2 shards, 10000 rows, 12,345 rows/s")
    line.show("rasp dataset: 2/2 shards, 20000 rows, 9 rows/s")
    assert _terminal_line(stream.getvalue()).rstrip() == (
        "rasp dataset: 2/2 shards, 20000 rows, 9 rows/s")
