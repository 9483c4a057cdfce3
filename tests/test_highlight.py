"""The pygments lexer for RASP and the word lists it shares with the REPL's completer."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Error, Keyword, Name, Number, String, Token

from rasp import Interpreter
from rasp.highlight import BUILTIN_NAMES, CONSTANTS, LIBRARY, RaspLexer

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = sorted([*ROOT.glob("examples/*.rasp"), *ROOT.glob("tests/golden/**/*.rasp"),
                   ROOT / "rasp" / "prelude.rasp"])


def tokens(text: str) -> list[tuple[object, str]]:
    return [(kind, value) for kind, value in RaspLexer().get_tokens(text) if value.strip()]


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_every_shipped_program_lexes_without_errors(path):
    assert [v for kind, v in RaspLexer().get_tokens(path.read_text()) if kind is Error] == []


def test_statement_tokens():
    assert tokens('def f(a) { return select(indices, a, ==) and True; }  # why') == [
        (Keyword, "def"), (Name.Function, "f"), (Token.Punctuation, "("), (Name, "a"),
        (Token.Punctuation, ")"), (Token.Punctuation, "{"), (Keyword, "return"),
        (Name.Builtin, "select"), (Token.Punctuation, "("), (Name.Builtin, "indices"),
        (Token.Punctuation, ","), (Name, "a"), (Token.Punctuation, ","),
        (Token.Operator, "=="), (Token.Punctuation, ")"), (Keyword, "and"),
        (Keyword.Constant, "True"), (Token.Punctuation, ";"), (Token.Punctuation, "}"),
        (Token.Comment.Single, "# why")]


@pytest.mark.parametrize("text, expected", [
    ('set s-op example "hey"', [(Keyword, "set"), (Keyword, "s-op"), (Keyword, "example"),
                                (String.Double, '"hey"')]),
    ("selector examples off", [(Keyword, "selector"), (Keyword, "examples"),
                               (Keyword, "off")]),
    ("full seq display on", [(Keyword, "full seq display"), (Keyword, "on")]),
    # outside the commands these words are names, as in the grammar
    ("example = on - s-op;", [(Name, "example"), (Token.Operator, "="), (Name, "on"),
                              (Token.Operator, "-"), (Name, "s"), (Token.Operator, "-"),
                              (Name, "op"), (Token.Punctuation, ";")]),
    # the built-in forms are keywords only before "("
    ("select = select(1, 2.5, <);", [
        (Name, "select"), (Token.Operator, "="), (Name.Builtin, "select"),
        (Token.Punctuation, "("), (Number.Integer, "1"), (Token.Punctuation, ","),
        (Number.Float, "2.5"), (Token.Punctuation, ","), (Token.Operator, "<"),
        (Token.Punctuation, ")"), (Token.Punctuation, ";")]),
    ("tokens_strx = length;", [(Name, "tokens_strx"), (Token.Operator, "="),
                               (Name.Builtin, "length"), (Token.Punctuation, ";")]),
    ('x = "hel\ny', [(Name, "x"), (Token.Operator, "="), (String.Double, '"hel'),
                     (Name, "y")]),
], ids=["set", "toggle", "full seq", "names", "select", "builtins", "unfinished string"])
def test_commands_and_names(text, expected):
    assert tokens(text) == expected


def test_lists_match_the_interpreter():
    """What is highlighted as library or built-in is exactly what the session starts with."""
    base = Interpreter().base.vars
    assert set(LIBRARY) | set(BUILTIN_NAMES) | set(CONSTANTS) == set(base) - {"out"}


def test_registered_with_pygments():
    assert isinstance(get_lexer_by_name("rasp"), RaspLexer)
    assert isinstance(get_lexer_for_filename("sort.rasp"), RaspLexer)
