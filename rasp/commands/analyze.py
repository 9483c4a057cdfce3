"""`rasp analyze FILE NAME [--json] [--example INPUT]`: the layers and attention heads the
s-op NAME needs (rasp.analysis, through the session)."""

from __future__ import annotations

from typing import TextIO

import numpy as np

from .. import ops
from ..errors import RaspError, RaspSyntaxError
from ..files import json_text
from ..parser import parse
from ..values import prepare_input
from .common import EXIT_OK, Parser, UsageError, command, expression, input_of, load

__all__ = ["main"]


def _parser(out: TextIO, err: TextIO) -> Parser:
    parser = Parser(prog="rasp analyze", out=out, err=err, description="Report how many "
                    "layers and attention heads a transformer needs for an s-op.")
    parser.add_argument("file", help="the .rasp program that defines it, or the name of a "
                        "file of the example library")
    parser.add_argument("name", help="the s-op: a name the program defines, or an expression")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--example", metavar="INPUT", help="the running example the analysis "
                        "is checked on (default \"hello\"): a string, or a JSON list or "
                        "string, as a line of --inputs")
    return parser


@command("rasp analyze")
def main(argv: list[str], out: TextIO, err: TextIO) -> int:
    args = _parser(out, err).parse_args(argv)
    example = None if args.example is None else _example(args.example)
    loaded = load(args.file, err)
    if example is not None:
        loaded.interpreter.settings.examples.update({"s-op": example, "selector": example})
    name = expression(loaded, _leading_expression(args.name, err))
    report = loaded.interpreter.analyze(name)
    out.write(json_text(report.to_json(), indent=1) + "\n" if args.json
              else report.report() + "\n")
    return EXIT_OK


def _example(text: str) -> list | str:
    """--example: an input of one kind of value."""
    try:
        example = input_of(text, hint="")
        ops.sequence(np.array(prepare_input(example), dtype=object))
    except RaspError as e:
        raise UsageError(f"--example: {e.message}") from None
    return example


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
