"""`rasp compile FILE NAME --vocab V --max-len N [--out M.npz | --out DIR --format safetensors]
[--verify K]`: the s-op NAME compiled into the weights of a transformer (rasp.compiler),
checked against the interpreter, and saved unless it disagrees: an `.npz` file, or a shared
folder that carries the program (rasp.interop). The compiler never sees the session: it gets
the s-op."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import RaspTypeError
from ..graph import SOp
from ..values import describe
from .common import (
    EXIT_OK,
    Parser,
    UsageError,
    command,
    expression,
    load,
    natural,
    positive,
    vocab_arguments,
)

if TYPE_CHECKING:
    from ..compiler import Compiled

__all__ = ["main"]


def _parser(out: TextIO, err: TextIO) -> Parser:
    from ..compiler import Limits

    parser = Parser(prog="rasp compile", out=out, err=err, description="Compile the s-op "
                    "NAME into the weights of a transformer encoder that computes it exactly "
                    "(docs/compiling.md).")
    parser.add_argument("file", help="the .rasp program that defines it, or the name of a "
                        "file of the example library")
    parser.add_argument("name", help="the s-op: a name the program defines, or an expression")
    vocab_arguments(parser, "the tokens: a string of one-character tokens (abc) or a JSON "
                    "list ('[\"(\", \")\"]', '[1, 2, 3]')")
    parser.add_argument("--max-len", type=positive, required=True, metavar="N",
                        help="the longest input")
    parser.add_argument("--causal", action="store_true", help="a decoder (masked attention), "
                        "checked against the causal interpreter; a program that reads later "
                        "positions is refused")
    parser.add_argument("--reuse-residual", action="store_true", help="erase each s-op's "
                        "dimensions after its last use and give them to later s-ops, where "
                        "that makes fewer parameters (a dimension then holds several s-ops "
                        "in turn; the summary says what it gave)")
    parser.add_argument("--out", metavar="M.npz|DIR", help="save the model here")
    parser.add_argument("--format", choices=("npz", "safetensors"), default="npz",
                        help="npz: one .npz file (default); safetensors: a shared folder "
                        "(model.safetensors, config.json, program.rasp, README.md; "
                        "docs/interop.md)")
    parser.add_argument("--force", action="store_true", help="replace the model a folder "
                        "holds already")
    parser.add_argument("--verify", type=natural, metavar="K", help="check at most K "
                        "structured and K random inputs per length (default: every input of "
                        "a length with at most 256, else up to 64 structured and 16 random; "
                        "0: no check)")
    defaults = Limits()
    parser.add_argument("--max-values", type=positive, default=defaults.max_values,
                        help="most values of one s-op (default %(default)s)")
    parser.add_argument("--max-table", type=positive, default=defaults.max_table,
                        help="most combinations of one feed-forward table (default "
                        "%(default)s)")
    parser.add_argument("--max-units", type=positive, default=defaults.max_units,
                        help="most hidden units of one feed-forward block (default "
                        "%(default)s)")
    parser.add_argument("--max-weights", type=positive, default=defaults.max_weights,
                        help="most weights of one feed-forward block (default %(default)s: "
                        "400 MB in float64)")
    return parser


# Past this --max-len, a value over --max-values is refused before compiling: the compiler
# refuses it too ('indices' has --max-len values), but only after building tables per
# length, which took 12.8 GB for 1,000,000,000 (100,000 is refused in about a second).
LARGEST_LEN_TRIED = 100_000


@command("rasp compile")
def main(argv: list[str], out: TextIO, err: TextIO) -> int:
    # numpy weights: loaded only for this command
    from ..compiler import Limits, compile_sop, modelfile

    args = _parser(out, err).parse_args(argv)
    if args.max_len > max(args.max_values, LARGEST_LEN_TRIED):
        raise UsageError(f"--max-len: {args.max_len:,} positions are more values than one s-op "
                         f"may have (--max-values {args.max_values:,}), and the compiler's "
                         f"tables for {LARGEST_LEN_TRIED:,} lengths or more would take "
                         "gigabytes before it said so")
    unfit = args.out and args.format == "npz" and modelfile.unfit_target(args.out)
    if unfit:  # before compiling: the model could not be saved
        raise UsageError(f"--out: {unfit}")
    loaded = load(args.file, err, causal=args.causal)
    target = loaded.interpreter.value(expression(loaded, args.name))
    if not isinstance(target, SOp):
        raise RaspTypeError(f"compile expects an s-op, got {describe(target)}")
    limits = Limits(args.max_values, args.max_table, args.max_units, args.max_weights)
    compiled = compile_sop(target, args.vocab, args.max_len, args.name.strip().rstrip(";"),
                           limits, args.causal, args.reuse_residual)
    out.write(compiled.summary() + "\n")

    def say(line: str) -> None:  # the check's plan, and a long one's time, as they come
        out.write(line + "\n")
        out.flush()

    compiled = compiled.checked(args.verify, say)
    if compiled.verification is not None:
        out.write(compiled.verification.report() + "\n")
    refusal = compiled.refusal()
    if refusal is not None:
        raise refusal
    if args.out:
        try:
            saved = _save(compiled, loaded.source, args, out)
        except OSError as e:
            raise UsageError(f"cannot write {args.out}: {e.strerror or e}") from None
        out.write(f"saved {saved}\n")
    return EXIT_OK


def _save(compiled: Compiled, source: str, args: Any, out: TextIO) -> Path:
    """Save as --format says; a shared folder also records the check in float32."""
    if args.format == "npz":
        return compiled.model.save(args.out)
    from ..compiler.folder import Source
    from ..interop import save_folder

    program = Source(source, args.name.strip().rstrip(";"))
    float32 = None if compiled.verification is None else compiled.verify(args.verify, "float32")
    if float32 is not None:
        out.write(f"float32 {float32.report()}\n")
    return save_folder(compiled.model, args.out, program, compiled.verification, float32,
                       args.force)
