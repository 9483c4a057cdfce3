"""Transcript tests: each `golden/NAME.rasp` is run as `rasp NAME.rasp`, each `NAME.in` as
`rasp < NAME.in`, and the whole result (stdout, stderr, exit code) must equal `NAME.out`.
The examples in `examples/` run the same way. `pytest --update-golden` rewrites the .out
files (review the change with git diff); without it a missing .out fails."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from rasp.commands import main

HERE = Path(__file__).resolve().parent
SCRIPTS = sorted((HERE / "golden").glob("*.rasp")) + sorted((HERE / "golden").glob("*.in"))
EXAMPLES = sorted((HERE.parent / "examples").glob("*.rasp"))


def transcript(path: Path) -> str:
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(path.parent)  # `load` looks beside the program, messages show relative paths
    try:
        if path.suffix == ".in":
            with open(path.name, encoding="utf-8") as stdin:
                code = main([], stdin=stdin, stdout=out, stderr=err)
        else:
            code = main([path.name], stdout=out, stderr=err)
    finally:
        os.chdir(cwd)
    text = out.getvalue()
    if err.getvalue():
        text += "--- stderr\n" + err.getvalue()
    return text + f"--- exit {code}\n"


@pytest.mark.parametrize("path", SCRIPTS + EXAMPLES, ids=lambda p: p.name)
def test_transcript(path, request):
    expected_file = path.with_suffix(".out")
    got = transcript(path)
    if request.config.getoption("update_golden"):
        expected_file.write_text(got, encoding="utf-8")
    assert expected_file.exists(), f"{expected_file.name} is missing: run pytest --update-golden"
    assert got == expected_file.read_text(encoding="utf-8")
