"""The Python sessions of docs/interop.md (```pycon blocks) are what Python prints: each is
run by doctest in a fresh folder, with the interop extra (skipped without it)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from test_docs import _blocks

DOC = Path(__file__).resolve().parent.parent / "docs" / "interop.md"
SESSIONS = _blocks(DOC, ("pycon",))


def test_the_doc_has_its_sessions():
    assert len(SESSIONS) >= 4


@pytest.mark.parametrize("number", range(len(SESSIONS)))
def test_session(number, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("transformer_lens")
    monkeypatch.chdir(tmp_path)
    test = doctest.DocTestParser().get_doctest(SESSIONS[number], {}, f"interop.md[{number}]",
                                               str(DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0, f"session {number} of docs/interop.md printed otherwise"
