"""RASP text -> `ast.Program`. The only module that knows about lark.

The grammar lives in `grammar/rasp.lark` (shipped inside the package as `rasp/grammar/`).
Syntax errors become `RaspSyntaxError`s with a position and a message in RASP's own words.
`input_status` tells the REPL whether a typed text is complete, incomplete or invalid.
"""

from __future__ import annotations

import difflib
import functools
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from lark import Lark, Token, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.lexer import LexerThread
from lark.visitors import Transformer_NonRecursive

from . import ast
from .errors import LINE_END, RaspLimitError, RaspSyntaxError, Source, Span, not_text

__all__ = ["MAX_PROGRAM", "parse", "input_status", "grammar_path", "get_parser", "scan", "ends_in",
           "GrowingInput"]

_HERE = Path(__file__).resolve().parent


def grammar_path() -> Path:
    """The grammar file: inside an installed package, or at the top of a source checkout."""
    for candidate in (_HERE / "grammar" / "rasp.lark", _HERE.parent / "grammar" / "rasp.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("rasp.lark not found beside the rasp package")


@functools.cache
def get_parser(strict: bool = False) -> Lark:
    return Lark(grammar_path().read_text(), parser="lalr", propagate_positions=True,
                maybe_placeholders=True, strict=strict, cache=not strict)


# The largest program text parse takes, in characters (docs/cli.md, "Limits"): the examples
# are a few KB; a program of 10 MB ran for 15 minutes in gigabytes of memory, with no sign
# of progress, and its time grows faster than its size.
MAX_PROGRAM = 1_000_000

def parse(text: str, filename: str = "<string>", first_line: int = 1,
          shown: str | None = None) -> ast.Program:
    """Parse a whole program (whose first line is line `first_line` of its file or
    session). Raises RaspSyntaxError, or RaspLimitError for a text over MAX_PROGRAM
    characters. `shown`: the text messages quote, where `text` adds to what the user wrote
    (the ';' after an expression). Lines end at "\n", "\r\n" or "\r" (errors.LINE_END)."""
    text = _lines_ended(text.removeprefix("\ufeff"))  # a byte order mark, as editors write
    shown = None if shown is None else _lines_ended(shown.removeprefix("\ufeff"))
    source = Source(filename, text if shown is None else shown, first_line)
    if len(text) > MAX_PROGRAM:
        raise RaspLimitError(f"the program is {len(text):,} characters long, over the limit of "
                             f"{MAX_PROGRAM:,} (docs/cli.md, Limits)",
                             Span(source, first_line, 1, first_line, 2))
    odd = not_text(source.text)
    if odd:
        raise RaspSyntaxError(f"{odd[1]} (save the program as UTF-8)",
                              _span_at(source, odd[0]))
    bracketed, closers = _bracket_set_examples(text)
    try:
        tree = get_parser().parse(bracketed)
    except UnexpectedInput as e:
        token = getattr(e, "token", None)
        if token is None or token.type == "$END" or token.start_pos not in closers:
            raise _syntax_error(e, source, bracketed) from None
        # at the ')' we added: the expression ends too soon
        raise RaspSyntaxError("the example's expression is not complete at the end of its "
                              "line" + _expected(e),
                              _span_at(source, token.start_pos, text=bracketed)) from None
    try:
        return _ToAst(source).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, _Refused):
            raise e.orig_exc.error from None
        raise


class _Refused(Exception):
    """A RaspError found while building the tree, carried out of lark's VisitError."""

    def __init__(self, error: RaspLimitError):
        super().__init__(error)
        self.error = error


def _lines_ended(text: str) -> str:
    """`text` with every line end a "\n", which is the one lark counts lines by."""
    return LINE_END.sub("\n", text) if "\r" in text else text


def input_status(text: str) -> str:
    """'complete', 'incomplete' (the REPL should read another line) or 'invalid'."""
    bracketed, closers = _bracket_set_examples(text)
    try:
        get_parser().parse(bracketed)
    except UnexpectedInput as e:
        token = getattr(e, "token", None)
        if token is not None and token.type != "$END" and token.start_pos in closers:
            return "invalid"  # a set example line that ends too soon: it cannot go on
        return _status(bracketed)
    return "complete"


class GrowingInput:
    """`input_status` of an entry read a line at a time (piped input), in time linear in its
    length: the parser's state after the lines so far is kept, and only the new line is read.
    Tokens end at the end of their line, except a built-in form's "(" (`select` then "(" on
    a later line): a line that ends with such a name is read again with the next one."""

    _OPENS_FORM = re.compile(r"\b(?:select|analyze|compile|aggregate|range|zip|len)\s*$")

    def __init__(self) -> None:
        self._parser = get_parser().parse_interactive("")
        self._pending = ""  # lines read again with the next: they end before a form's "("
        self._leaving = False  # `exit` with more after it: the entry can never complete
        self._broken = False

    def add(self, line: str) -> str:
        """The status of the entry with `line` (ending with or without its newline) added."""
        if self._broken:
            return "invalid"
        text = self._pending + (line if line.endswith("\n") else line + "\n")
        bracketed, _ = _bracket_set_examples(text)
        self._leaving = self._leaving or bool(_EXIT_WITH_MORE.search(text))
        parser = self._parser.copy(deepcopy_values=False)
        parser.lexer_thread = LexerThread.from_text(parser.lexer_thread.lexer, bracketed)
        try:
            parser.exhaust_lexer()
        except UnexpectedInput:
            self._broken = True
            return "invalid"
        self._pending = text if self._OPENS_FORM.search(text) else ""
        if not self._pending:
            self._parser = parser
        try:
            parser.copy(deepcopy_values=False).feed_eof()
        except UnexpectedInput:
            return "invalid" if self._leaving else "incomplete"
        return "complete"


def _status(text: str) -> str:
    try:
        get_parser().parse(text)
    except UnexpectedToken as e:
        return "incomplete" if e.token.type == "$END" and not _EXIT_WITH_MORE.search(text) \
            else "invalid"
    except UnexpectedEOF:
        return "invalid" if _EXIT_WITH_MORE.search(text) else "incomplete"
    except UnexpectedInput:
        return "invalid"
    return "complete"


# `exit` or `quit` followed by something that is not `()`, `;` or a comment: never complete
_EXIT_WITH_MORE = re.compile(r"(?:^|[;{}])[ \t]*(exit|quit)[ \t]+(?![ \t]*(?:\(|;|#|$))", re.M)
_SET_EXAMPLE = re.compile(r"^([ \t]*set[ \t]+(?:(?:s-op|selector)[ \t]+)?example)([ \t]+)(.*)$",
                          re.M)


def _bracket_set_examples(text: str) -> tuple[str, set[int]]:
    """`set example EXPR`, as the original reads it: the whole expression to the end of its line
    (the command has no ';' to end it), bracketed for the grammar, which takes one primary
    there: `set example "ab" + "c"` is parsed as `set example("ab" + "c")`. The '(' takes the
    place of a space, so columns stay as written. An expression that goes on to the next line
    (an open bracket) is left as it is. Returns the text and the offsets of the ')' added."""
    if "example" not in text:
        return text, set()
    pieces: list[str] = []
    closers: set[int] = set()
    last = 0
    for match in _SET_EXAMPLE.finditer(text):
        pieces.append(text[last:match.start()])
        last = match.end()
        expression = _to_line_end(match[3])
        if not expression or _one_primary(expression):
            pieces.append(match[0])
            continue
        after = match[3][len(expression):]
        head = f"{match[1]}({match[2][1:]}{expression}"
        closers.add(sum(map(len, pieces)) + len(head))
        pieces.append(head + ")" + (after[1:] if after[:1] in (" ", "\t") else after))
    pieces.append(text[last:])
    return "".join(pieces), closers


def _one_primary(expression: str) -> bool:
    """Whether the grammar reads `set example EXPRESSION` as one command, as it stands."""
    try:
        tree = get_parser().parse(f"set example {expression};")
    except UnexpectedInput:
        return False
    return len(tree.children) == 1


def _to_line_end(rest: str) -> str:
    """The expression at the start of `rest`, up to a ';' or a comment ("" if a bracket in
    it is not closed on this line)."""
    depth = 0
    for i, ch, kind in scan(rest + "\n"):
        if kind == "comment" or (kind == "code" and ch in ";\n"):
            return rest[:i].rstrip() if depth == 0 else ""
        if kind == "code" and ch in "([{":
            depth += 1
        elif kind == "code" and ch in ")]}":
            depth -= 1
            if depth < 0:
                return ""
    return ""


# ---------------------------------------------------------------- strings and comments

def scan(text: str) -> Iterator[tuple[int, str, str]]:
    """Each character of `text` with its offset and what it is part of: "code", "string" (its
    quotes too) or "comment" (from '#'). Strings and comments end at the end of their line,
    whose newline is theirs. The one reader of RASP's strings and comments: the parser's
    messages, `set example` lines and the REPL's completion all use it."""
    return ((i, ch, kind) for i, ch, kind, _ in _states(text))


def ends_in(text: str) -> str:
    """What the end of `text` is inside: "code", an unclosed "string" or a "comment"."""
    states = list(_states(text))
    return states[-1][3] if states else "code"


def _states(text: str) -> Iterator[tuple[int, str, str, str]]:
    """`scan`, with what the text is inside after each character."""
    inside = "code"
    for i, ch in enumerate(text):
        if inside == "code" and ch in '#"':
            kind = inside = "comment" if ch == "#" else "string"
        else:
            kind = inside
            if inside != "code" and ch == "\n" or inside == "string" and ch == '"':
                inside = "code"
        yield i, ch, kind, inside


# ---------------------------------------------------------------- parse tree -> AST

def _span(source: Source, meta) -> Span:
    shift = source.first_line - 1
    return Span(source, meta.line + shift, meta.column, meta.end_line + shift, meta.end_column)


@v_args(inline=True, meta=True)
class _ToAst(Transformer_NonRecursive):
    """Builds ast nodes; every method gets lark's `meta` (the position) first."""

    def __init__(self, source: Source):
        super().__init__()
        self.source = source

    def _at(self, meta) -> Span:
        return _span(self.source, meta)

    # -- statements
    def start(self, meta, *statements):
        return ast.Program(tuple(statements), span=self._at(meta) if not meta.empty else
                           Span(self.source, *(self.source.first_line, 1) * 2))

    def expr_stmt(self, meta, expr):
        return ast.ExprStmt(expr, span=self._at(meta))

    def assign(self, meta, names, exprs):
        return ast.Assign(names, exprs, span=self._at(meta))

    def draw(self, meta, sop, example):
        return ast.Draw(sop, example, span=self._at(meta))

    def analyze(self, meta, _keyword, sop):
        return ast.Analyze(sop, span=self._at(meta))

    def compile(self, meta, _keyword, sop, vocab, max_len, path):
        return ast.Compile(sop, vocab, max_len, path, span=self._at(meta))

    def load(self, meta, path):
        return ast.Load(path[1:-1], span=self._at(meta))

    def func_def(self, meta, name, params, *rest):
        *body, returns = rest
        return ast.FuncDef(str(name), params or (), tuple(body), returns, span=self._at(meta))

    def for_loop(self, meta, names, iterable, *body):
        return ast.For(names, iterable, tuple(body), span=self._at(meta))

    def set_example(self, meta, which, example):
        return ast.SetExample(which or "both", example, span=self._at(meta))

    def show_example(self, meta, which):
        return ast.ShowExample(which or "both", span=self._at(meta))

    def toggle_examples(self, meta, which, switch):
        return ast.ToggleExamples(which or "both", switch == "on", span=self._at(meta))

    def toggle_full_display(self, meta, _keyword, switch):
        return ast.ToggleFullDisplay(switch == "on", span=self._at(meta))

    def exit(self, meta, _keyword):
        return ast.Exit(span=self._at(meta))

    # -- pieces
    def names(self, meta, *names):
        return tuple(str(n) for n in names)

    def exprs(self, meta, *exprs):
        return tuple(exprs)

    def pairs(self, meta, *pairs):
        return tuple(pairs)

    def pair(self, meta, key, value):
        return (key, value)

    def _operator(self, meta, token):
        return str(token)

    subset = switch = logic_op = compare_op = add_op = mod_op = mul_op = pow_op = _operator
    unary_op = select_op = _operator

    # -- expressions
    def name(self, meta, token):
        return ast.Name(str(token), span=self._at(meta))

    def int(self, meta, token):
        try:
            return ast.Const(int(token), span=self._at(meta))
        except ValueError:  # Python's bound on the digits of an int it reads (4,300)
            limit = sys.get_int_max_str_digits()
            raise _Refused(RaspLimitError(f"an integer of {len(token):,} digits: at most "
                                          f"{limit:,} are read", self._at(meta))) from None

    def float(self, meta, token):
        return ast.Const(float(token), span=self._at(meta))

    def string(self, meta, token):
        return ast.Const(str(token)[1:-1], span=self._at(meta))

    def list(self, meta, items):
        return ast.ListExpr(items or (), span=self._at(meta))

    def dict(self, meta, pairs):
        return ast.DictExpr(pairs or (), span=self._at(meta))

    def list_comp(self, meta, item, names, iterable):
        return ast.ListComp(item, names, iterable, span=self._at(meta))

    def dict_comp(self, meta, key, value, names, iterable):
        return ast.DictComp(key, value, names, iterable, span=self._at(meta))

    def select(self, meta, _keyword, keys, queries, op):
        return ast.Select(keys, queries, op, span=self._at(meta))

    def aggregate(self, meta, _keyword, selector, values, default):
        return ast.Aggregate(selector, values, default, span=self._at(meta))

    def binary(self, meta, left, op, right):
        return ast.BinOp(op, left, right, span=self._at(meta))

    def unary(self, meta, op, operand):
        return ast.UnaryOp(op, operand, span=self._at(meta))

    def round(self, meta, operand):
        return ast.UnaryOp("round", operand, span=self._at(meta))

    def indicator(self, meta, operand):
        return ast.UnaryOp("indicator", operand, span=self._at(meta))

    def conditional(self, meta, then, test, otherwise):
        return ast.Cond(then, test, otherwise, span=self._at(meta))

    def contains(self, meta, item, container):
        return ast.Contains(item, container, span=self._at(meta))

    def index(self, meta, target, index):
        return ast.Index(target, index, span=self._at(meta))

    def call(self, meta, func, args):
        return ast.Call(func, args or (), span=self._at(meta))

    def _builtin(self, meta, keyword, args):
        name = str(keyword).split("(")[0].strip()
        return ast.Builtin(name, args if isinstance(args, tuple) else (args,), span=self._at(meta))

    range = zip = len = _builtin


# ---------------------------------------------------------------- syntax errors

_TERMINAL_NAMES = {"NAME": "a name", "INT": "a number", "FLOAT": "a number", "STRING": "a string",
                   "SELECT": "'select('", "AGGREGATE": "'aggregate('", "RANGE": "'range('",
                   "ZIP": "'zip('", "LEN": "'len('", "ANALYZE": "'analyze('",
                   "COMPILE": "'compile('",
                   "FULL_SEQ_DISPLAY": "'full seq display'",
                   "EXIT": "'exit'", "SOP": "'s-op'", "$END": "the end of the input"}
_OPENERS = {"(": ")", "[": "]", "{": "}"}


@functools.cache
def _friendly_names() -> dict[str, str]:
    names = {}
    for t in get_parser().terminals:
        if t.pattern.type == "str":
            names[t.name] = repr(t.pattern.value)
    names.update(_TERMINAL_NAMES)
    return names


def _describe(token: Token) -> str:
    if token.type == "$END":
        return "end of input"
    return repr(str(token))


def _accepted(e: UnexpectedInput) -> set[str]:
    """The terminals the parser would have taken where it stopped."""
    return set(getattr(e, "accepts", None) or getattr(e, "expected", None) or ())


def _expected(e: UnexpectedInput) -> str:
    names = _friendly_names()
    accepts = _accepted(e)
    if {"NAME", "INT", "STRING"} <= accepts:
        return ", expected an expression"
    wanted = sorted({names.get(t, t) for t in accepts})
    if len(wanted) > 8:
        return ""
    return ", expected " + (wanted[0] if len(wanted) == 1 else "one of " + ", ".join(wanted))


def _code_positions(text: str) -> Iterator[tuple[int, str]]:
    """Offsets of the characters of `text` that are code, not strings or comments."""
    return ((i, ch) for i, ch, kind in scan(text) if kind == "code")


def _unclosed_bracket(text: str) -> int | None:
    stack: list[int] = []
    for i, ch in _code_positions(text):
        if ch in _OPENERS:
            stack.append(i)
        elif ch in ")]}" and stack and _OPENERS[text[stack[-1]]] == ch:
            stack.pop()
    return stack[-1] if stack else None


def _last_code_char(text: str, before: int) -> int | None:
    last = None
    for i, ch in _code_positions(text[:before]):
        if not ch.isspace():
            last = i
    return last


def _span_at(source: Source, offset: int, length: int = 1, text: str | None = None) -> Span:
    """The span at `offset` of `text` (the source's own text unless given: the text parsed,
    which may differ from the one shown)."""
    text = source.text if text is None else text
    line = text.count("\n", 0, offset) + source.first_line
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Span(source, line, column, line, column + length)


_COMPARISONS = {"==", "!=", "<", ">", "<=", ">="}


def _syntax_error(e: UnexpectedInput, source: Source, text: str) -> RaspSyntaxError:
    if isinstance(e, UnexpectedCharacters):
        position = e.pos_in_stream or 0
        ch = text[position]
        where = _span_at(source, position, text=text)
        if ch == '"':
            return RaspSyntaxError("unterminated string (strings end on the line they start)",
                                   where)
        if ch == "'":
            return RaspSyntaxError("strings are written in double quotes", where)
        return RaspSyntaxError(f"unexpected character {ch!r}", where)
    assert isinstance(e, (UnexpectedToken, UnexpectedEOF))
    token = getattr(e, "token", None)
    position = len(text) if token is None or token.type == "$END" else token.start_pos
    leaving = _EXIT_WITH_MORE.search(text, 0, position)
    if leaving:
        return RaspSyntaxError(f"'{leaving[1]}' takes nothing after it (write {leaving[1]}, "
                               f"{leaving[1]}; or {leaving[1]}())",
                               _span_at(source, leaving.start(1), len(leaving[1]), text))
    at_end = token is None or token.type == "$END"
    if at_end:
        opener = _unclosed_bracket(text)
        if opener is not None:
            return RaspSyntaxError(f"{text[opener]!r} is never closed",
                                   _span_at(source, opener, text=text))
        last = _last_code_char(text, len(text))
        where = _span_at(source, last + 1 if last is not None else 0, text=text)
        if "SEMICOLON" in _accepted(e):
            return RaspSyntaxError("missing ';' at the end of the statement", where)
        return RaspSyntaxError("unexpected end of input" + _expected(e), where)
    assert token is not None
    expected = _accepted(e)
    if "SEMICOLON" in expected:
        last = _last_code_char(text, token.start_pos)
        if last is not None and text.count("\n", last, token.start_pos):
            return RaspSyntaxError("missing ';' at the end of the statement",
                                   _span_at(source, last + 1, text=text))
    shift = source.first_line - 1
    where = Span(source, token.line + shift, token.column, (token.end_line or token.line) + shift,
                 token.end_column or token.column + 1)
    # past the text shown: in what parse added (the ';' after an expression), which ends it
    added = source.text != text and token.start_pos >= len(source.text)
    message = ("unexpected end of the expression" if added else f"unexpected {_describe(token)}") \
        + _expected(e)
    before = text[:token.start_pos]
    call = re.search(r"([A-Za-z_]\w*)\s*\([^()]*,\s*$", before)
    if str(token) in _COMPARISONS and call and call[1] != "select":
        # only select takes an operator: `selct(a, b, ==)` misspells it
        hint = " (did you mean 'select'?)" if difflib.get_close_matches(
            call[1], ["select"], cutoff=0.6) else ""
        return RaspSyntaxError(f"'{call[1]}' is not select: only select(keys, queries, "
                               f"{token}) takes a comparison as an argument{hint}",
                               _span_at(source, call.start(1), len(call[1]), text))
    if re.search(r"(?:^|[;{}]\s*)draw\s*$", before) and str(token) != "(":
        return RaspSyntaxError("'draw' is a command, draw(sop) or draw(sop, input), and "
                               "cannot be used as a name",
                               _span_at(source, len(before.rstrip()) - 4, 4, text))
    if token.type == "RBRACE" and "RETURN" in expected:
        message = "a function body must end with 'return ...;'"
    if re.fullmatch(r"[a-zA-Z_]+", str(token)) and token.type != "NAME":
        message += f" ('{token}' is a keyword)"
    return RaspSyntaxError(message, where)
