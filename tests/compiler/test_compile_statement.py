"""The `compile(sop, vocab, max_len[, path]);` statement of the REPL and of scripts: what it
prints, what it saves, and its errors at the argument that is wrong."""

from __future__ import annotations

import re

import pytest

from rasp import Interpreter
from rasp.compiler import Compiled, Model
from rasp.compiler.verify import Verification
from rasp.errors import RaspError, format_error


def session() -> tuple[Interpreter, list[str]]:
    lines: list[str] = []
    it = Interpreter(out=lines.append, warn=lines.append)
    return it, lines


def test_prints_the_summary_and_the_check():
    it, lines = session()
    it.run('load "paper_examples";\ncompile(reverse, "abc", 6);', "s.rasp")
    text = "\n".join(lines)
    assert "reverse: 2 layers, heads per layer 1/1, d_model" in text
    assert re.search(r"verification: ([\d,]+)/\1 inputs equal the interpreter \(100.00 %\), "
                     r"lengths 1..6", text)
    assert "saved" not in text


def test_saves_a_model_that_runs_without_the_session(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the statement saves below the current folder
    it, lines = session()
    it.run('load "dyck";\ncompile(dyck1, ["(", ")"], 10, "dyck");', "s.rasp")
    assert lines[-1] == "saved dyck.npz"
    model = Model.load(tmp_path / "dyck.npz")
    for text in ["(()))(", "((((", "()()()()()"]:
        assert model.forward(text) == it.evaluate("dyck1", text)


def test_numeric_tokens_and_an_expression():
    it, lines = session()
    it.run("compile(tokens_int + length, [1, 2, 3], 4);", "s.rasp")
    assert "100.00 %" in lines[-1]


@pytest.mark.parametrize("statement, message, column", [
    ("compile(select(indices, indices, ==), \"ab\", 3);",
     "compile expects an s-op, got selector", 9),
    ('compile(tokens, 3, 3);', "vocabulary is a string of one-character tokens or a list", 17),
    ('compile(tokens, "", 3);', "the vocabulary is empty", 17),
    ('compile(tokens, "aba", 3);', "repeats a token", 17),
    ('compile(tokens, [[1], 2], 3);', "vocabulary items must be atoms", 17),
    ('compile(tokens, "ab", 0);', "max_len must be a positive integer, got 0", 23),
    ('compile(tokens, "ab", 2.5);', "max_len must be a positive integer, got 2.5", 23),
    ('compile(tokens, "ab", 3, 4);', "compile saves to a path, a string, got 4", 26),
    ('compile(tokens, "ab", 3, "no/such/folder/m");', "cannot write no/such/folder/m", 26),
    ('compile(tokens, "ab", 3, "/tmp/m");', "only below the current folder", 26),
    ('compile(tokens_int + 1, "ab", 3);', "vocabulary item 'a' is not a valid input", 9),
    ("x = compile(tokens);", "'compile' is a statement, not a function: write "
     "'compile(sop, vocab, max_len);'", 5),
])
def test_errors_point_at_the_argument(statement, message, column):
    it, _ = session()
    with pytest.raises(RaspError) as info:
        it.run(f"a = 1;\n{statement}", "s.rasp")
    error = info.value
    assert message in error.message
    assert (error.filename, error.line, error.column) == ("s.rasp", 2, column)
    assert "^" in format_error(error)


def test_a_refusal_names_the_node():
    it, _ = session()
    source = "m = aggregate(select(indices, indices, <=), tokens_float);\ny = m > 1;\n"
    with pytest.raises(RaspError) as info:
        it.run(source + "compile(y, [0.5, 1.5], 5);", "s.rasp")
    assert "means cannot be enumerated exactly" in info.value.message
    assert info.value.line == 1


def test_a_model_that_disagrees_is_reported_and_not_saved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wrong = Verification(checked=2, agreed=1, lengths={1: [2, 1]},
                         mismatches=[(["a"], [0], [1])])
    monkeypatch.setattr(Compiled, "verify", lambda self, sample=None, announce=None: wrong)
    it, lines = session()
    with pytest.raises(RaspError) as info:
        it.run('a = 1;\ncompile(indices, "ab", 3, "m");', "s.rasp")
    assert "disagrees with the interpreter: a bug in the compiler" in info.value.message
    assert (info.value.line, info.value.column) == (2, 1)
    assert "mismatch on ['a']" in "\n".join(lines)
    assert not (tmp_path / "m.npz").exists()


def test_compile_stays_an_ordinary_name():
    it, _ = session()
    it.run("def compile(x) { return x + 1; }\ny = compile(indices);", "s.rasp")
    assert it.evaluate("y", "abc") == [1, 2, 3]


def test_in_a_loaded_file_it_compiles_quietly_and_saves_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.rasp").write_text('x = length - indices;\ncompile(x, "ab", 4);\n')
    it, lines = session()
    main = tmp_path / "main.rasp"
    main.write_text('load "m";\n')
    it.run(main.read_text(), str(main))
    assert lines == []  # a loaded file's statements print nothing
    (tmp_path / "m.rasp").write_text('x = length - indices;\ncompile(x, "ab", 4, "model");\n')
    with pytest.raises(RaspError, match="compile saves no model from a loaded file"):
        Interpreter(out=lambda line: None).run(main.read_text(), str(main))
    assert list(tmp_path.glob("model*")) == []


def test_a_refusal_past_a_limit_says_where_the_limits_are_set():
    """The statement has no --max-values: its refusal keeps the flag's name (the one rule's
    text) and a note says the statement uses the defaults, set by `rasp compile` or Limits."""
    it, _ = session()
    with pytest.raises(RaspError) as caught:
        it.run('compile(indices, "ab", 30000);', "s.rasp")
    text = format_error(caught.value)
    assert "has 30,000 values (limit --max-values 20,000)" in text
    assert ("s.rasp:1:1: note: the statement compiles with the default limits: they are "
            "options of `rasp compile` (--max-values, --max-table, --max-units, "
            "--max-weights) and of "
            "Interpreter.compile(..., limits=Limits(...))") in text
