"""`rasp dataset FILE NAME --out DIR`: the inputs, outputs and attention targets of the s-op
NAME, as JSONL (rasp.train.data) or as Parquet shards, here or on Dask (rasp.dataset). Also
the data options and the program that `rasp train` shares."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any, TextIO

from ..errors import RaspError
from ..interpreter import default_memory_limit
from .common import (
    EXIT_OK,
    EXIT_RUNTIME,
    Parser,
    Stopped,
    UsageError,
    command,
    expression,
    load,
    natural,
    positive,
    vocab_arguments,
)

__all__ = ["data_arguments", "main", "program", "sampled"]

_SCALE_FLAGS = ("workers", "scheduler", "shard_size", "on_error", "resume")


def _lengths(text: str) -> tuple[int, int]:
    low, sep, high = text.partition(":")
    try:
        pair = (int(low), int(high)) if sep else (int(low), int(low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX, such as 1:16, not {text!r}"
                                         ) from None
    if not 1 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(f"{text}: need 1 <= MIN <= MAX")
    # an input of length MAX (and its BOS) is evaluated with whole selection matrices: check
    # them against the memory limit now, before a sampler or a shard allocates anything
    cells, limit = (pair[1] + 1) ** 2, default_memory_limit()
    if cells > limit:
        raise argparse.ArgumentTypeError(
            f"an input of length {pair[1]:,} needs {cells / 2**30:.1f} GB per selection matrix, "
            f"over the memory limit of {limit / 2**30:.1f} GB (set RASP_MEMORY_LIMIT to change it)")
    return pair


# host:port, with a protocol (tcp://, tls://, ...) or an IPv6 host in brackets, as Dask takes
_ADDRESS = re.compile(r"(?:[a-z]+://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+)(?::\d{1,5})?")


def _address(text: str) -> str:
    if not _ADDRESS.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (such as tcp://10.0.0.5:8786), "
                                         f"not {text!r}")
    return text


def _seed(text: str) -> int:
    value = natural(text)
    if value >= 2 ** 32:  # numpy's generators take seeds below 2^32
        raise argparse.ArgumentTypeError(f"must be below 2^32, not {value}")
    return value


def data_arguments(parser: Parser) -> None:
    """FILE, NAME and the data options, the same in `rasp train` and `rasp dataset`."""
    from ..train.sampling import SAMPLERS

    parser.add_argument("file", help="the .rasp program, or a file of the example library")
    parser.add_argument("name", help="the s-op to learn: a name the program defines")
    data = parser.add_argument_group("data")
    vocab_arguments(data, "the input tokens (without the BOS): a string of one-character "
                    "tokens or a JSON list (default: abcdefgh)", default="abcdefgh")
    data.add_argument("--lengths", type=_lengths, default=(1, 16), metavar="MIN:MAX",
                      help="input lengths, without the BOS (default: 1:16)")
    data.add_argument("--bos", metavar="TOKEN", help="put TOKEN before every input, for "
                      "programs that read a beginning-of-sequence (the *_bos examples: §)")
    data.add_argument("--sampler", choices=SAMPLERS, default="uniform",
                      help="uniform strings, or brackets: balanced, balanced-prefix and "
                      "uniform strings in equal parts (for Dyck languages)")
    data.add_argument("--train", type=natural, default=10_000, metavar="N",
                      help="training inputs (default: 10000)")
    data.add_argument("--val", type=natural, default=500, metavar="N",
                      help="validation inputs (default: 500)")
    data.add_argument("--test", type=natural, default=1000, metavar="N",
                      help="test inputs, none seen in training (default: 1000)")
    data.add_argument("--seed", type=_seed, default=0,
                      help="seed of the data and of the first model (default: 0)")


def _check_data(args: argparse.Namespace) -> list:
    """The data options together (each alone was checked as it was read): the alphabet."""
    from ..train.sampling import check_alphabet, make_sampler

    try:
        symbols = check_alphabet(args.vocab, args.bos)
    except RaspError as e:
        raise UsageError(f"--bos: {e.message}") from None
    try:
        make_sampler(args.sampler, symbols, args.lengths)
    except RaspError as e:
        raise UsageError(f"--sampler: {e.message}") from None
    return symbols


def program(args: argparse.Namespace, err: TextIO) -> Any:
    """FILE run, and its s-op NAME with its analysis: a rasp.train Program."""
    from ..train.program import Program

    loaded = load(args.file, err)
    return Program(loaded.interpreter, expression(loaded, args.name), loaded.source,
                   loaded.path)


def sampled(args: argparse.Namespace, err: TextIO) -> Any:
    """The program's dataset, drawn as the data options say: a rasp.train Dataset."""
    from ..train.data import make_dataset

    _check_data(args)
    if min(args.train, args.val, args.test) < 1:
        raise UsageError("--train, --val and --test: at least one input each")
    return make_dataset(program(args, err), alphabet=args.vocab, lengths=args.lengths,
                        n_train=args.train, n_val=args.val, n_test=args.test, bos=args.bos,
                        sampler=args.sampler, seed=args.seed)


def _parser(out: TextIO, err: TextIO) -> Parser:
    parser = Parser(prog="rasp dataset", out=out, err=err, description="Write the inputs, "
                    "outputs and optionally the attention targets of the s-op NAME as JSONL "
                    "(DIR/train.jsonl, val.jsonl, test.jsonl and meta.json), or as Parquet "
                    "shards (DIR/data/*.parquet and DIR/dataset.json), here or on Dask.")
    data_arguments(parser)
    parser.add_argument("--out", metavar="DIR", required=True, help="the folder to write")
    parser.add_argument("--force", action="store_true", help="replace the files of an earlier "
                        "dataset in DIR (without it, such a folder is refused)")
    parser.add_argument("--selections", action="store_true",
                        help="add each analysed head's selected keys per query")
    scale = parser.add_argument_group(
        "Parquet and Dask (pip install 'dask[distributed]' pyarrow pandas); any of "
        "--workers, --scheduler, --shard-size, --on-error, --resume means --format parquet")
    scale.add_argument("--format", choices=("jsonl", "parquet"),
                       help="jsonl (the default) or parquet: DIR/data/*.parquet shards and "
                       "DIR/dataset.json")
    scale.add_argument("--workers", type=positive, metavar="N",
                       help="run the shards on a local Dask cluster of N processes")
    scale.add_argument("--scheduler", metavar="ADDRESS", type=_address,
                       help="run the shards on the Dask cluster at ADDRESS (tcp://host:8786); "
                       "its workers need rasp installed and DIR reachable")
    scale.add_argument("--shard-size", type=positive, metavar="K",
                       help="rows per shard, at most (default: 10000)")
    scale.add_argument("--resume", action="store_true",
                       help="keep the shard files in DIR that this same command already "
                       "finished (after a run that stopped), and run the others")
    scale.add_argument("--on-error", choices=("stop", "skip"),
                       help="an input the program fails on: stop the run (the default) or "
                       "leave the input out and go on")
    return parser


@command("rasp dataset")
def main(argv: list[str], out: TextIO, err: TextIO) -> int:
    args = _parser(out, err).parse_args(argv)
    if _wants_parquet(args):
        return _parquet(args, out, err)
    from ..train.data import write_jsonl

    dataset = sampled(args, err)
    files = write_jsonl(dataset, Path(args.out), selections=args.selections, force=args.force)
    out.write(f"{dataset.train.size} / {dataset.val.size} / {dataset.test.size} inputs "
              f"(train / val / test): {', '.join(map(str, files))}\n")
    return EXIT_OK


class StatusLine:
    """One line of a terminal, rewritten in place: each text is padded over the one before,
    so a shorter one (fewer rows/s) leaves none of its characters behind."""

    def __init__(self, stream: TextIO):
        self.stream, self.width = stream, 0

    def show(self, text: str) -> None:
        self.stream.write("\r" + text.ljust(self.width))
        self.width = len(text)
        self.stream.flush()


def _wants_parquet(args: argparse.Namespace) -> bool:
    """Whether the run writes Parquet: --format parquet, or any flag of Parquet runs."""
    flags = [f"--{f.replace('_', '-')}" for f in _SCALE_FLAGS
             if getattr(args, f) is not None and getattr(args, f) is not False]
    if args.format == "jsonl" and flags:
        raise UsageError(f"{flags[0]} writes Parquet: leave out --format jsonl")
    if args.workers is not None and args.scheduler:
        raise UsageError("--workers and --scheduler: choose one")
    return args.format == "parquet" or bool(flags)


def _parquet(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """rasp.dataset: shards of Parquet, in this process or on Dask."""
    from ..dataset import DatasetError, Options, generate, missing_extra

    missing = missing_extra(cluster=args.workers is not None or bool(args.scheduler))
    if missing:
        raise UsageError(missing)
    counts = {"train": args.train, "val": args.val, "test": args.test}
    if sum(counts.values()) < 1:
        raise UsageError("--train, --val and --test: some rows in all")
    options = Options(alphabet=_check_data(args), lengths=args.lengths, counts=counts,
                      bos=args.bos, sampler=args.sampler, seed=args.seed,
                      shard_size=10_000 if args.shard_size is None else args.shard_size,
                      selections=args.selections, on_error=args.on_error or "stop",
                      resume=args.resume, force=args.force)
    target = program(args, err)
    start, tty, line = time.perf_counter(), err.isatty(), StatusLine(err)

    def progress(state: Any) -> None:
        if tty:
            rate = state.rows / max(time.perf_counter() - start, 1e-9)
            line.show(f"rasp dataset: {state.done}/{state.total} shards, {state.rows} rows"
                      f"{f', {state.skipped} skipped' if state.skipped else ''}, "
                      f"{rate:,.0f} rows/s")

    folder = Path(args.out)
    failed: Exception | None = None
    try:
        description = generate(target, options, folder, workers=args.workers,
                               scheduler=args.scheduler, progress=progress)
    except (DatasetError, OSError) as e:  # OSError: no cluster there, a folder not writable
        failed = e
    if tty:
        err.write("\n")  # after the progress line
    if failed is not None:
        err.write(f"rasp dataset: {failed}\n")
        raise Stopped(EXIT_RUNTIME)
    c, skipped = description["counts"], sum(description["skipped"].values())
    seconds = time.perf_counter() - start
    out.write(f"{c['train']} / {c['val']} / {c['test']} rows (train / val / test) in "
              f"{len(description['files'])} shards, {seconds:.1f} s"
              f"{f', {skipped} inputs skipped' if skipped else ''}: {folder / 'data'}, "
              f"{folder / 'dataset.json'}\n")
    return EXIT_OK
