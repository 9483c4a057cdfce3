"""`rasp compile FILE NAME --vocab V --max-len N [--out M.npz] [--verify K]`.

A front end, like rasp/cli.py: it runs the program in a session to find NAME, compiles it,
checks the model against the interpreter and saves it. The compiler itself never sees the
session.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, TextIO

from ..errors import RaspError, format_error
from .valuesets import Limits

EXIT_OK, EXIT_USAGE, EXIT_RUNTIME, EXIT_MISMATCH = 0, 64, 70, 1


def parse_vocab(text: str) -> list[Any]:
    """`abc` (one-character tokens) or a JSON list (`["(", ")"]`, `[1, 2, 3]`)."""
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"--vocab is not a JSON list: {e}") from None
        if not isinstance(items, list):
            raise ValueError("--vocab must be a JSON list or a string of tokens")
        return items
    return list(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rasp compile", description="Compile the s-op NAME "
                                     "into the weights of a transformer encoder that computes "
                                     "it exactly (docs/compiling.md).")
    parser.add_argument("file", help="the .rasp program that defines it, or the name of a "
                        "file of the example library")
    parser.add_argument("name", help="the s-op: a name the program defines, or an expression")
    parser.add_argument("--vocab", required=True, help="the tokens: a string of one-character "
                        "tokens (abc) or a JSON list ('[\"(\", \")\"]', '[1, 2, 3]')")
    parser.add_argument("--max-len", type=int, required=True, help="the longest input")
    parser.add_argument("--out", metavar="M.npz", help="save the model here")
    parser.add_argument("--verify", type=int, metavar="K", help="check K random inputs per "
                        "length besides the structured ones (default: every input where "
                        "there are few; 0: no check)")
    defaults = Limits()
    parser.add_argument("--max-values", type=int, default=defaults.max_values,
                        help="most values of one s-op (default %(default)s)")
    parser.add_argument("--max-table", type=int, default=defaults.max_table,
                        help="most combinations of one feed-forward table (default "
                        "%(default)s)")
    parser.add_argument("--max-units", type=int, default=defaults.max_units,
                        help="most hidden units of one feed-forward block (default "
                        "%(default)s)")
    return parser


def main(argv: list[str], out: TextIO, err: TextIO) -> int:
    from ..evaluator import example_library  # the session is the front end's, not the
    from ..interpreter import Interpreter  # compiler's

    args = _parser().parse_args(argv)
    try:
        vocab = parse_vocab(args.vocab)
    except ValueError as e:
        err.write(f"rasp compile: {e}\n")
        return EXIT_USAGE
    library = example_library() / f"{args.file}.rasp"
    if not os.path.exists(args.file) and library.is_file():
        args.file = str(library)
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        err.write(f"rasp compile: cannot read {args.file}: {e.strerror or e}\n")
        return EXIT_USAGE
    session = Interpreter(out=lambda line: None, warn=lambda line: err.write(line + "\n"))
    limits = Limits(args.max_values, args.max_table, args.max_units)
    try:
        session.run(text, args.file)
        compiled = session.compile(args.name, vocab=vocab, max_len=args.max_len,
                                   limits=limits).checked(args.verify)
    except RaspError as e:
        err.write(format_error(e) + "\n")
        return EXIT_RUNTIME
    out.write("\n".join(compiled.lines()) + "\n")
    refusal = compiled.refusal()
    if refusal is not None:
        err.write(f"rasp compile: {refusal.message}\n")
        return EXIT_MISMATCH
    if args.out:
        try:
            compiled.model.save(args.out)
        except OSError as e:
            err.write(f"rasp compile: cannot write {args.out}: {e.strerror or e}\n")
            return EXIT_USAGE
        out.write(f"saved {args.out}\n")
    return EXIT_OK
