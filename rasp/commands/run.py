"""`rasp [FILE | -c CODE]`: a script, a string, piped input or the REPL; and
`rasp FILE --name NAME --inputs INPUTS`, NAME applied to every line of INPUTS in batches."""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import numpy as np

from .. import __version__
from ..display import format_matrix, format_sequence
from ..errors import RaspError, Source, Span, format_error, split_lines
from ..files import json_text
from ..runner import run_piped, run_source
from .common import (
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_SYNTAX,
    INPUTS_BYTES,
    Loaded,
    Parser,
    command,
    exit_code,
    expression,
    input_of,
    read,
    session,
)

__all__ = ["main", "run_batch"]


def _parser(out: TextIO, err: TextIO, subcommands: str) -> Parser:
    parser = Parser(
        prog="rasp", out=out, err=err, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The RASP language: run a program, or start the REPL when stdin is a "
        "terminal.", epilog=f"subcommands (rasp COMMAND --help for each):\n{subcommands}")
    parser.add_argument("file", nargs="?", help="a .rasp program to run")
    parser.add_argument("-c", dest="code", metavar="CODE", help="run CODE as a program")
    parser.add_argument("--name", metavar="NAME", help="with --inputs: the s-op (or selector) "
                        "to apply, a name FILE defines or an expression")
    parser.add_argument("--inputs", metavar="INPUTS", help="apply NAME to each line of INPUTS "
                        "('-': stdin); a line is the input string, or JSON when it starts "
                        "with [ or \"")
    parser.add_argument("--raw", action="store_true", help="with --inputs: every line is the "
                        "input string itself, never JSON")
    parser.add_argument("--format", choices=("text", "jsonl"), default="text",
                        help="output of --inputs: one printed value, or one JSON object, a line")
    parser.add_argument("--history-file", metavar="PATH", help="where the REPL keeps its "
                        "history (default: $RASP_HISTORY, else the user's data folder; "
                        "an empty PATH keeps it in memory)")
    parser.add_argument("--traceback", action="store_true",
                        help="show the Python traceback of an internal error")
    parser.add_argument("--version", action="version", version=f"rasp {__version__}")
    return parser


@command("rasp")
def main(argv: list[str], out: TextIO, err: TextIO, stdin: TextIO | None = None,
         subcommands: str = "") -> int:
    """`rasp ...` without a subcommand; `subcommands` is the list `--help` ends with."""
    stdin = stdin or sys.stdin
    parser = _parser(out, err, subcommands)
    args = parser.parse_args(argv)
    if args.code is not None and args.file is not None:
        parser.error("give a FILE or -c CODE, not both")
    if (args.inputs is None) != (args.name is None):
        parser.error("--name and --inputs go together")
    if args.inputs is not None:
        return run_batch(args, stdin, out, err)
    if args.code is not None:
        return run_source(session(out, err), args.code, "<string>", err, args.traceback)
    if args.file is not None:
        return run_source(session(out, err), read(args.file), args.file, err, args.traceback)
    if stdin.isatty():
        from .. import repl  # prompt_toolkit is imported only for the REPL: scripts start faster

        return repl.run_repl(out, err, history_file=args.history_file,
                             show_traceback=args.traceback)
    return run_piped(session(out, err, interactive=True), stdin, out, err, args.traceback)


def run_batch(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    """`rasp FILE --name NAME --inputs INPUTS`: NAME applied to every input line, vectorised.

    Every line of INPUTS is one input, and gives one result line, so that outputs line up
    with inputs. A line that fails (an empty line, a bad JSON line, an input the program
    fails on) is reported on stderr at its line, its result line is empty (with
    `--format jsonl`: an object with "error"), and the batch goes on; the exit code is then
    65 if a line could not be read as an input, else 70."""
    text = "" if args.file is None and args.code is None else (
        args.code if args.code is not None else read(args.file))
    inputs_name = "<stdin>" if args.inputs == "-" else args.inputs
    lines = read(inputs_name, INPUTS_BYTES, stdin if args.inputs == "-" else None)
    interpreter = session(io.StringIO(), err)
    status = run_source(interpreter, text, args.file or "<string>", err)
    if status != EXIT_OK:
        return status
    name = expression(Loaded(interpreter, args.file or "<string>", text), args.name)
    source = Source(inputs_name, lines.removeprefix("\ufeff"))
    rows = split_lines(source.text)
    parsed: list = []  # per line: the input, or the RaspError that reading it gave
    for number, line in enumerate(rows, 1):
        try:
            parsed.append(input_of(line, args.raw))
        except RaspError as e:
            parsed.append(e)
        if isinstance(parsed[-1], RaspError):
            parsed[-1].span = Span(source, number, 1, number, max(len(line), 1) + 1)
    good = [i for i, value in enumerate(parsed) if not isinstance(value, RaspError)]
    try:
        with _progress(err, len(good), args.format) as progress:
            outputs = interpreter.evaluate_batch(name, [parsed[i] for i in good], progress,
                                                 keep_going=True)
    except RaspError as e:
        err.write(format_error(e) + "\n")
        return exit_code(e)
    results: list = list(parsed)
    for i, output in zip(good, outputs):
        results[i] = output
    status = EXIT_OK
    for number, (example, result) in enumerate(zip(parsed, results), 1):
        if isinstance(result, RaspError):
            if result is example:  # the line is not an input
                status = status if status == EXIT_RUNTIME else EXIT_SYNTAX
            else:  # the program failed on this input
                status = EXIT_RUNTIME
                line = rows[number - 1]
                result.noted(f"on input line {number}",
                             Span(source, number, 1, number, max(len(line), 1) + 1))
            err.write(format_error(result) + "\n")
            out.write(json_text({"line": number, "input": rows[number - 1],
                                  "error": result.message}) + "\n"
                      if args.format == "jsonl" else "\n")
        elif args.format == "jsonl":
            out.write(json_text({"input": example, "output": result}) + "\n")
        elif result and isinstance(result[0], list):  # a selector: the REPL's matrix
            out.write("\n".join(format_matrix(list(example), np.array(result))) + "\n")
        else:
            out.write(format_sequence(np.array(result, dtype=object), whole=True) + "\n")
    return status


@contextlib.contextmanager
def _progress(err: TextIO, total: int, output_format: str = "text") -> Iterator[Any]:
    """A progress bar on stderr for a batch of 1,000 inputs or more, when stderr is a terminal
    and the output is not JSON lines; otherwise None. Yields the callback evaluate_batch
    calls with (done, total)."""
    if total < 1000 or output_format == "jsonl" or not err.isatty():
        yield None
        return
    from .. import repl  # prompt_toolkit's, for terminals only

    with repl.progress_bar(err, total, "inputs") as show:
        yield show
