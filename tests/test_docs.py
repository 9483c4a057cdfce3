"""The examples in README.md and docs/ are what rasp prints: REPL sessions (`>> ` lines,
continued by `.. ` lines, after the banner when the block starts with `$ rasp`) are typed into
an interactive interpreter, `$ rasp ...` commands are run, and programs in ```rasp blocks must
run without an error. Every other output block (a plain or `console` fence) is an illustration
and says so: `<!-- illustration -->` on the line before its fence."""

from __future__ import annotations

import doctest
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


ILLUSTRATION = "<!-- illustration -->"  # before a fence: an output block no test can check
OUTPUT = ("", "console")  # the fences that show what rasp prints


def _fenced(path: Path) -> list[tuple[str, str, bool]]:
    """Each fenced block: its language, its text, and whether it is marked an illustration."""
    blocks, current, language, marked, previous = [], None, "", False, ""
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, language = [], line[3:].strip()
                marked = previous.strip() == ILLUSTRATION
            else:
                blocks.append((language, "".join(current), marked))
                current = None
        elif current is not None:
            current.append(line)
        previous = line
    return blocks


def _blocks(path: Path, languages: tuple[str, ...] = OUTPUT) -> list[str]:
    """The text of each fenced block in one of `languages` (none, or `console`)."""
    return [text for language, text, _ in _fenced(path) if language in languages]


SESSIONS = [(p.name, b) for p in DOCS for b in _blocks(p) if b.startswith(">> ")]
REPLS = [(p.name, b) for p in DOCS for b in _blocks(p) if b.startswith("$ rasp\n")]
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


@pytest.mark.parametrize("doc, block", REPLS, ids=[d for d, _ in REPLS])
def test_repl_with_its_banner(doc, block, tmp_path, monkeypatch):
    """`$ rasp`, the banner the REPL prints, then a session."""
    from rasp.repl import BANNER

    monkeypatch.chdir(tmp_path)
    lines = block.splitlines(keepends=True)[1:]
    start = next(i for i, line in enumerate(lines) if line.startswith(">> "))
    assert "".join(lines[:start]) == BANNER
    session = "".join(lines[start:])
    assert replay(session) == _entries(session)[1]


def test_every_output_block_is_checked_or_an_illustration():
    """An output block no test runs would go stale unseen (docs/compiling.md once showed
    `verification: 1,251/1,251` where the command printed 725/725): each is a session, a
    command or a marked illustration."""
    checked = (">> ", "$ rasp\n", "$ rasp ")
    unmarked = [(p.name, text.splitlines()[0] if text else "") for p in DOCS
                for language, text, marked in _fenced(p)
                if language in OUTPUT and not marked and not text.startswith(checked)]
    assert unmarked == []


ESTIMATE = re.compile(r"about .+ more \(extrapolated from the first [\d,]+ inputs\)")


def _timeless(lines: list[str]) -> list[str]:
    """A compile's time is no value: the documented 0.00 s stands for any; a check's
    estimate of its time (said only where it is long, which load decides) is left out."""
    return [re.sub(r"^  compiled in \d+\.\d\d s$", "  compiled in 0.00 s", text)
            for text in lines if not ESTIMATE.fullmatch(text)]


def replay(block: str) -> list[str]:
    """What the REPL prints for the entries of a session."""
    printed = io.StringIO()
    it = Interpreter(interactive=True, out=line_writer(printed), warn=line_writer(printed))
    line = 1
    for entry in _entries(block)[0]:
        run_entry(it, entry.removesuffix("\n"), "<stdin>", line, printed, printed)
        line += entry.count("\n")
    return _timeless(printed.getvalue().splitlines())


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
    assert _timeless(out.getvalue().splitlines()) == expected


# Python sessions (```python blocks of `>>> ` lines): each doc's blocks run in order in one
# namespace, as a notebook's cells, and must print what they show (doctest's rules).
PYTHON = sorted({p for p in DOCS if any(b.startswith(">>> ")
                                       for b in _blocks(p, ("python",)))})


@pytest.mark.parametrize("path", PYTHON, ids=[p.name for p in PYTHON])
def test_python_session(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = "\n".join(b for b in _blocks(path, ("python",)) if b.startswith(">>> "))
    test = doctest.DocTestParser().get_doctest(text, {}, path.name, str(path), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    runner.run(test, out=report.write)
    assert runner.failures == 0, re.sub(r"compiled in \d+\.\d\d s", "compiled in 0.00 s",
                                        report.getvalue())


def test_every_doc_has_its_examples_checked():
    assert {d for d, _ in SESSIONS} >= {"README.md", "tutorial.md", "examples.md",
                                        "language.md"}
    assert {d for d, _ in PROGRAMS} >= {"examples.md"}
    assert {d for d, _ in COMMANDS} >= {"analysis.md", "cli.md"}
    assert {p.name for p in PYTHON} >= {"python.md"}


def test_install_hints_name_only_what_installs():
    """No package index serves rasp-lang: a hint `pip install 'rasp-lang[...]'` would fail.
    Hints say what works from a checkout ('.[train]') and from a wheel (the packages)."""
    sources = [*DOCS, *sorted((ROOT / "rasp").rglob("*.py"))]
    stale = [p.name for p in sources if "rasp-lang[" in p.read_text()]
    assert stale == []
    from rasp.dataset import SCALE_MISSING
    from rasp.train import TORCH_MISSING
    assert "pip install torch matplotlib" in TORCH_MISSING and "'.[train]'" in TORCH_MISSING
    assert "pyarrow pandas" in SCALE_MISSING and "'.[scale]'" in SCALE_MISSING
