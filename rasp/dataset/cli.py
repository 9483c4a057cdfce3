"""`rasp dataset ... --format parquet [--workers N | --scheduler ADDRESS]`: the arguments are
parsed by rasp.train.cli, which hands the run over here."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TextIO

from ..errors import RaspError
from ..train.data import _alphabet, make_sampler
from ..train.program import Program
from . import missing_extra

__all__ = ["add_arguments", "wants_parquet", "check_extra", "parquet_main"]

EXIT_OK, EXIT_ARGS, EXIT_RUNTIME = 0, 2, 70
_SCALE_FLAGS = ("workers", "scheduler", "shard_size", "on_error", "resume")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scale = parser.add_argument_group(
        "Parquet and Dask (pip install 'rasp-lang[scale]'); any of --workers, --scheduler, "
        "--shard-size, --on-error, --resume means --format parquet")
    scale.add_argument("--format", choices=("jsonl", "parquet"),
                       help="jsonl (the default) or parquet: DIR/data/*.parquet shards and "
                       "DIR/dataset.json")
    scale.add_argument("--workers", type=int, metavar="N",
                       help="run the shards on a local Dask cluster of N processes")
    scale.add_argument("--scheduler", metavar="ADDRESS",
                       help="run the shards on the Dask cluster at ADDRESS (tcp://host:8786); "
                       "its workers need rasp installed and DIR reachable")
    scale.add_argument("--shard-size", type=int, metavar="K",
                       help="rows per shard, at most (default: 10000)")
    scale.add_argument("--resume", action="store_true",
                       help="keep the shard files in DIR that this same command already "
                       "finished (after a run that stopped), and run the others")
    scale.add_argument("--on-error", choices=("stop", "skip"),
                       help="an input the program fails on: stop the run (the default) or "
                       "leave the input out and go on")


def wants_parquet(args: argparse.Namespace) -> bool:
    """Whether the run writes Parquet; raises ValueError for --format jsonl with a Parquet
    flag."""
    flags = [f"--{f.replace('_', '-')}" for f in _SCALE_FLAGS
             if getattr(args, f) is not None and getattr(args, f) is not False]
    if args.format == "jsonl" and flags:
        raise ValueError(f"{flags[0]} writes Parquet: leave out --format jsonl")
    return args.format == "parquet" or bool(flags)


def parquet_main(args: argparse.Namespace, program: Program, out: TextIO, err: TextIO) -> int:
    from .driver import DatasetError, Options, Progress, generate

    if args.workers is not None and args.workers < 1:
        err.write("rasp dataset: error: --workers must be at least 1\n")
        return EXIT_ARGS
    if args.workers is not None and args.scheduler:
        err.write("rasp dataset: error: --workers and --scheduler: choose one\n")
        return EXIT_ARGS
    counts = {"train": args.train, "val": args.val, "test": args.test}
    if min(counts.values()) < 0 or sum(counts.values()) < 1:
        err.write("rasp dataset: error: --train, --val and --test: at least 0 each, and "
                  "some rows in all\n")
        return EXIT_ARGS
    if not 1 <= args.lengths[0] <= args.lengths[1]:
        err.write(f"rasp dataset: error: lengths {args.lengths[0]}:{args.lengths[1]}: need "
                  "1 <= min <= max\n")
        return EXIT_ARGS
    try:
        alphabet = _alphabet(args.alphabet, args.bos)
        make_sampler(args.sampler, alphabet, args.lengths)
    except RaspError as e:
        err.write(f"rasp dataset: error: {e.message}\n")
        return EXIT_ARGS
    options = Options(alphabet=alphabet, lengths=args.lengths, counts=counts, bos=args.bos,
                      sampler=args.sampler, seed=args.seed,
                      shard_size=10_000 if args.shard_size is None else args.shard_size,
                      selections=args.selections,
                      on_error=args.on_error or "stop", resume=args.resume)
    if options.shard_size < 1:
        err.write("rasp dataset: error: --shard-size must be at least 1\n")
        return EXIT_ARGS
    start = time.perf_counter()
    tty = err.isatty()

    def progress(state: Progress) -> None:
        if tty:
            rate = state.rows / max(time.perf_counter() - start, 1e-9)
            err.write(f"\rrasp dataset: {state.done}/{state.total} shards, {state.rows} rows"
                      f"{f', {state.skipped} skipped' if state.skipped else ''}, "
                      f"{rate:,.0f} rows/s ")
            err.flush()

    folder = Path(args.out)
    try:
        description = generate(program, options, folder, workers=args.workers,
                               scheduler=args.scheduler, progress=progress)
    except DatasetError as e:
        if tty:
            err.write("\n")
        err.write(f"rasp dataset: {e}\n")
        return EXIT_RUNTIME
    except OSError as e:  # the cluster cannot be reached, the folder cannot be written
        if tty:
            err.write("\n")
        err.write(f"rasp dataset: {e}\n")
        return EXIT_RUNTIME
    if tty:
        err.write("\n")
    c, skipped = description["counts"], sum(description["skipped"].values())
    seconds = time.perf_counter() - start
    out.write(f"{c['train']} / {c['val']} / {c['test']} rows (train / val / test) in "
              f"{len(description['files'])} shards, {seconds:.1f} s"
              f"{f', {skipped} inputs skipped' if skipped else ''}: {folder / 'data'}, "
              f"{folder / 'dataset.json'}\n")
    return EXIT_OK


def check_extra(args: argparse.Namespace) -> str | None:
    return missing_extra(cluster=args.workers is not None or bool(args.scheduler))
