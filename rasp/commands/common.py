"""What every subcommand shares: the exit codes, the argument parser, finding and running the
program, taking NAME from it, and the options that mean the same thing everywhere.

Exit codes, one table for every subcommand (rasp.runner defines them; docs/cli.md lists them):
0 success, 64 a usage error (wrong arguments, a bad option value, a file that cannot be read,
a missing extra), 65 a syntax error, 70 any other error of the program or a refusal (the
compiler's included), 130 interrupted, 141 the reader of our output went away.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TextIO

from ..env import example_library
from ..errors import (
    RaspError,
    RaspNameError,
    RaspSyntaxError,
    RaspValueError,
    format_error,
    not_text,
)
from ..files import OutputError
from ..interpreter import Interpreter
from ..parser import MAX_PROGRAM
from ..runner import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_SYNTAX,
    EXIT_USAGE,
    OutputFailed,
    line_writer,
    report_internal,
    run_source,
)
from ..values import prepare_input

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_RUNTIME",
           "EXIT_SYNTAX", "EXIT_USAGE", "INPUTS_BYTES", "Loaded", "PROGRAM_BYTES", "Parser",
           "Stopped", "UsageError", "command", "exit_code", "expression", "input_of", "load",
           "natural", "positive", "program_path", "read", "session", "vocab", "vocab_arguments"]

Main = Callable[..., int]  # main(argv, out, err, **more) -> exit code


class UsageError(Exception):
    """A mistake in the command line: reported as one line, `PROG: MESSAGE`, exit 64."""


class Stopped(Exception):
    """The command ends with `status`, whose reason is already written (or is none: --help)."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def exit_code(error: BaseException) -> int:
    """The exit code of what ended a command."""
    if isinstance(error, Stopped):
        return error.status
    if isinstance(error, (UsageError, OutputError)):  # OutputError: a folder in use or taken
        return EXIT_USAGE
    if isinstance(error, RaspSyntaxError):
        return EXIT_SYNTAX
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, BrokenPipeError):
        return EXIT_BROKEN_PIPE
    return EXIT_RUNTIME  # any other RaspError, a refusal, a bug of ours


def command(prog: str) -> Callable[[Main], Main]:
    """A subcommand's `main(argv, out, err) -> int`, whose body may raise: a usage mistake,
    a RaspError (positioned, or one line about the arguments), a file that cannot be written
    and a bug of ours each get one report and their exit code. Interrupts and a closed pipe
    go on up to `main` and `entry`."""
    def wrap(body: Main) -> Main:
        @functools.wraps(body)
        def main(argv: list[str], out: TextIO, err: TextIO, **more: Any) -> int:
            try:
                return body(argv, out, err, **more)
            except Stopped as e:
                return e.status
            except UsageError as e:
                err.write(f"{prog}: {e}\n")
                return EXIT_USAGE
            except RaspError as e:
                err.write((format_error(e) if e.span else f"{prog}: error: {e.message}") + "\n")
                return exit_code(e)
            except (BrokenPipeError, KeyboardInterrupt, OutputFailed):
                raise
            except OSError as e:  # a folder or file the command cannot write, as one line
                where = f": {e.filename}" if e.filename else ""
                err.write(f"{prog}: {e.strerror or e}{where}\n")
                return EXIT_USAGE
            except Exception as e:  # a bug of ours: say so, never a bare traceback
                report_internal(e, err)
                return EXIT_INTERNAL
        return main
    return wrap


class Parser(argparse.ArgumentParser):
    """argparse on the command's own streams, with the exit codes of the table: --help and
    --version print to `out` and exit 0; a mistake is one line, `PROG: --option: why`, and
    exit 64 (argparse's own: the usage on sys.stderr and exit 2)."""

    def __init__(self, *args: Any, out: TextIO, err: TextIO, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.out, self.err = out, err

    def _print_message(self, message: str, file: Any = None) -> None:
        # --help and --version print through here, to sys.stdout: the command's `out` instead
        if message:
            self.out.write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.err.write(message)
        raise Stopped(status)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message.removeprefix("argument "))


def positive(text: str) -> int:
    """An option's value that counts something there must be one of at least."""
    value = natural(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def natural(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value}")
    return value


def vocab(text: str) -> list[Any]:
    """--vocab: a string of one-character tokens (`abc`) or a JSON list (`["(", ")"]`,
    `[1, 2, 3]`), checked by the compiler's rule for a vocabulary (atoms, at least one, none
    twice) in every subcommand that takes one."""
    from ..compiler import check_vocab  # the one rule; numpy weights load only when asked

    items: Any = list(text)
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise argparse.ArgumentTypeError(f"not a JSON list: {e}") from None
    elif _json_object(text):  # meant as JSON, never as its characters; `{}` stays two tokens
        raise argparse.ArgumentTypeError("a JSON object, not a JSON list")
    try:
        return check_vocab(items)
    except RaspError as e:
        raise argparse.ArgumentTypeError(e.message) from None


def _json_object(text: str) -> bool:
    """Whether `text` is a JSON object with at least one member."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return False
    return isinstance(value, dict) and bool(value)


class _Renamed(argparse.Action):
    """An option's old name: it still works, with a warning, and --help no longer shows it."""

    def __init__(self, *args: Any, new: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        assert isinstance(parser, Parser)
        parser.err.write(f"{parser.prog}: warning: {option_string} is now {self.new}\n")
        setattr(namespace, self.dest, values)


def vocab_arguments(group: Any, text: str, default: str | None = None) -> None:
    """`--vocab` (see `vocab`): required unless it has a default, as in train and dataset,
    where `--alphabet`, its former name there, still works."""
    group.add_argument("--vocab", type=vocab, default=default, required=default is None,
                       metavar="V", help=text)
    if default is not None:
        group.add_argument("--alphabet", type=vocab, dest="vocab", action=_Renamed,
                           new="--vocab", help=argparse.SUPPRESS)


def program_path(file: str) -> str:
    """FILE itself, or the example library's FILE.rasp when there is no file FILE and the
    library has one (`rasp analyze sort ...`)."""
    library = example_library() / f"{file}.rasp"
    return str(library) if not os.path.exists(file) and library.is_file() else file


# The most a file is read (docs/cli.md, "Limits"), so that `/dev/zero` or a huge file is
# refused before it fills memory: a program (at most 4 bytes per character of the parser's
# bound), and an inputs file.
PROGRAM_BYTES = 4 * MAX_PROGRAM
INPUTS_BYTES = 100_000_000


def read(path: str, limit: int = PROGRAM_BYTES, stdin: TextIO | None = None) -> str:
    """The text of the file at `path` (or of `stdin`), read as bytes and decoded as UTF-8 in
    every locale: a byte that is not UTF-8 stays a lone surrogate (errors.not_text), reported
    where it is by whoever reads the text. A file over `limit` bytes is refused."""
    try:
        if stdin is not None:
            source = getattr(stdin, "buffer", stdin)
            data = source.read(limit + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > limit:
        raise UsageError(f"cannot read {path}: it is over {limit:,} bytes long, the limit "
                         "(docs/cli.md, Limits)")
    return data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data


def session(out: TextIO, err: TextIO, interactive: bool = False) -> Interpreter:
    return Interpreter(out=line_writer(out), warn=line_writer(err), interactive=interactive)


@dataclass(frozen=True)
class Loaded:
    """A program run in a session of its own."""

    interpreter: Interpreter
    path: str
    source: str


def load(file: str, err: TextIO) -> Loaded:
    """Read FILE (a path, or a file of the example library) and run it quietly; its warnings
    and its first error go to `err`, and an error stops the command with its exit code."""
    path = program_path(file)
    source = read(path)
    interpreter = session(io.StringIO(), err)
    status = run_source(interpreter, source, path, err)
    if status != EXIT_OK:
        raise Stopped(status)
    return Loaded(interpreter, path, source)


def expression(loaded: Loaded, name: str) -> str:
    """NAME, the command's s-op: a name the program defines, or an expression. A bare name
    that nothing defines is an error naming the file and the names it may mean."""
    names = loaded.interpreter.names()
    if name.isidentifier() and name not in names:
        near = difflib.get_close_matches(name, sorted(names), n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise RaspNameError(f"{loaded.path} defines no '{name}'{hint}")
    return name


RAW_HINT = " (--raw reads every line as a string)"


def input_of(line: str, raw: bool = False, hint: str = RAW_HINT) -> Any:
    """An input line (of --inputs, or --example). With `raw`, the line itself. Otherwise a
    line that starts with `[` or `"` (after spaces) is JSON, and must be a list or a string;
    any other line is the text itself. A line with a byte that is not UTF-8 is refused."""
    odd = not_text(line)
    if odd:
        raise RaspValueError(f"{odd[1]} (at column {odd[0] + 1})")
    if raw or line.lstrip()[:1] not in ('[', '"'):
        if not line:
            raise RaspValueError("an input must not be empty (an empty line)")
        return line
    try:
        value = json.loads(line)
    except json.JSONDecodeError as e:
        raise RaspValueError(f"not a JSON list or string: {e.msg} at column {e.colno}"
                             + hint) from None
    except (ValueError, RecursionError):  # numbers too long, lists nested too deeply
        raise RaspValueError("not a JSON list or string that can be read") from None
    if not isinstance(value, (list, str)):
        raise RaspValueError("a JSON input must be a list or a string")
    for item in value if isinstance(value, list) else [value]:
        odd = not_text(item) if isinstance(item, str) else None
        if odd:  # JSON's "\ud800": the line itself is text
            raise RaspValueError(f"a lone surrogate U+{ord(item[odd[0]]):04X} is not text")
    try:
        return prepare_input(value) if isinstance(value, list) else value
    except RaspError as e:
        raise RaspValueError(e.message + hint) from None
