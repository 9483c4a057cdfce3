"""The original interpreter's own REPL transcripts (tech-srl/RASP's `tests/in/*.txt`, piped into
its REPL, printed `tests/tgt/*.txt`): piped into ours, every value line comes out the same.

The transcripts are the original project's files, so they are not copied here: point
RASP_ORIGINAL at a checkout of tech-srl/RASP (its `tests/` folder is read) to run these tests;
without it they skip. The behaviours they showed us (a failing statement of a loaded file is
reported and the rest of the file runs; identical values under full display) have tests of
our own in test_errors.py and test_display.py.

Compared with prompts and the banner stripped, each line stripped of its surrounding spaces,
and these differences of ours, each kept on purpose (docs/language.md, "Where we differ"):

- errors: ours go to stderr, with file, line, column and carets; the original prints its own
  words on stdout. The original's error lines are set aside.
- a named value that fails on the running example is still defined: we print its label and
  warn, where the original ignores the input. Those labels (named in our warnings) are set
  aside.
- a library function is shown as `library function: ...`, not `RASP_support/rasplib function`.
- unnamed s-ops and selectors inside a list or dict are labelled by their source text (`select
  (tokens, "a", ==)`), not `plain select` or their call: only their kind is compared.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

from rasp.commands import main

HERE = Path(os.environ.get("RASP_ORIGINAL", "/nonexistent")) / "tests"
NAMES = sorted(p.name for p in (HERE / "in").glob("*.txt"))
pytestmark = pytest.mark.skipif(not NAMES, reason="set RASP_ORIGINAL to a checkout of "
                                "tech-srl/RASP to compare with its transcripts")

_PROMPTS = re.compile(r"^(?:\s*(?:>>|\.\.)(?: |$))+")
_ORIGINAL_ERROR = re.compile(r"!!ignoring input:|!! antlr exception|^something went wrong|"
                             r"^not implemented this command")
_ENTRY_LABEL = re.compile(r'^("[^"]*" :\s+(?:s-op|selector)):.*$')


def _theirs(text: str) -> list[str]:
    lines, in_error = [], False
    for raw in text.split("\n")[2:]:  # the banner: "RASP 0.1", "running example is: hello"
        line = _PROMPTS.sub("", raw)
        if line != raw:  # a prompt: a new entry begins
            in_error = False
        if _ORIGINAL_ERROR.search(line):
            in_error = "!!ignoring input:" in line
            continue
        if in_error and line.startswith("\t"):  # the message lines of an ignored input
            continue
        in_error = False
        line = line.strip().replace("RASP_support/rasplib function:", "library function:")
        if line:
            lines.append(_ENTRY_LABEL.sub(r"\1", line))
    return lines


def _ours(stdout: str, stderr: str) -> list[str]:
    warned = re.findall(r"warning: '(\w+)' fails on the running example", stderr)
    lines = [line.strip() for line in stdout.split("\n") if line.strip()]
    kept = []
    for index, line in enumerate(lines):
        label = re.fullmatch(r"(?:s-op|selector): (\w+)", line)
        shown = index + 1 < len(lines) and lines[index + 1].startswith("Example:")
        if label and label[1] in warned and not shown:
            warned.remove(label[1])
            continue
        kept.append(_ENTRY_LABEL.sub(r"\1", line))
    return kept


@pytest.mark.parametrize("name", NAMES)
def test_the_original_transcript_gives_the_same_values(name, monkeypatch, tmp_path):
    (tmp_path / "tests").mkdir()  # its programs load "tests/rasps/..." from the current folder
    (tmp_path / "tests" / "rasps").symlink_to(HERE / "rasps")
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    text = (HERE / "in" / name).read_text()
    main([], stdin=io.StringIO(text), stdout=out, stderr=err)
    assert _ours(out.getvalue(), err.getvalue()) == _theirs((HERE / "tgt" / name).read_text())
