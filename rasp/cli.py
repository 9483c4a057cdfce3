"""The `rasp` command: scripts, `-c`, piped input and the interactive loop.

    rasp FILE.rasp        run a script; the first error stops it (exit 65 syntax, 70 runtime)
    rasp -c 'CODE'        the same for a string
    rasp < FILE           statements read as the REPL reads them; errors reported, skipped
    rasp                  the REPL (repl.py), when stdin is a terminal
    rasp analyze FILE NAME [--json] [--example INPUT]
                          the layers and attention heads the s-op NAME needs
    rasp compile FILE NAME --vocab V --max-len N [--out M.npz] [--verify K]
                          NAME compiled into transformer weights (docs/compiling.md)
    rasp train FILE NAME [...]   train a transformer to follow the s-op (rasp.train)
    rasp dataset FILE NAME --out DIR
                          the inputs, outputs and attention targets for training, as JSONL
    rasp FILE --name NAME --inputs INPUTS [--format jsonl]
                          NAME applied to every line of INPUTS, evaluated in batches
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import numpy as np

from . import __version__, ops
from .display import format_matrix, format_sequence
from .errors import RaspError, RaspSyntaxError, RaspValueError, Source, Span, format_error
from .evaluator import example_library
from .interpreter import PYTHON_RECURSION_LIMIT, Interpreter, default_memory_limit
from .parser import parse
from .runner import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_SYNTAX,
    EXIT_USAGE,
    line_writer,
    run_piped,
    run_source,
)
from .values import prepare_input


def _session(out: TextIO, err: TextIO, interactive: bool = False) -> Interpreter:
    return Interpreter(out=line_writer(out), warn=line_writer(err), interactive=interactive)


def analyze_main(argv: list[str], out: TextIO, err: TextIO) -> int:
    """`rasp analyze FILE NAME [--json]`: the layers and heads the s-op NAME needs."""
    parser = argparse.ArgumentParser(prog="rasp analyze", description="Report how many layers "
                                     "and attention heads a transformer needs for an s-op.")
    parser.add_argument("file", help="the .rasp program that defines it, or the name of a "
                        "file of the example library")
    parser.add_argument("name", help="the s-op: a name the program defines, or an expression")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--example", metavar="INPUT", help="the running example the analysis "
                        "is checked on (default \"hello\"): a string, or a JSON list or "
                        "string, as a line of --inputs")
    args = parser.parse_args(argv)
    library = example_library() / f"{args.file}.rasp"
    if not os.path.exists(args.file) and library.is_file():
        args.file = str(library)  # a bare name from the example library: `rasp analyze sort`
    text = _read(args.file, err)
    if text is None:
        return EXIT_USAGE
    interpreter = _session(io.StringIO(), err)
    if args.example is not None:
        try:
            example = _input_of(args.example, hint="")
            ops.sequence(np.array(prepare_input(example), dtype=object))  # one kind of value
            interpreter.settings.examples.update({"s-op": example, "selector": example})
        except RaspError as e:
            err.write(f"rasp analyze: --example: {e.message}\n")
            return EXIT_USAGE
    status = run_source(interpreter, text, args.file, err)
    if status != EXIT_OK:
        return status
    try:
        report = interpreter.analyze(_leading_expression(args.name, err))
    except RaspError as e:
        err.write(format_error(e) + "\n")
        return EXIT_SYNTAX if isinstance(e, RaspSyntaxError) else EXIT_RUNTIME
    out.write(json.dumps(report.to_json(), indent=1) + "\n" if args.json
              else report.report() + "\n")
    return EXIT_OK


def run_batch(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    """`rasp FILE --name NAME --inputs INPUTS`: NAME applied to every input line, vectorised.

    Every line of INPUTS is one input, and gives one result line, so that outputs line up
    with inputs. A line that fails (an empty line, a bad JSON line, an input the program
    fails on) is reported on stderr at its line, its result line is empty (with
    `--format jsonl`: an object with "error"), and the batch goes on; the exit code is then
    65 if a line could not be read as an input, else 70."""
    text = "" if args.file is None and args.code is None else (
        args.code if args.code is not None else _read(args.file, err))
    inputs_name = "<stdin>" if args.inputs == "-" else args.inputs
    lines = stdin.read() if args.inputs == "-" else _read(args.inputs, err)
    if text is None or lines is None:
        return EXIT_USAGE
    interpreter = _session(io.StringIO(), err)
    status = run_source(interpreter, text, args.file or "<string>", err)
    if status != EXIT_OK:
        return status
    source = Source(inputs_name, lines.removeprefix("\ufeff"))
    rows = source.text.splitlines()
    read: list = []  # per line: the input, or the RaspError that reading it gave
    for number, line in enumerate(rows, 1):
        try:
            read.append(_input_of(line, args.raw))
        except RaspError as e:
            read.append(e)
        if isinstance(read[-1], RaspError):
            read[-1].span = Span(source, number, 1, number, max(len(line), 1) + 1)
    good = [i for i, value in enumerate(read) if not isinstance(value, RaspError)]
    try:
        with _progress(err, len(good), args.format) as progress:
            outputs = interpreter.evaluate_batch(args.name, [read[i] for i in good], progress,
                                                 keep_going=True)
    except RaspError as e:
        err.write(format_error(e) + "\n")
        return EXIT_SYNTAX if isinstance(e, RaspSyntaxError) else EXIT_RUNTIME
    results: list = list(read)
    for i, output in zip(good, outputs):
        results[i] = output
    status = EXIT_OK
    for number, (example, result) in enumerate(zip(read, results), 1):
        if isinstance(result, RaspError):
            if result is example:  # the line is not an input
                status = status if status == EXIT_RUNTIME else EXIT_SYNTAX
            else:  # the program failed on this input
                status = EXIT_RUNTIME
                line = rows[number - 1]
                result.noted(f"on input line {number}",
                             Span(source, number, 1, number, max(len(line), 1) + 1))
            err.write(format_error(result) + "\n")
            out.write(json.dumps({"line": number, "input": rows[number - 1],
                                  "error": result.message}) + "\n"
                      if args.format == "jsonl" else "\n")
        elif args.format == "jsonl":
            out.write(json.dumps({"input": example, "output": result}) + "\n")
        elif result and isinstance(result[0], list):  # a selector: the REPL's matrix
            out.write("\n".join(format_matrix(list(example), np.array(result))) + "\n")
        else:
            out.write(format_sequence(np.array(result, dtype=object)) + "\n")
    return status


RAW_HINT = " (--raw reads every line as a string)"


def _input_of(line: str, raw: bool = False, hint: str = RAW_HINT):
    """An input line. With `raw`, the line itself. Otherwise a line that starts with `[` or
    `"` (after spaces) is JSON, and must be a list or a string; any other line is the text
    itself."""
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
    try:
        return prepare_input(value) if isinstance(value, list) else value
    except RaspError as e:
        raise RaspValueError(e.message + hint) from None


@contextlib.contextmanager
def _progress(err: TextIO, total: int, output_format: str = "text") -> Iterator[Any]:
    """A progress bar on stderr for a batch of 1,000 inputs or more, when stderr is a terminal
    and the output is not JSON lines; otherwise None. Yields the callback evaluate_batch
    calls with (done, total)."""
    if total < 1000 or output_format == "jsonl" or not err.isatty():
        yield None
        return
    from . import repl  # prompt_toolkit's, for terminals only

    with repl.progress_bar(err, total, "inputs") as show:
        yield show


def _read(path: str, err: TextIO) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        err.write(f"rasp: cannot read {path}: {getattr(e, 'strerror', None) or e}\n")
        return None


def _leading_expression(text: str, err: TextIO) -> str:
    """The expression at the start of `text`. Text after a complete expression (as when a
    tool cuts `(EXPR)(INPUT);` at the wrong parenthesis) is ignored, with a warning."""
    try:
        parse(text.strip().rstrip(";") + ";")
        return text
    except RaspSyntaxError as e:
        if e.span is None or e.span.line != 1 or e.span.column <= 1:
            return text
        head = text[: e.span.column - 1]
        try:
            parse(head + ";")
        except RaspSyntaxError:
            return text
        err.write(f"rasp analyze: warning: ignoring {text[len(head):]!r} after the expression "
                  f"{head!r}\n")
        return head


# `rasp COMMAND ...`: each subcommand's entry (its arguments, stdout, stderr -> exit code), and
# its usage and purpose as `rasp --help` lists them. A new subcommand is one entry here.
def compile_main(argv: list[str], out: TextIO, err: TextIO) -> int:
    """`rasp compile`: rasp.compiler's front end, imported only when asked for."""
    from .compiler.cli import main as compiler_main

    return compiler_main(argv, out, err)


def train_main(argv: list[str], out: TextIO, err: TextIO) -> int:
    """`rasp train`: rasp.train's front end (PyTorch), imported only when asked for."""
    from .train import cli as train_cli

    return train_cli.main(["train", *argv], out, err)


def dataset_main(argv: list[str], out: TextIO, err: TextIO) -> int:
    """`rasp dataset`: rasp.train's data front end (no PyTorch needed)."""
    from .train import cli as train_cli

    return train_cli.main(["dataset", *argv], out, err)


SUBCOMMANDS: dict[str, tuple[Callable[[list[str], TextIO, TextIO], int], str, str]] = {
    "analyze": (analyze_main, "FILE NAME [--json] [--example INPUT]",
                "the layers and attention heads that an s-op needs"),
    "compile": (compile_main, "FILE NAME --vocab V --max-len N [--out M.npz] [--verify K]",
                "the s-op compiled into transformer weights (docs/compiling.md)"),
    "train": (train_main, "FILE NAME [--ablations] [...]",
              "train a transformer to follow the s-op (docs/training.md)"),
    "dataset": (dataset_main, "FILE NAME --out DIR [...]",
                "inputs, outputs and attention targets for training (docs/training.md)"),
}


def main(argv: list[str] | None = None, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """The command line; the streams can be replaced (the tests run it in-process)."""
    argv = sys.argv[1:] if argv is None else argv
    stdin, out, err = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    try:
        default_memory_limit()
    except ValueError as e:
        err.write(f"rasp: {e}\n")
        return EXIT_USAGE
    if argv[:1] and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]][0](argv[1:], out, err)
    commands = "\n".join(f"  rasp {name} {usage}\n      {text}"
                         for name, (_, usage, text) in SUBCOMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="rasp", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The RASP language: run a program, or start the REPL when stdin is a "
        "terminal.", epilog=f"subcommands (rasp COMMAND --help for each):\n{commands}")
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
    args = parser.parse_args(argv)
    if args.code is not None and args.file is not None:
        parser.error("give a FILE or -c CODE, not both")
    if (args.inputs is None) != (args.name is None):
        parser.error("--name and --inputs go together")
    if args.inputs is not None:
        return run_batch(args, stdin, out, err)
    if args.code is not None:
        return run_source(_session(out, err), args.code, "<string>", err, args.traceback)
    if args.file is not None:
        text = _read(args.file, err)
        if text is None:
            return EXIT_USAGE
        return run_source(_session(out, err), text, args.file, err, args.traceback)
    if stdin.isatty():
        from . import repl  # prompt_toolkit is imported only for the REPL: scripts start faster

        return repl.run_repl(out, err, history_file=args.history_file,
                             show_traceback=args.traceback)
    return run_piped(_session(out, err, interactive=True), stdin, out, err, args.traceback)


def prepare_process() -> None:
    """What the `rasp` process sets for itself (a program importing rasp is left alone, and
    may call this to get the same).

    The evaluator recurses over the syntax tree and RASP calls: deeply nested programs need
    more than Python's default recursion limit. And the kernels allocate and free many arrays
    of a few hundred KB: glibc gives such memory back to the system as soon as it is freed
    and faults it in again on the next allocation, which doubled the time of a sort of 500
    tokens here; keep up to 64 MB of it for reuse."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), PYTHON_RECURSION_LIMIT))
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None)
            libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
            libc.mallopt(-2, 16 << 20)  # M_TOP_PAD
        except (OSError, AttributeError):  # not glibc: leave the allocator as it is
            pass


def entry() -> None:
    prepare_process()
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C in a script or piped input: it ends them
        sys.stderr.write("KeyboardInterrupt\n")
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # Stop quietly, as a program killed by SIGPIPE does; output still buffered must not
        # fail again when Python flushes it at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
