"""`rasp verify DIR [--dtype float32] [--verify K]`: a shared model folder checked again
against the interpreter, running the program that travels with the weights (rasp.interop)."""

from __future__ import annotations

from typing import TextIO

from ..errors import RaspValueError
from .common import EXIT_OK, Parser, command, natural

__all__ = ["main"]


def _parser(out: TextIO, err: TextIO) -> Parser:
    parser = Parser(prog="rasp verify", out=out, err=err, description="Check a shared model "
                    "folder (rasp compile --format safetensors) against the interpreter, "
                    "running the program saved with it (docs/interop.md).")
    parser.add_argument("folder", metavar="DIR", help="the model's folder")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="run the model in float64 (as saved) or float32")
    parser.add_argument("--verify", type=natural, metavar="K", help="at most K "
                        "structured and K random inputs per length (default as rasp compile)")
    return parser


@command("rasp verify")
def main(argv: list[str], out: TextIO, err: TextIO) -> int:
    from ..interop import verify  # numpy weights: loaded only for this command

    args = _parser(out, err).parse_args(argv)
    result = verify(args.folder, dtype=args.dtype, sample=args.verify)
    out.write(f"{args.folder} ({args.dtype}): {result.report()}\n")
    if not result.ok and result.checked:
        raise RaspValueError(f"the model disagrees with its program in {args.dtype}")
    return EXIT_OK
