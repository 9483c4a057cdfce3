"""The examples in README.md and docs/ are what rasp prints: REPL sessions (`>> ` lines) are
typed into an interactive interpreter, and `$ rasp ...` commands are run."""

from __future__ import annotations

import io
import os
import shlex
from pathlib import Path

import pytest

from rasp import Interpreter
from rasp.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks(path: Path) -> list[str]:
    """The text of each fenced block without a language, or marked `console`."""
    blocks, current, language = [], None, ""
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, language = [], line[3:].strip()
            else:
                if language in ("", "console"):
                    blocks.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


SESSIONS = [(p.name, b) for p in DOCS for b in _blocks(p) if b.startswith(">> ")]
COMMANDS = [(p.name, b) for p in DOCS for b in _blocks(p) if b.startswith("$ rasp ")]


@pytest.mark.parametrize("doc, block", SESSIONS, ids=[d for d, _ in SESSIONS])
def test_repl_session(doc, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    it = Interpreter(interactive=True, warn=lambda text: None)
    expected: list[str] = []
    got: list[str] = []
    for line in block.splitlines():
        if line.startswith(">> "):
            got += it.run(line[3:]).splitlines()
        else:
            expected.append(line)
    assert got == expected


@pytest.mark.parametrize("doc, block", COMMANDS, ids=[d for d, _ in COMMANDS])
def test_command(doc, block, tmp_path, monkeypatch):
    command, *expected = block.splitlines()
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "examples", tmp_path / "examples")
    out = io.StringIO()
    assert main(shlex.split(command)[2:], stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue().splitlines() == expected


def test_every_doc_has_its_examples_checked():
    assert {d for d, _ in SESSIONS} >= {"README.md"}
    assert {d for d, _ in COMMANDS} >= {"analysis.md", "cli.md"}
