"""Syntax highlighting for RASP: a pygments lexer, and the word lists the REPL completes.

`RaspLexer` colours the REPL's input line and is registered as the pygments lexer `rasp`
(`pygmentize -l rasp prog.rasp`). The word lists live here once, for both the lexer and the
REPL's completer, so that what is highlighted as a keyword is also what Tab offers.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

__all__ = ["RaspLexer", "KEYWORDS", "COMMANDS", "BUILTIN_FORMS", "BUILTIN_NAMES", "CONSTANTS",
           "LIBRARY"]

# Words that can never be names.
KEYWORDS = ("def", "return", "for", "in", "if", "else", "not", "and", "or", "load", "draw",
            "round", "indicator", "set", "show", "examples", "selector", "exit", "quit")
# The REPL commands of the original, written out whole (their words alone are mostly names).
COMMANDS = ("set example", "set s-op example", "set selector example", "show example",
            "show s-op example", "show selector example", "examples on", "examples off",
            "s-op examples on", "s-op examples off", "selector examples on",
            "selector examples off", "full seq display on", "full seq display off",
            "set causal on", "set causal off", "exit", "quit")
# Built-in forms: keywords only when a "(" follows, ordinary names otherwise.
BUILTIN_FORMS = ("select", "aggregate", "range", "zip", "len", "analyze", "compile",
                 "generate")
BUILTIN_NAMES = ("tokens", "tokens_str", "tokens_int", "tokens_float", "tokens_bool",
                 "tokens_asis", "indices")
CONSTANTS = ("True", "False")
# The library (rasp/prelude.rasp); a test keeps this list equal to what the prelude defines.
LIBRARY = ("full_s", "length", "selector_width", "has_focus", "count", "contains", "max", "min",
           "average", "load_from_location", "shift", "mark_last_instance",
           "mark_first_instance", "select_from_last", "select_from_first", "sort",
           "select_next_identical")

_SUBSET = r"(?:(s-op|selector)(\s+))?"


class RaspLexer(RegexLexer):
    """RASP source: keywords, the REPL commands, built-ins and the library, literals,
    operators and `#` comments."""

    name = "RASP"
    aliases = ["rasp"]
    filenames = ["*.rasp"]
    mimetypes = ["text/x-rasp"]
    url = "https://github.com/tech-srl/RASP"

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"[^"\n]*"', String.Double),
            (r'"[^"\n]*', String.Double),  # being typed: a string until the end of the line
            (r"[0-9]+\.[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            # the REPL commands, before their words are taken for names
            (rf"\b(set|show)(\s+){_SUBSET}(example)\b",
             bygroups(Keyword, Whitespace, Keyword, Whitespace, Keyword)),
            (rf"(?<![\w-]){_SUBSET}(examples)(\s+)(on|off)\b",
             bygroups(Keyword, Whitespace, Keyword, Whitespace, Keyword)),
            (r"\b(full[ \t]+seq[ \t]+display)(\s+)(on|off)\b",
             bygroups(Keyword, Whitespace, Keyword)),
            (r"\b(def)(\s+)([a-zA-Z_]\w*)", bygroups(Keyword, Whitespace, Name.Function)),
            (words(KEYWORDS, prefix=r"\b", suffix=r"\b"), Keyword),
            (words(CONSTANTS, prefix=r"\b", suffix=r"\b"), Keyword.Constant),
            (words(BUILTIN_FORMS, prefix=r"\b", suffix=r"(?=\s*\()"), Name.Builtin),
            (words(BUILTIN_NAMES + LIBRARY, prefix=r"\b", suffix=r"\b"), Name.Builtin),
            (r"[a-zA-Z_]\w*", Name),
            (r"==|!=|<=|>=|[-+*/%^<>=]", Operator),
            (r"[()\[\]{},;:]", Punctuation),
        ],
    }
