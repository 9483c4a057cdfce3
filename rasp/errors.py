"""Source positions and the errors a RASP user can cause, with the one renderer for them.

Every phase (parser, evaluator, graph evaluation) raises a `RaspError` carrying the `Span` of
the source that caused it; `format_error` turns it into the message users see:

    sort.rasp:3:9: error: undefined name 'foo'
      3 | y = x + foo;
        |         ^^^
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = ["LINE_END", "split_lines", "not_text", "visible", "Source", "Span", "Note", "RaspError",
           "RaspSyntaxError", "RaspNameError", "RaspTypeError", "RaspValueError", "RaspLimitError",
           "format_error", "python_message", "shorten"]


def shorten(text: str, width: int) -> str:
    """`text`, cut to `width` characters with "..." when it is longer."""
    return text if len(text) <= width else text[: width - 3] + "..."


# Lines end at "\n", "\r\n" or "\r", and nowhere else: not at the other characters that
# str.splitlines takes for line ends (U+2028, U+0085, "\x0b", "\x0c"...), which are
# characters of the line, so that an inputs file has as many results as lines.
LINE_END = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """The lines of `text` (see LINE_END), without their ends; a last empty line after the
    final line end is not one, as in str.splitlines."""
    lines = LINE_END.split(text)
    return lines[:-1] if lines[-1] == "" else lines


# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: printed
# raw they would move the cursor, recolour or clear a terminal (ESC sequences) or break a
# line of output in two, so values and source excerpts show them escaped, as Python does.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def visible(text: str) -> str:
    """`text` with each control character written as its escape (`\x1b`, `\n`)."""
    return _INVISIBLE.sub(lambda m: repr(m[0])[1:-1], text) if _INVISIBLE.search(text) \
        else text


_SURROGATE = re.compile("[\ud800-\udfff]")


def not_text(text: str) -> tuple[int, str] | None:
    """Where `text` holds a lone surrogate, and what it is: None when it is all text. Readers
    of bytes decode with "surrogateescape", so that a byte that is not UTF-8 becomes one
    (U+DC80-U+DCFF) and can be reported at its place; JSON's "\\ud800" is the other kind."""
    odd = _SURROGATE.search(text)
    if odd is None:
        return None
    code = ord(odd[0])
    if 0xDC80 <= code <= 0xDCFF:
        return odd.start(), f"the byte 0x{code - 0xDC00:02X} is not UTF-8 text"
    return odd.start(), f"a lone surrogate U+{code:04X} is not text"


@dataclass(frozen=True, eq=False)
class Source:
    """A named piece of RASP text: a file, a `-c` string or one REPL entry. A REPL entry
    starts on line `first_line` of the session, and spans count lines from there."""

    name: str
    text: str
    first_line: int = 1

    def line(self, number: int) -> str:
        lines = split_lines(self.text)
        index = number - self.first_line
        return lines[index] if 0 <= index < len(lines) else ""

    @property
    def library(self) -> bool:
        """Whether this is code the user did not write: the prelude or a file of the
        example library shipped with rasp."""
        return _in_library(self.name)


_PACKAGE = Path(__file__).resolve().parent
_LIBRARY_FOLDERS = (_PACKAGE, _PACKAGE / "examples", _PACKAGE.parent / "examples")


@lru_cache(maxsize=1024)  # bounded: a long session names many sources (REPL entries, files)
def _in_library(name: str) -> bool:
    if name.startswith("<"):
        return False
    try:
        folder = Path(name).resolve().parent
    except (OSError, ValueError):
        return False
    return folder in _LIBRARY_FOLDERS


@dataclass(frozen=True)
class Span:
    """Where a piece of source sits. Lines and columns count from 1; `end_column` is exclusive
    (the column after the last character), as in lark."""

    source: Source = field(compare=False, repr=False)
    line: int
    column: int
    end_line: int
    end_column: int

    @property
    def where(self) -> str:
        return f"{self.source.name}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Note:
    """Context for an error, told after it at `span`: the call a failing value was built in
    (kind "call", with the `function` called), the file loaded there ("load"), the input it
    was evaluated on ("input"), where inside the library it failed ("library")."""

    text: str
    span: Span
    kind: str = "note"
    function: str | None = None

    @classmethod
    def call(cls, function: str, span: Span) -> Note:
        return cls(f"in '{function}' called here", span, "call", function)


class RaspError(Exception):
    """A mistake in a RASP program, reported at `span`: `text` says what went wrong, and
    `context` what was being done, outermost first (the library function the user called, the
    value shown); `message` tells both. `notes` add where: the calls a failing value was built
    in, the application that evaluated it. `format_error` renders the whole, once."""

    kind = "error"

    def __init__(self, message: str, span: Span | None = None, notes: tuple[Note, ...] = ()):
        super().__init__(message)
        self.text = message
        self.context: tuple[str, ...] = ()
        self.span = span
        self.notes = notes
        self.node: object | None = None  # the graph node that failed, if any

    @property
    def message(self) -> str:
        """`context: text`, as the first line of the error tells it."""
        return ": ".join((*self.context, self.text))

    def within(self, context: str) -> RaspError:
        """The error as part of what `context` names: told as `context: message`."""
        self.context = (context, *self.context)
        return self

    def at(self, span: Span | None) -> RaspError:
        """Give a position to an error raised where none was known."""
        if self.span is None:
            self.span = span
        return self

    def noted(self, note: str | Note, span: Span | None = None, kind: str = "note") -> RaspError:
        """Add a note: a Note, or its text, span and kind."""
        if not isinstance(note, Note):
            assert span is not None, "a note's text needs its span"
            note = Note(note, span, kind)
        self.notes = (*self.notes, note)
        return self

    def rehomed(self) -> RaspError:
        """An error raised inside library code, moved to the user's own call of the library:
        the message is told there, and where inside the library it failed becomes a note.
        (Notes run from the innermost call outwards; a call note reads "in 'f' called here".)
        Errors in the user's own code, or with no user call around them, are left alone."""
        if self.span is None or not self.span.source.library:
            return self
        for index, note in enumerate(self.notes):
            if note.kind == "call" and note.function and not note.span.source.library:
                inside = Note(f"where it failed, inside the library's '{note.function}'",
                              self.span, "library")
                self.notes = (inside, *self.notes[index + 1:])
                self.span = note.span
                if not self.message.startswith(note.function):
                    self.within(note.function)
                return self
        return self

    @property
    def filename(self) -> str | None:
        return self.span.source.name if self.span else None

    @property
    def line(self) -> int | None:
        return self.span.line if self.span else None

    @property
    def column(self) -> int | None:
        return self.span.column if self.span else None

    def __str__(self) -> str:
        return format_error(self)


class RaspSyntaxError(RaspError):
    """The text is not RASP."""


class RaspNameError(RaspError):
    """An undefined name, or an assignment to a reserved one."""


class RaspTypeError(RaspError):
    """A value of the wrong kind: a selector where an s-op is needed, a wrong argument count..."""


class RaspValueError(RaspError):
    """A value of the right kind that cannot be used: averaging strings, division by zero..."""


class RaspLimitError(RaspError):
    """A resource limit: recursion too deep, input too large."""


_KINDS = {"str": "a string", "int": "an int", "float": "a float", "bool": "a bool",
          "list": "a list", "dict": "a dict", "complex": "a complex number"}
_PYTHON_MESSAGES = [
    (re.compile(r"unsupported operand type\(s\) for ([^:]+): '(\w+)' and '(\w+)'"),
     lambda m: f"cannot apply '{_op(m[1])}' to {_kind(m[2])} and {_kind(m[3])}"),
    (re.compile(r"bad operand type for unary (\S+): '(\w+)'"),
     lambda m: f"cannot apply '{m[1]}' to {_kind(m[2])}"),
    (re.compile(r"type (\w+) doesn't define __round__ method"),
     lambda m: f"round expects a number, got {_kind(m[1])}"),
    (re.compile(r"'(\S+)' not supported between instances of '(\w+)' and '(\w+)'"),
     lambda m: f"cannot compare {_kind(m[2])} with {_kind(m[3])} by '{m[1]}'"),
    (re.compile(r'can only concatenate (\w+) \(not "(\w+)"\) to \w+'),
     lambda m: f"cannot apply '+' to {_kind(m[1])} and {_kind(m[2])}"),
    (re.compile(r"can't multiply sequence by non-int of type '(\w+)'"),
     lambda m: f"a string or list can only be repeated by an int, not by {_kind(m[1])}"),
    (re.compile(r"invalid literal for int\(\) with base 10: (.*)"),
     lambda m: f"{m[1]} is not an integer"),
    (re.compile(r"could not convert string to float: (.*)"),
     lambda m: f"{m[1]} is not a number"),
    (re.compile(r"unhashable type: '(\w+)'"),
     lambda m: f"{_kind(m[1])} cannot be used as a key or set member"),
]


def _kind(python_type: str) -> str:
    return _KINDS.get(python_type, f"a value of type {python_type}")


def _op(python_op: str) -> str:
    return "^" if python_op.startswith("**") else python_op


def python_message(error: Exception) -> str:
    """The message of a Python exception raised while computing a RASP value, in RASP's
    words where Python's would name its own types or methods."""
    text = str(error)
    for pattern, rewrite in _PYTHON_MESSAGES:
        match = pattern.fullmatch(text)
        if match:
            return rewrite(match)
    return text


EXCERPT_WIDTH = 100  # characters of a source line shown in a message, at most


def _shown(line: str) -> str:
    """A source line as its excerpt shows it: tabs as spaces, control characters escaped."""
    return visible(line.expandtabs(4))


def _excerpt(span: Span) -> list[str]:
    text = _shown(span.source.line(span.line))
    if not text.strip():
        return []
    raw = span.source.line(span.line)
    start = len(_shown(raw[: span.column - 1]))
    end_col = span.end_column if span.end_line == span.line else len(raw) + 1
    end = len(_shown(raw[: max(end_col - 1, span.column - 1)]))
    gutter = str(span.line)
    if len(text) > EXCERPT_WIDTH:  # a window around the carets, so a huge line stays short
        carets = min(max(end - start, 1), EXCERPT_WIDTH // 2)
        left = max(0, min(start - EXCERPT_WIDTH // 4, len(text) - EXCERPT_WIDTH))
        right = left + EXCERPT_WIDTH
        shown = ("..." if left else "") + text[left:right] + ("..." if right < len(text) else "")
        start = start - left + (3 if left else 0)
        return [f"  {gutter} | {shown}",
                f"  {' ' * len(gutter)} | {' ' * start}{'^' * carets}"]
    return [f"  {gutter} | {text}",
            f"  {' ' * len(gutter)} | {' ' * start}{'^' * max(end - start, 1)}"]


def format_error(err: RaspError, severity: str = "error") -> str:
    """`FILE:LINE:COL: error: MESSAGE`, the source line, carets under the span, then notes."""
    if err.span is None:
        return f"{severity}: {err.message}"
    lines = [f"{err.span.where}: {severity}: {err.message}", *_excerpt(err.span)]
    for note in err.notes:
        lines += [f"{note.span.where}: note: {note.text}", *_excerpt(note.span)]
    return "\n".join(lines)
