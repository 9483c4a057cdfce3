"""The README's REPL session and the documented analyze report are what rasp prints."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rasp import Interpreter
from rasp.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _block_after(text: str, marker: str) -> str:
    start = text.index(marker)
    return re.search(r"```\n(.*?)```", text[start:], re.S).group(1)


def test_readme_session():
    session = _block_after((ROOT / "README.md").read_text(), "## A session")
    it = Interpreter(interactive=True)
    expected: list[str] = []
    got: list[str] = []
    for line in session.splitlines():
        if line.startswith(">> "):
            got += it.run(line[3:]).splitlines()
        else:
            expected.append(line)
    assert got == expected


def test_cli_doc_analyze_report():
    doc = (ROOT / "docs" / "cli.md").read_text()
    block = _block_after(doc, "### `rasp analyze`")
    command, *expected = block.splitlines()
    args = command.removeprefix("$ rasp ").split()
    args[1] = str(ROOT / args[1])
    out = io.StringIO()
    assert main(args, stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue().splitlines() == expected
