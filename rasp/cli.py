"""The `rasp` command: scripts, `-c`, piped input and the interactive loop.

    rasp FILE.rasp        run a script; the first error stops it (exit 65 syntax, 70 runtime)
    rasp -c 'CODE'        the same for a string
    rasp < FILE           statements read as the REPL reads them; errors reported, skipped
    rasp                  the REPL (repl.py), when stdin is a terminal
    rasp analyze FILE NAME [--json]
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
import ctypes
import io
import json
import os
import sys
from typing import TextIO

import numpy as np

from . import __version__
from .display import format_sequence
from .errors import RaspError, RaspSyntaxError, format_error
from .evaluator import example_library
from .interpreter import PYTHON_RECURSION_LIMIT, Interpreter
from .parser import parse
from .runner import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_USAGE,
    line_writer,
    run_piped,
    run_source,
)


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
    args = parser.parse_args(argv)
    library = example_library() / f"{args.file}.rasp"
    if not os.path.exists(args.file) and library.is_file():
        args.file = str(library)  # a bare name from the example library: `rasp analyze sort`
    text = _read(args.file, err)
    if text is None:
        return EXIT_USAGE
    interpreter = _session(io.StringIO(), err)
    status = run_source(interpreter, text, args.file, err)
    if status != EXIT_OK:
        return status
    try:
        report = interpreter.analyze(_leading_expression(args.name, err))
    except RaspError as e:
        err.write(format_error(e) + "\n")
        return EXIT_RUNTIME
    out.write(json.dumps(report.to_json(), indent=1) + "\n" if args.json
              else report.report() + "\n")
    return EXIT_OK


def run_batch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`rasp FILE --name NAME --inputs INPUTS`: NAME applied to every input, vectorised."""
    text = "" if args.file is None and args.code is None else (
        args.code if args.code is not None else _read(args.file, err))
    lines = _read(args.inputs, err)
    if text is None or lines is None:
        return EXIT_USAGE
    interpreter = _session(io.StringIO(), err)
    status = run_source(interpreter, text, args.file or "<string>", err)
    if status != EXIT_OK:
        return status
    inputs = [_input_of(line) for line in lines.splitlines() if line]
    try:
        outputs = interpreter.evaluate_batch(args.name, inputs, _progress(err, len(inputs)))
    except RaspError as e:
        err.write(format_error(e) + "\n")
        return EXIT_RUNTIME
    for example, result in zip(inputs, outputs):
        if args.format == "jsonl":
            out.write(json.dumps({"input": example, "output": result}) + "\n")
        else:
            out.write(format_sequence(np.array(result, dtype=object)) + "\n"
                      if result and not isinstance(result[0], list) else f"{result}\n")
    return EXIT_OK


def _input_of(line: str):
    """An input line: a JSON list or string if it parses as one, else the text itself."""
    if line[:1] in '["':
        try:
            value = json.loads(line)
        except ValueError:
            return line
        if isinstance(value, (list, str)):
            return value
    return line


def _progress(err: TextIO, total: int):
    """A progress line on a terminal, for long runs."""
    if total < 1000 or not err.isatty():
        return None

    def show(done: int, total: int) -> None:
        err.write(f"\r{done}/{total} inputs" + ("\n" if done == total else ""))
        err.flush()
    return show


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


def main(argv: list[str] | None = None, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """The command line; the streams can be replaced (the tests run it in-process)."""
    argv = sys.argv[1:] if argv is None else argv
    stdin, out, err = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    if argv[:1] == ["analyze"]:
        return analyze_main(argv[1:], out, err)
    if argv[:1] == ["compile"]:
        from .compiler.cli import main as compile_main  # numpy weights: only when asked for

        return compile_main(argv[1:], out, err)
    if argv[:1] in (["train"], ["dataset"]):  # rasp.train: its own arguments and output
        from .train import cli as train_cli

        return train_cli.main(argv, out, err)
    parser = argparse.ArgumentParser(prog="rasp", description="The RASP language: run a "
                                     "program, or start the REPL when stdin is a terminal.")
    parser.add_argument("file", nargs="?", help="a .rasp program to run")
    parser.add_argument("-c", dest="code", metavar="CODE", help="run CODE as a program")
    parser.add_argument("--name", metavar="NAME", help="with --inputs: the s-op (or selector) "
                        "to apply, a name FILE defines or an expression")
    parser.add_argument("--inputs", metavar="INPUTS", help="apply NAME to each line of INPUTS "
                        "(a line is a string, or a JSON list or string)")
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
        return run_batch(args, out, err)
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
