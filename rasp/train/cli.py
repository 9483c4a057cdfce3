"""`rasp train FILE NAME ...` and `rasp dataset FILE NAME ... --out DIR`.

`rasp dataset` needs only numpy; `rasp train` imports torch when it starts training, and says
how to install it when it is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from ..errors import RaspError, RaspValueError, format_error
from . import TORCH_MISSING
from .data import SAMPLERS, Dataset, make_dataset, write_jsonl
from .program import Program, load_program

__all__ = ["main", "train_main", "dataset_main"]

# 2: a bad argument or a missing extra (argparse's code); 64: a file that cannot be read;
# 70: the program fails (as `rasp FILE` reports it).
EXIT_OK, EXIT_ARGS, EXIT_USAGE, EXIT_RUNTIME = 0, 2, 64, 70


class _Parser(argparse.ArgumentParser):
    """argparse that raises, so that a usage mistake is one line on our stream."""

    def error(self, message: str) -> Any:
        raise _Usage(f"{self.prog}: error: {message}")


class _Usage(Exception):
    pass


def _lengths(text: str) -> tuple[int, int]:
    low, sep, high = text.partition(":")
    try:
        pair = (int(low), int(high)) if sep else (int(low), int(low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX, such as 1:16, not {text!r}"
                                         ) from None
    return pair


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the .rasp program, or a file of the example library")
    parser.add_argument("name", help="the s-op to learn: a name the program defines")
    data = parser.add_argument_group("data")
    data.add_argument("--alphabet", default="abcdefgh",
                      help="the input symbols, one character each (default: abcdefgh)")
    data.add_argument("--lengths", type=_lengths, default=(1, 16), metavar="MIN:MAX",
                      help="input lengths, without the BOS (default: 1:16)")
    data.add_argument("--bos", metavar="TOKEN", help="put TOKEN before every input, for "
                      "programs that read a beginning-of-sequence (the *_bos examples: §)")
    data.add_argument("--sampler", choices=SAMPLERS, default="uniform",
                      help="uniform strings, or brackets: balanced, balanced-prefix and "
                      "uniform strings in equal parts (for Dyck languages)")
    data.add_argument("--train", type=int, default=10_000, metavar="N",
                      help="training inputs (default: 10000)")
    data.add_argument("--val", type=int, default=500, metavar="N",
                      help="validation inputs (default: 500)")
    data.add_argument("--test", type=int, default=1000, metavar="N",
                      help="test inputs, none seen in training (default: 1000)")
    data.add_argument("--seed", type=int, default=0,
                      help="seed of the data and of the first model (default: 0)")


def _train_parser() -> _Parser:
    parser = _Parser(prog="rasp train", description="Train a transformer, sized by the "
                     "program's analysis, to compute the s-op NAME; optionally supervise its "
                     "attention with the program's selectors.")
    _data_arguments(parser)
    model = parser.add_argument_group("model (default: the analysis' layers and widest layer)")
    model.add_argument("--layers", type=int, metavar="L")
    model.add_argument("--heads", type=int, metavar="H")
    model.add_argument("--d-model", type=int, default=64, metavar="D", help="(default: 64)")
    model.add_argument("--ff", type=int, metavar="F", help="feed-forward width (default: 2D)")
    model.add_argument("--positions", choices=("sin", "learned"), default="sin")
    fit = parser.add_argument_group("training")
    fit.add_argument("--epochs", type=int, default=20, metavar="E", help="(default: 20)")
    fit.add_argument("--batch", type=int, default=50, metavar="B", help="(default: 50)")
    fit.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (1e-3)")
    fit.add_argument("--gamma", type=float, default=0.95,
                     help="learning-rate decay per epoch (default: 0.95)")
    fit.add_argument("--supervise-attention", action="store_true",
                     help="pull each analysed head's attention toward its selector")
    fit.add_argument("--attention-loss", choices=("mse", "ce"), default="mse",
                     help="mse (the paper's) or ce, cross-entropy to the selector's rows")
    fit.add_argument("--attention-weight", type=float, metavar="C",
                     help="weight of the attention loss (default: 100 for mse, 1 for ce)")
    fit.add_argument("--empty-rows", choices=("skip", "uniform", "bos"), default="skip",
                     help="queries that select nothing: left out of the attention loss, "
                     "aimed at every key, or aimed at the BOS")
    fit.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    runs = parser.add_argument_group("runs and output")
    runs.add_argument("--ablations", action="store_true", help="also train one head fewer, "
                      "one layer fewer, and one layer fewer with 2x heads and width")
    runs.add_argument("--seeds", type=int, default=1, metavar="K",
                      help="with --ablations: seeds SEED..SEED+K-1 (default: 1)")
    runs.add_argument("--plot", metavar="INPUT", help="draw the attention on INPUT next to "
                      "the selectors (plots/attention.png)")
    runs.add_argument("--out", metavar="DIR", help="where the run's files go "
                      "(default: runs/NAME)")
    runs.add_argument("--json", action="store_true",
                      help="no progress; print the metrics (or the summary) as JSON")
    return parser


def _dataset_parser() -> _Parser:
    parser = _Parser(prog="rasp dataset", description="Write the inputs, outputs and "
                     "optionally the attention targets of the s-op NAME as JSONL "
                     "(DIR/train.jsonl, val.jsonl, test.jsonl and meta.json), or as Parquet "
                     "shards (DIR/data/*.parquet and DIR/dataset.json), here or on Dask.")
    _data_arguments(parser)
    parser.add_argument("--out", metavar="DIR", required=True, help="the folder to write")
    parser.add_argument("--selections", action="store_true",
                        help="add each analysed head's selected keys per query")
    from ..dataset.cli import add_arguments

    add_arguments(parser)
    return parser


def _prepare(args: argparse.Namespace, err: TextIO, sample: bool = True
             ) -> Dataset | Program | int:
    """The program and its dataset (with `sample` false: the program alone), or an exit
    status after reporting why not."""
    try:
        program: Program = load_program(args.file, args.name)
        if not sample:
            return program
        return make_dataset(program, alphabet=args.alphabet, lengths=args.lengths,
                            n_train=args.train, n_val=args.val, n_test=args.test, bos=args.bos,
                            sampler=args.sampler, seed=args.seed)
    except OSError as e:
        err.write(f"rasp: cannot read {args.file}: {e.strerror or e}\n")
        return EXIT_USAGE
    except RaspError as e:
        if e.span is None:  # about the arguments (alphabet, lengths, sizes), not the program
            err.write(f"rasp: error: {e.message}\n")
            return EXIT_ARGS
        err.write(format_error(e) + "\n")
        return EXIT_RUNTIME


def dataset_main(argv: list[str], out: TextIO, err: TextIO) -> int:
    args = _dataset_parser().parse_args(argv)
    from ..dataset import cli as scale

    try:
        parquet = scale.wants_parquet(args)
    except ValueError as e:
        raise _Usage(f"rasp dataset: error: {e}") from None
    if parquet:  # rasp.dataset: shards of Parquet, here or on Dask
        missing = scale.check_extra(args)
        if missing:
            err.write(f"rasp dataset: {missing}\n")
            return EXIT_ARGS
        program = _prepare(args, err, sample=False)
        if isinstance(program, int):
            return program
        assert isinstance(program, Program)
        return scale.parquet_main(args, program, out, err)
    dataset = _prepare(args, err)
    if isinstance(dataset, int):
        return dataset
    assert isinstance(dataset, Dataset)
    files = write_jsonl(dataset, Path(args.out), selections=args.selections)
    out.write(f"{dataset.train.size} / {dataset.val.size} / {dataset.test.size} inputs "
              f"(train / val / test): {', '.join(map(str, files))}\n")
    return EXIT_OK


def train_main(argv: list[str], out: TextIO, err: TextIO) -> int:
    args = _train_parser().parse_args(argv)
    if args.seeds < 1:
        raise _Usage("rasp train: error: --seeds must be at least 1")
    if args.seeds > 1 and not args.ablations:
        raise _Usage("rasp train: error: --seeds goes with --ablations (one run takes --seed)")
    try:
        import torch  # noqa: F401  (the check that the extra is installed)

        from . import ablations, loop
    except ImportError:
        err.write(f"rasp train: {TORCH_MISSING}\n")
        return EXIT_ARGS
    dataset = _prepare(args, err)
    if isinstance(dataset, int):
        return dataset
    assert isinstance(dataset, Dataset)
    config = loop.TrainConfig(
        layers=args.layers, heads=args.heads, d_model=args.d_model, ff=args.ff,
        positions=args.positions, epochs=args.epochs, batch=args.batch, lr=args.lr,
        gamma=args.gamma, seed=args.seed, supervise=args.supervise_attention,
        attention_loss=args.attention_loss, attention_weight=args.attention_weight,
        empty_rows=args.empty_rows, device=args.device)
    folder = Path(args.out or Path("runs") / args.name)
    try:
        config = config.checked(dataset)
        plot_input = _plot_input(args.plot, dataset)
    except RaspError as e:
        err.write(f"rasp train: error: {e.message}\n")
        return EXIT_ARGS
    after = _after(args.plot and plot_input, err,
                   out if args.ablations and not args.json else None)
    if not args.json:
        analysis = dataset.program.analysis
        out.write(f"{args.name}: the analysis gives {analysis.depth} layers, heads per layer "
                  f"{'/'.join(map(str, analysis.heads_per_layer))}; data "
                  f"{dataset.train.size}/{dataset.val.size}/{dataset.test.size}, "
                  f"{len(dataset.classes)} output classes\n")
        out.flush()
    if args.ablations:
        seeds = list(range(args.seed, args.seed + args.seeds))
        rows = ablations.run_ablations(dataset, config, seeds, folder, quiet=args.json,
                                       stream=err, after=after)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "summary.json").write_text(json.dumps(rows, indent=1) + "\n")
        out.write(json.dumps(rows) + "\n" if args.json else ablations.table(rows) +
                  f"\nfiles: {folder}/summary.json and a folder per run\n")
        return EXIT_OK
    run = loop.train(dataset, config, out=folder, quiet=args.json, stream=err)
    after(run, folder)
    out.write(json.dumps(run.metrics) + "\n" if args.json else _report(run) +
              f"\nfiles: {folder}\n")
    return EXIT_OK


def _plot_input(text: str | None, dataset: Dataset) -> list | None:
    """The --plot input as tokens, the BOS put in front if the data has one."""
    if text is None:
        return None
    tokens = list(text)
    if dataset.bos is not None and tokens[:1] != [dataset.bos]:
        tokens = [dataset.bos, *tokens]
    unknown = [t for t in tokens if t not in dataset.vocab]
    if unknown or not tokens:
        raise RaspValueError(f"--plot {text!r}: {unknown[0]!r} is not in the alphabet"
                             if unknown else "--plot needs a non-empty input")
    return tokens


def _after(plot_input: list | None, err: TextIO, out: TextIO | None = None) -> Any:
    """What follows each run: its pictures, when matplotlib is there, and with `out` a line
    saying how it did (a sweep's runs take minutes)."""
    def pictures(run: Any, folder: Path | None) -> None:
        if out is not None:
            test = run.metrics["test"]
            out.write(f"  {folder.name if folder else 'run'}: token accuracy "
                      f"{test['token_accuracy']:.3f}, sequence accuracy "
                      f"{test['sequence_accuracy']:.3f} ({len(run.history)} epochs)\n")
            out.flush()
        if folder is None:
            return
        try:
            from .plots import plot_attention, plot_curves
        except ImportError:
            err.write("rasp train: note: matplotlib is missing, no pictures\n")
            return
        plot_curves(run.history, folder / "plots" / "curves.png")
        if plot_input:
            plot_attention(run, plot_input, folder / "plots" / "attention.png")
    return pictures


def _report(run: Any) -> str:
    c, test = run.config, run.metrics["test"]
    lines = [f"model L{c.layers} H{c.heads} d{c.d_model}"
             f"{' (attention supervised)' if c.supervise else ''}: {len(run.history)} epochs"
             f"{', interrupted' if run.interrupted else ''}; test token accuracy "
             f"{test['token_accuracy']:.3f}, sequence accuracy {test['sequence_accuracy']:.3f}"]
    for a in run.metrics["attention"]:
        lines.append(f"  L{a['layer']}H{a['head']} {a['selector']} (model head "
                     f"{a['model_head']}): mass {a['mass']:.2f}, argmax {a['argmax']:.2f}, "
                     f"tv {a['tv']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """`train ...` or `dataset ...` (the first argument names the command)."""
    argv = sys.argv[1:] if argv is None else argv
    out, err = stdout or sys.stdout, stderr or sys.stderr
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if command == "dataset":
            return dataset_main(rest, out, err)
        if command == "train":
            return train_main(rest, out, err)
        raise _Usage("rasp: error: expected 'train' or 'dataset'")
    except _Usage as e:
        err.write(f"{e}\n")
        return EXIT_ARGS
