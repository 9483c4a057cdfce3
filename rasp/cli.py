"""The `rasp` command: scripts, `-c`, piped input and the interactive loop.

    rasp FILE.rasp        run a script; the first error stops it (exit 65 syntax, 70 runtime)
    rasp -c 'CODE'        the same for a string
    rasp < FILE           statements read as the REPL reads them; errors reported, skipped
    rasp                  the REPL, when stdin is a terminal
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Callable, Iterable, TextIO

from . import __version__
from .errors import RaspError, RaspLimitError, RaspSyntaxError, format_error
from .evaluator import Interpreter
from .parser import input_status

EXIT_OK, EXIT_USAGE, EXIT_SYNTAX, EXIT_RUNTIME, EXIT_INTERNAL = 0, 64, 65, 70, 70


def _printer(stream: TextIO) -> Callable[[str], None]:
    def write(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()
    return write


def _internal(error: BaseException, stream: TextIO) -> None:
    if os.environ.get("RASP_TRACEBACK"):
        traceback.print_exception(error, file=stream)
    stream.write(f"internal error: {type(error).__name__}: {error}\n"
                 "this is a bug in rasp; please report it with the input that caused it "
                 "(set RASP_TRACEBACK=1 for details)\n")


def run_source(interpreter: Interpreter, text: str, filename: str, err: TextIO) -> int:
    """Run a whole program as a script: the first error ends it."""
    try:
        interpreter.run(text, filename)
    except RaspError as e:
        err.write(format_error(e) + "\n")
        return EXIT_SYNTAX if isinstance(e, RaspSyntaxError) else EXIT_RUNTIME
    except RecursionError:
        err.write(format_error(RaspLimitError("the program is nested too deeply")) + "\n")
        return EXIT_RUNTIME
    except Exception as e:  # a bug of ours: say so, never a bare traceback
        _internal(e, err)
        return EXIT_INTERNAL
    return EXIT_OK


def run_entry(interpreter: Interpreter, text: str, filename: str, first_line: int,
              err: TextIO) -> None:
    """Run one REPL entry (a complete or invalid chunk); errors are reported, not raised.
    Blank lines in front keep line numbers those of the whole input."""
    run_source(interpreter, "\n" * (first_line - 1) + text, filename, err)


def chunks(lines: Iterable[str]) -> Iterable[tuple[str, int]]:
    """Group input lines into entries as the REPL does: read until the text parses, or
    cannot parse whatever follows. Yields (text, number of its first line)."""
    buffer, first = "", 1
    for number, line in enumerate(lines, start=1):
        if not buffer:
            first = number
        buffer += line if line.endswith("\n") else line + "\n"
        if input_status(buffer) != "incomplete":
            if buffer.strip():
                yield buffer, first
            buffer = ""
    if buffer.strip():
        yield buffer, first


def run_piped(interpreter: Interpreter, stream: TextIO, err: TextIO) -> int:
    from .evaluator import Exit  # noqa: F401  (exit ends the loop via Interpreter state)
    for text, first in chunks(stream):
        if _is_exit(text):
            break
        run_entry(interpreter, text, "<stdin>", first, err)
    return EXIT_OK


def _is_exit(text: str) -> bool:
    return text.strip().rstrip(";").replace(" ", "") in ("exit", "quit", "exit()", "quit()")


def run_repl(interpreter: Interpreter, out: TextIO, err: TextIO) -> int:
    """A plain line-reading loop (prompts `>> ` and `.. `)."""
    out.write(f"RASP {__version__}\nrunning example is: hello\n")
    number = 0
    while True:
        buffer, first = "", number + 1
        try:
            while True:
                line = input(".. " if buffer else ">> ")
                number += 1
                buffer += line + "\n"
                if input_status(buffer) != "incomplete":
                    break
        except KeyboardInterrupt:
            out.write("\nKeyboardInterrupt\n")
            continue
        except EOFError:
            out.write("\n")
            return EXIT_OK
        if _is_exit(buffer):
            return EXIT_OK
        try:
            run_entry(interpreter, buffer, "<stdin>", first, err)
        except KeyboardInterrupt:
            out.write("KeyboardInterrupt\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rasp", description="The RASP language: run a "
                                     "program, or start the REPL when stdin is a terminal.")
    parser.add_argument("file", nargs="?", help="a .rasp program to run")
    parser.add_argument("-c", dest="code", metavar="CODE", help="run CODE as a program")
    parser.add_argument("--version", action="version", version=f"rasp {__version__}")
    args = parser.parse_args(argv)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    out, err = sys.stdout, sys.stderr
    if args.code is not None and args.file is not None:
        parser.error("give a FILE or -c CODE, not both")
    if args.code is not None:
        return run_source(Interpreter(out=_printer(out)), args.code, "<string>", err)
    if args.file is not None:
        try:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            err.write(f"rasp: cannot read {args.file}: {e.strerror or e}\n")
            return EXIT_USAGE
        return run_source(Interpreter(out=_printer(out)), text, args.file, err)
    interpreter = Interpreter(out=_printer(out), interactive=True)
    if sys.stdin.isatty():
        return run_repl(interpreter, out, err)
    return run_piped(interpreter, sys.stdin, err)


def entry() -> None:
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
