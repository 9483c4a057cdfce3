"""Running RASP text and reporting the outcome: the one path for every front end.

Scripts (`rasp FILE`, `-c`), piped input (`rasp < FILE`) and the REPL run source through
`run_program` (the session renders each statement's outcome as it comes, by
`outcomes.render`; the exit code and whether the program ran `exit` are read from the
outcomes), and cut a stream of lines into entries with `chunks`, by the rule the REPL's Enter
key follows (`entry_status`), each line parsed once. Piped input is read as bytes and
decoded line by line (`stream_lines`), in every locale. The meta-commands `help` and
`names`, which are not RASP, are answered here too, so that they work wherever entries are
read.

Exit codes (sysexits.h): 0 success, 64 a usage error, 65 a syntax error, 70 a runtime error
or an internal one (a bug of ours: its message says so), 130 interrupted, 141 the reader of
our output went away. Piped input goes on after an error, and exits with the code of the last
entry that failed.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, TextIO

from .display import format_names
from .errors import LINE_END, RaspError, RaspSyntaxError, format_error
from .interpreter import Interpreter
from .outcomes import Exited, Reported
from .parser import MAX_PROGRAM, GrowingInput, input_status

__all__ = ["EXIT_OK", "EXIT_USAGE", "EXIT_SYNTAX", "EXIT_RUNTIME", "EXIT_INTERNAL",
           "EXIT_INTERRUPTED", "EXIT_BROKEN_PIPE", "HELP", "OutputFailed", "Ran", "chunks",
           "enter", "entry_status", "gave_up", "line_writer", "listing", "meta_command",
           "report_internal", "run_entry", "run_piped", "run_program", "run_source",
           "stream_lines"]

EXIT_OK, EXIT_USAGE, EXIT_SYNTAX, EXIT_RUNTIME, EXIT_INTERNAL = 0, 64, 65, 70, 70
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE

HELP = """\
RASP: programs over sequences, built from select (attention patterns), aggregate (attention)
and elementwise operations. End each statement with ';'.
  tokens, indices                the input and its positions: (indices + 1)("abc");
  x = tokens == "l";             elementwise operations build new s-ops
  select(keys, queries, <)       a selector: query q attends to key k if keys[k] < queries[q]
  aggregate(sel, values)         attention: each query averages the values it selects
  selector_width(sel)            how many keys each query selects
  def f(a) { ... return e; }     functions; for x in [1, 2] { ... } loops
  (length)("input");             apply an s-op or selector to an input
  load "paper_examples";         run a file from this folder or the example library
  analyze(sort(tokens, tokens)); the layers and attention heads an s-op needs
  draw(length - indices, "abc"); its computation, layer by layer (and a picture in comp_flows/)
  compile(length, "abc", 8);     transformer weights that compute it exactly (, "m.npz": saved)
A named s-op or selector is shown on the running example.
Commands:
  set example "hey"              change the running example (s-op / selector variants)
  show example                   print the running examples
  examples on|off                show examples with named values (s-op / selector variants)
  full seq display on|off        the column-aligned display of sequences
  exit, quit, Ctrl-D             leave
  names, names all               what is defined, by kind (all: with the library)
  help                           this text
Keys: Enter runs a complete entry and opens a new line in an incomplete one; Alt-Enter (or
Enter on a second empty line) runs it anyway. Tab completes names, Up searches the history
for what is typed, Ctrl-R searches it, Right arrow takes the grey suggestion. Ctrl-C clears
the entry or stops an evaluation.
"""

_META = re.compile(r"\s*(?:(help)|(names)(?:\s+(all))?)\s*")


def meta_command(text: str) -> str | None:
    """`help`, `names` or `names all` when `text` is that meta-command (no `;`), else None."""
    match = _META.fullmatch(text)
    return " ".join(w for w in match.groups() if w) if match else None


def entry_status(text: str) -> str:
    """What Enter does with `text`: run it ('complete', 'invalid') or go on ('incomplete')."""
    return "complete" if meta_command(text) else input_status(text)


def gave_up(text: str) -> bool:
    """A second empty line runs an incomplete entry anyway, to show what it lacks."""
    lines = text.split("\n")
    return len(lines) > 2 and not lines[-1].strip() and not lines[-2].strip()


def listing(interpreter: Interpreter, everything: bool, colour: bool = False,
            width: int = 80) -> list[str]:
    """What `names` prints: the session's names by kind; with `all`, the library's too."""
    def names(env_vars: dict[str, Any]) -> list[str]:
        shown = {name: value for name, value in env_vars.items() if name != "out"}
        return format_names(shown, colour, width)

    session = names(interpreter.env.vars)
    if not everything:
        return session or ["nothing is defined yet (names all: the library too)"]
    return ["library:", *names(interpreter.base.vars),
            "this session:", *(session or ["      nothing yet"])]


class OutputFailed(Exception):
    """Our output cannot be written (`rasp > /dev/full`): what is left is not run, and the
    command says so in one line (exit 64, as for any file that cannot be written)."""


def line_writer(stream: TextIO) -> Callable[[str], None]:
    """An output callback for a session: each line written and flushed at once."""
    def write(line: str) -> None:
        try:
            stream.write(line + "\n")
            stream.flush()
        except BrokenPipeError:  # the reader went away: `entry` stops quietly
            raise
        except OSError as e:
            raise OutputFailed(e.strerror or str(e)) from None
    return write


def report_internal(error: BaseException, stream: TextIO, show_traceback: bool = False) -> None:
    """A bug of ours: one line asking for a report; the Python traceback only on request
    (`--traceback` or RASP_TRACEBACK=1), since users did nothing wrong."""
    if show_traceback or os.environ.get("RASP_TRACEBACK"):
        traceback.print_exception(error, file=stream)
    stream.write(f"internal error: {type(error).__name__}: {error} -- a bug in rasp; please "
                 "report it with the input that caused it (--traceback shows where)\n")


class Ran(NamedTuple):
    """What running a program or an entry gave: its exit code, and whether it ended the
    session (`exit` or `quit`)."""

    code: int
    exited: bool = False


def _code(error: RaspError) -> int:
    return EXIT_SYNTAX if isinstance(error, RaspSyntaxError) else EXIT_RUNTIME


def run_program(interpreter: Interpreter, text: str, filename: str, err: TextIO,
                show_traceback: bool = False, first_line: int = 1) -> Ran:
    """Run a whole program (a script, or one entry numbered from `first_line`), its outcomes
    rendered by the session as they come: the first error ends it and is reported on `err`.
    Errors a loaded file reported and went on after decide the exit code too."""
    try:
        outcomes = interpreter.outcomes(text, filename, first_line)
    except RaspError as e:
        err.write(format_error(e) + "\n")
        return Ran(_code(e))
    except (BrokenPipeError, OutputFailed):  # the reader is gone (`rasp < in | head`), a
        raise  # full disk: the command ends
    except Exception as e:  # a bug of ours: say so, never a bare traceback
        report_internal(e, err, show_traceback)
        return Ran(EXIT_INTERNAL)
    reported = [o.error for o in outcomes if isinstance(o, Reported)]
    return Ran(_code(reported[-1]) if reported else EXIT_OK,
               any(isinstance(o, Exited) for o in outcomes))


def run_source(interpreter: Interpreter, text: str, filename: str, err: TextIO,
               show_traceback: bool = False, first_line: int = 1) -> int:
    """`run_program`'s exit code."""
    return run_program(interpreter, text, filename, err, show_traceback, first_line).code


def enter(interpreter: Interpreter, text: str, filename: str, first_line: int,
          out: TextIO, err: TextIO, show_traceback: bool = False,
          colour: bool = False, width: int = 80) -> Ran:
    """Run one entry of the REPL or of piped input: a meta-command or RASP statements,
    numbered over the whole session. Errors are reported, not raised."""
    command = meta_command(text)
    if command == "help":
        out.write(HELP)
    elif command is not None:
        out.write("\n".join(listing(interpreter, command == "names all", colour, width)) + "\n")
    elif text.strip():
        return run_program(interpreter, text, filename, err, show_traceback, first_line)
    return Ran(EXIT_OK)


def run_entry(interpreter: Interpreter, text: str, filename: str, first_line: int,
              out: TextIO, err: TextIO, show_traceback: bool = False,
              colour: bool = False, width: int = 80) -> int:
    """`enter`'s exit code."""
    return enter(interpreter, text, filename, first_line, out, err, show_traceback, colour,
                 width).code


def chunks(lines: Iterable[str]) -> Iterator[tuple[str, int]]:
    """Group input lines into entries as the REPL's Enter does (`entry_status`): read until
    the entry is complete or cannot be completed, or until a second empty line gives up on
    it. Yields (text, number of its first line). Each line is parsed once, however long
    its entry (parser.GrowingInput): a 400-line function costs what it costs in a script."""
    entry: list[str] = []
    first = blanks = 0
    reading = GrowingInput()
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\n")
        if not entry:
            first, reading = number, GrowingInput()
        if not entry and not line.strip():
            continue  # empty lines between entries
        entry.append(line)
        blanks = 0 if line.strip() else blanks + 1
        # a meta-command is a whole line: `names` alone is already complete
        status = "complete" if len(entry) == 1 and meta_command(line) else reading.add(line)
        if status != "incomplete" or (len(entry) > 2 and blanks >= 2):
            yield "\n".join(entry), first
            entry = []
    if entry:
        yield "\n".join(entry), first


class TooLong(Exception):
    """A line of piped input longer than a program may be: the rest is not read."""

    def __init__(self, number: int):
        super().__init__(number)
        self.number = number


def stream_lines(stream: TextIO) -> Iterator[str]:
    """The lines of `stream`, each ending at "\n", "\r\n" or "\r" only (errors.LINE_END).
    Bytes are read and decoded line by line, in every locale: a byte that is not UTF-8 stays
    a lone surrogate (surrogateescape), which the parser reports where it is. A line longer
    than a program may be (parser.MAX_PROGRAM: `rasp < /dev/zero`) raises TooLong."""
    binary = getattr(stream, "buffer", None)
    number, unfinished = 0, ""  # unfinished: a line not ended yet (readline stops at "\n")
    while True:
        piece = (binary or stream).readline(MAX_PROGRAM + 1)
        text = piece.decode("utf-8", "surrogateescape") if isinstance(piece, bytes) else piece
        lines = LINE_END.split(unfinished + text)
        unfinished = lines.pop() if piece else ""
        for line in lines:
            number += 1
            if len(line) > MAX_PROGRAM:
                raise TooLong(number)
            if line or piece:  # at the end, "" is no line
                yield line
        if len(unfinished) > MAX_PROGRAM:
            raise TooLong(number + 1)
        if not piece:
            return


def run_piped(interpreter: Interpreter, stream: TextIO, out: TextIO, err: TextIO,
              show_traceback: bool = False) -> int:
    """`rasp < FILE`: entries read as the REPL reads them, printed without prompts. Errors
    are reported and the rest runs; the exit code is that of the last entry that failed, or
    64 for a line longer than a program may be, which ends the reading."""
    status = EXIT_OK
    try:
        for text, first in chunks(stream_lines(stream)):
            ran = enter(interpreter, text, "<stdin>", first, out, err, show_traceback)
            status = ran.code if ran.code != EXIT_OK else status
            if ran.exited:
                break
    except TooLong as e:
        err.write(f"<stdin>:{e.number}: error: a line longer than {MAX_PROGRAM:,} characters "
                  "(docs/cli.md, Limits); the rest of the input is not read\n")
        return EXIT_USAGE
    return status
