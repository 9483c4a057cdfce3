"""`rasp export M.npz --to safetensors|transformer-lens DIR [--program FILE [--name NAME]]`:
a saved model converted to a shared folder (with its program, which an .npz lacks) or to
TransformerLens's weights and config (rasp.interop; docs/interop.md)."""

from __future__ import annotations

from typing import TextIO

from ..errors import RaspValueError
from .common import EXIT_OK, Parser, UsageError, command, program_path, read

__all__ = ["main"]


def _parser(out: TextIO, err: TextIO) -> Parser:
    parser = Parser(prog="rasp export", out=out, err=err, description="Convert a model file "
                    "(.npz) into a shared folder or TransformerLens's weights.")
    parser.add_argument("model", metavar="M.npz", help="the model file")
    parser.add_argument("--to", choices=("safetensors", "transformer-lens"), required=True,
                        help="safetensors: the shared folder (needs --program); "
                        "transformer-lens: the TransformerBridge's state dict and config")
    parser.add_argument("out", metavar="DIR", help="the folder to write")
    parser.add_argument("--program", metavar="FILE", help="the program it was compiled from "
                        "(a path, or a file of the example library)")
    parser.add_argument("--name", help="the s-op it compiles (default: the model's own name)")
    parser.add_argument("--force", action="store_true", help="replace the model a folder "
                        "holds already")
    return parser


@command("rasp export")
def main(argv: list[str], out: TextIO, err: TextIO) -> int:
    from ..compiler import Model
    from ..compiler.folder import Source
    from ..interop import save_folder, verify
    from ..interop.folder import save_lens_folder

    args = _parser(out, err).parse_args(argv)
    if args.to == "safetensors" and args.program is None:
        raise UsageError("--to safetensors: give --program FILE, the program the model was "
                         "compiled from (the folder carries it, to verify the model again)")
    model = Model.load(args.model)
    if args.to == "transformer-lens":
        saved = save_lens_folder(model, args.out, args.force)
    else:
        source = Source(read(program_path(args.program)), args.name or model.config["program"])
        result = verify(Model(model.arrays, model.config, source))
        if not result.ok:  # the wrong program: the folder would never verify
            raise RaspValueError(f"the model disagrees with {args.program}'s "
                                 f"'{source.target}': {result.report()}")
        float32 = verify(Model(model.arrays, model.config, source), dtype="float32")
        out.write(f"float32 {float32.report()}\n")
        saved = save_folder(model, args.out, source, result, float32, force=args.force)
    out.write(f"saved {saved}\n")
    return EXIT_OK
