"""The examples in README.md and docs/ are what rasp prints: REPL sessions (`>> ` lines,
continued by `.. ` lines) are typed into an interactive interpreter, `$ rasp ...` commands
are run, and programs in ```rasp blocks must run without an error."""

from __future__ import annotations

import io
import os
import re
import shlex
from pathlib import Path

import pytest

from rasp import Interpreter
from rasp.commands import main
from rasp.runner import line_writer, run_entry

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks(path: Path, languages: tuple[str, ...] = ("", "console")) -> list[str]:
    """The text of each fenced block in one of `languages` (none, or `console`)."""
    blocks, current, language = [], None, ""
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, language = [], line[3:].strip()
            else:
                if language in languages:
                    blocks.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


SESSIONS = [(p.name, b) for p in DOCS for b in _blocks(p) if b.startswith(">> ")]
COMMANDS = [(p.name, b) for p in DOCS for b in _blocks(p) if b.startswith("$ rasp ")]
PROGRAMS = [(p.name, b) for p in DOCS for b in _blocks(p, ("rasp",))]


def _entries(block: str) -> tuple[list[str], list[str]]:
    """The REPL entries typed in a session (a `>> ` line and its `.. ` lines), and the
    other lines: what the session prints."""
    entries: list[str] = []
    printed: list[str] = []
    typing = False
    for line in block.splitlines():
        if line.startswith(">> "):
            entries.append(line[3:] + "\n")
            typing = True
        elif typing and (line.startswith(".. ") or line == ".."):
            entries[-1] += line[3:] + "\n"
        else:
            printed.append(line)
            typing = False
    return entries, printed


@pytest.mark.parametrize("doc, block", SESSIONS, ids=[d for d, _ in SESSIONS])
def test_repl_session(doc, block, tmp_path, monkeypatch):
    """A fresh session, run entry by entry as the REPL runs them: what each entry prints,
    its warnings and its errors (at `<stdin>:LINE`) must be the block's other lines."""
    monkeypatch.chdir(tmp_path)
    assert replay(block) == _entries(block)[1]


def replay(block: str) -> list[str]:
    """What the REPL prints for the entries of a session."""
    printed = io.StringIO()
    it = Interpreter(interactive=True, out=line_writer(printed), warn=line_writer(printed))
    line = 1
    for entry in _entries(block)[0]:
        run_entry(it, entry.removesuffix("\n"), "<stdin>", line, printed, printed)
        line += entry.count("\n")
    return untimed(printed.getvalue())


def untimed(printed: str) -> list[str]:
    """The lines printed, a compile's time (no value: the documented 0.00 s stands for any)
    replaced."""
    return [re.sub(r"^  compiled in \d+\.\d\d s$", "  compiled in 0.00 s", text)
            for text in printed.splitlines()]


@pytest.mark.parametrize("doc, block", PROGRAMS, ids=[d for d, _ in PROGRAMS])
def test_program(doc, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Interpreter().run(block, f"{doc}.rasp")


@pytest.mark.parametrize("doc, block", COMMANDS, ids=[d for d, _ in COMMANDS])
def test_command(doc, block, tmp_path, monkeypatch):
    command, *expected = block.splitlines()
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "examples", tmp_path / "examples")
    out = io.StringIO()
    assert main(shlex.split(command)[2:], stdout=out, stderr=io.StringIO()) == 0
    assert untimed(out.getvalue()) == expected


def test_every_doc_has_its_examples_checked():
    assert {d for d, _ in SESSIONS} >= {"README.md", "tutorial.md", "examples.md",
                                        "language.md"}
    assert {d for d, _ in PROGRAMS} >= {"examples.md"}
    assert {d for d, _ in COMMANDS} >= {"analysis.md", "cli.md"}
