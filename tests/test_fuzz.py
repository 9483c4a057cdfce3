"""Fuzzing the front end: random text, mutated programs and random REPL input through the
piped mode. Whatever comes in, the answer is output, a value or a RaspError that carries a
position inside the text; never another exception, and the session goes on working.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from rasp import Interpreter, RaspError, RaspSyntaxError, parse
from rasp.evaluator import PRELUDE
from rasp.runner import run_piped

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FILES = sorted([*ROOT.glob("examples/*.rasp"), *TESTS.glob("golden/**/*.rasp"),
                *TESTS.glob("golden/**/*.in"), PRELUDE])
CORPUS = [(str(f), f.read_text(encoding="utf-8")) for f in FILES] + [
    (str(TESTS / "reference" / "case.rasp"), case["program"]) for case in json.loads(
        (TESTS / "reference" / "original_cases.json").read_text(encoding="utf-8"))["cases"]]
CORPUS_LINES = sorted({line for _, text in CORPUS for line in text.splitlines() if line})
TOKEN = re.compile(r'"[^"\n]*"|[A-Za-z_]\w*\(?|\d+(?:\.\d+)?|[=!<>]=|\S')
VOCABULARY = [
    "x", "y", "f", "tokens", "indices", "length", "full_s", "sort", "selector_width",
    "select(", "aggregate(", "round(", "indicator(", "range(", "zip(", "len(", "draw(",
    "analyze(", "compile(", "(", ")", "[", "]", "{", "}", ",", ";", ":", "=", "==", "!=", "<",
    ">", "<=", ">=", "+", "-", "*", "/", "%", "^", "not", "and", "or", "if", "else", "in",
    "for", "def", "return", "load", '"sort"', "set example", "show example", "examples off",
    "full seq display on", "s-op", "selector", "exit", "0", "1", "2.5", "007", '"a"', '"ab"',
    "True", "False", "# note\n", "\n", "\t", "'", '"', "\\", "$", "\x00", "é", "\r", "\f",
]
DRAWINGS = tempfile.mkdtemp(prefix="rasp-fuzz-")  # where draw(...) may write


@pytest.fixture(autouse=True, scope="module")
def _elsewhere():
    """`compile(..., "path")` saves from the current folder: not into the repository."""
    before = os.getcwd()
    os.chdir(DRAWINGS)
    yield
    os.chdir(before)


def session(interactive: bool = False) -> Interpreter:
    return Interpreter(interactive=interactive, out=lambda line: None,
                       warn=lambda text: None, draw_dir=DRAWINGS)


def assert_positioned(error: RaspError) -> None:
    """The error points at a place inside the text it is about, and renders."""
    span = error.span
    assert span is not None, f"no position: {error.message}"
    lines = span.source.text.split("\n")
    assert 1 <= span.line <= len(lines) and span.column >= 1, (span.line, span.column)
    assert span.column <= len(lines[span.line - 1]) + 1, (span.line, span.column)
    assert str(error).startswith(f"{span.source.name}:{span.line}:{span.column}: ")


def check_program(text: str, filename: str = "fuzz.rasp") -> None:
    """Parse, then run: a syntax error, a user error or a result; then the session works."""
    try:
        parse(text, filename)
    except RaspSyntaxError as e:
        assert_positioned(e)
        event("syntax error")
        return
    it = session()
    try:
        it.run(text, filename)
        event("ran")
    except RaspError as e:
        assert_positioned(e)
        event(f"error: {type(e).__name__}")
    assert it.value("1 + 1") == 2


# ---------------------------------------------------------------- strategies

token_soup = st.lists(st.sampled_from(VOCABULARY), max_size=40).map(" ".join)
# names the file system may refuse: too long, with NULs, slashes, dots
loads = st.text(st.sampled_from("ab./\x00é~*"), max_size=400).map(lambda n: f'load "{n}";')


@st.composite
def mutants(draw) -> tuple[str, str]:
    """A program of the corpus, damaged one to three times."""
    filename, text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 3))):
        text = draw(st.sampled_from(MUTATIONS))(draw, text)
    return filename, text


def _position(draw, text: str) -> int:
    return draw(st.integers(0, len(text)))


def _truncate(draw, text: str) -> str:
    return text[:_position(draw, text)]


def _delete(draw, text: str) -> str:
    i, j = sorted((_position(draw, text), _position(draw, text)))
    return text[:i] + text[j:]


def _duplicate(draw, text: str) -> str:
    i, j = sorted((_position(draw, text), _position(draw, text)))
    return text[:j] + text[i:j] + text[j:]


def _insert(draw, text: str) -> str:
    i = _position(draw, text)
    junk = draw(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=5)))
    return text[:i] + junk + text[i:]


def _swap_tokens(draw, text: str) -> str:
    tokens = list(TOKEN.finditer(text))
    if len(tokens) < 2:
        return text
    a, b = sorted(draw(st.lists(st.sampled_from(tokens), min_size=2, max_size=2,
                                unique_by=lambda m: m.start())), key=lambda m: m.start())
    return (text[:a.start()] + b.group() + text[a.end():b.start()] + a.group()
            + text[b.end():])


def _nest(draw, text: str) -> str:
    """Deep nesting: many brackets opened at one place, closed (or not) at another."""
    i, j = sorted((_position(draw, text), _position(draw, text)))
    opener = draw(st.sampled_from(["(", "[", "-", "not ", "f("]))
    depth = draw(st.integers(1, 3000))
    closer = {"(": ")", "[": "]", "f(": ")"}.get(opener, "") * depth * draw(st.integers(0, 1))
    return text[:i] + opener * depth + text[i:j] + closer + text[j:]


MUTATIONS = [_truncate, _delete, _duplicate, _insert, _swap_tokens, _nest]


@st.composite
def piped_input(draw) -> str:
    """What a user might pipe into `rasp`: lines of programs, typed fragments, commands."""
    line = st.one_of(st.sampled_from(CORPUS_LINES), token_soup, st.text(max_size=20),
                     mutants().map(lambda m: m[1]))
    return "\n".join(draw(st.lists(line, max_size=20)))


# ---------------------------------------------------------------- the tests

@given(st.one_of(token_soup, st.text(max_size=200), loads))
def test_random_text(text):
    check_program(text)


@given(mutants())
def test_mutated_programs(mutant):
    filename, text = mutant
    check_program(text, filename)


HEADER = re.compile(r"\S[^\n]*:\d+:\d+: (error|warning|note): ")


@given(piped_input())
def test_random_piped_input(text):
    it, err = session(interactive=True), io.StringIO()
    code = run_piped(it, io.StringIO(text), io.StringIO(), err)
    report = err.getvalue()
    assert code in (0, 65, 70)
    assert (code != 0) == bool(re.search(r":\d+:\d+: error: ", report)), report
    assert "internal error" not in report, report
    for line in report.split("\n")[:-1]:  # lines end at "\n" only (issue 20 item 9)
        assert line.startswith(" ") or HEADER.match(line), f"unpositioned: {line!r}"
    assert it.value("1 + 1") == 2
