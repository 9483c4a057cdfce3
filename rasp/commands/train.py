"""`rasp train FILE NAME [...]`: train a transformer to follow the s-op NAME (rasp.train,
PyTorch), sized by the program's analysis; with --ablations, the paper's smaller sizes too;
with --causal a decoder. The data options are those of `rasp dataset`, --test-lengths among
them: the report then gives the accuracy by length, beyond the training lengths too."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..analysis import heads_per_layer_text
from ..errors import RaspError, RaspValueError
from ..files import json_text, write_atomic
from .common import EXIT_INTERRUPTED, EXIT_OK, Parser, UsageError, command, positive
from .dataset import data_arguments, sampled

if TYPE_CHECKING:
    from ..train.data import Dataset

__all__ = ["main"]


def _parser(out: TextIO, err: TextIO) -> Parser:
    parser = Parser(prog="rasp train", out=out, err=err, description="Train a transformer, "
                    "sized by the program's analysis, to compute the s-op NAME; optionally "
                    "supervise its attention with the program's selectors.")
    data_arguments(parser)
    model = parser.add_argument_group("model (default: the analysis' layers and widest layer)")
    model.add_argument("--layers", type=int, metavar="L")
    model.add_argument("--heads", type=int, metavar="H")
    model.add_argument("--d-model", type=int, default=64, metavar="D", help="(default: 64)")
    model.add_argument("--ff", type=int, metavar="F", help="feed-forward width (default: 2D)")
    model.add_argument("--positions", choices=("sin", "learned"), default="sin")
    fit = parser.add_argument_group("training")
    fit.add_argument("--epochs", type=int, default=20, metavar="E",
                     help="(default: 20; with --patience, at most E)")
    fit.add_argument("--patience", type=positive, metavar="P", help="stop after P epochs "
                     "without a better validation loss (default: run every epoch)")
    fit.add_argument("--batch", type=int, default=50, metavar="B", help="(default: 50)")
    fit.add_argument("--lr", type=_rate, default=1e-3, help="Adam's learning rate (1e-3)")
    fit.add_argument("--gamma", type=_decay, default=0.95,
                     help="learning-rate decay per epoch (default: 0.95)")
    fit.add_argument("--supervise-attention", action="store_true",
                     help="pull each analysed head's attention toward its selector")
    fit.add_argument("--attention-loss", choices=("mse", "ce"), default="mse",
                     help="mse (the paper's) or ce, cross-entropy to the selector's rows")
    fit.add_argument("--attention-weight", type=_weight, metavar="C",
                     help="weight of the attention loss (default: 100 for mse, 1 for ce)")
    fit.add_argument("--empty-rows", choices=("skip", "uniform", "bos"), default="skip",
                     help="queries that select nothing: left out of the attention loss, "
                     "aimed at every key, or aimed at the BOS")
    fit.add_argument("--device", type=_device, default="cpu", help="cpu or cuda (default: cpu)")
    fit.add_argument("--threads", type=positive, default=1, metavar="N",
                     help="torch's CPU threads (default: 1, which reproduces and was "
                     "fastest on shared cores); recorded in config.json")
    runs = parser.add_argument_group("runs and output")
    runs.add_argument("--ablations", action="store_true", help="also train one head fewer, "
                      "one layer fewer, and one layer fewer with 2x heads and width")
    runs.add_argument("--seeds", type=positive, default=1, metavar="K",
                      help="with --ablations: seeds SEED..SEED+K-1 (default: 1)")
    runs.add_argument("--plot", metavar="INPUT", help="draw the attention on INPUT next to "
                      "the selectors (plots/attention.png)")
    runs.add_argument("--out", metavar="DIR", help="where the run's files go "
                      "(default: runs/NAME)")
    runs.add_argument("--force", action="store_true", help="replace the files of an earlier "
                      "run in the output folder (without it, such a folder is refused)")
    runs.add_argument("--json", action="store_true",
                      help="no progress; print the metrics (or the summary) as JSON")
    return parser


def _real(text: str) -> float:
    """A finite number: NaN or infinity would train a model of NaNs without a word."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, not {text}")
    return value


def _decay(text: str) -> float:
    value = _real(text)
    if not 0 < value <= 1:  # a factor on the learning rate each epoch
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, not {text}")
    return value


def _rate(text: str) -> float:
    value = _real(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def _weight(text: str) -> float:
    value = _real(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {text}")
    return value


def _device(text: str) -> str:
    if not re.fullmatch(r"cpu|cuda(?::\d+)?|mps", text):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, not {text!r}")
    return text


@command("rasp train")
def main(argv: list[str], out: TextIO, err: TextIO) -> int:
    args = _parser(out, err).parse_args(argv)
    if args.seeds > 1 and not args.ablations:
        raise UsageError("--seeds goes with --ablations (one run takes --seed)")
    from ..train import missing_extra

    missing = missing_extra()
    if missing:
        raise UsageError(missing)
    from ..train import ablations, loop
    dataset = sampled(args, err)
    config = loop.TrainConfig(
        layers=args.layers, heads=args.heads, d_model=args.d_model, ff=args.ff,
        positions=args.positions, epochs=args.epochs, patience=args.patience,
        batch=args.batch, lr=args.lr, gamma=args.gamma, seed=args.seed,
        supervise=args.supervise_attention, attention_loss=args.attention_loss,
        attention_weight=args.attention_weight, empty_rows=args.empty_rows,
        device=args.device, threads=args.threads)
    folder = Path(args.out or Path("runs") / args.name)
    try:
        config = config.checked(dataset)
        plot_input = _plot_input(args.plot, dataset, config.positions)
    except RaspError as e:  # about the options: the sizes of the model, --plot
        raise UsageError(e.message) from None
    after = _after(args.plot and plot_input, err,
                   out if args.ablations and not args.json else None)
    if not args.json:
        analysis = dataset.program.analysis
        out.write(f"{args.name}: the analysis gives {analysis.depth} layers, heads per layer "
                  f"{heads_per_layer_text(analysis.heads_per_layer)}; data "
                  f"{dataset.train.size}/{dataset.val.size}/{dataset.test.size}, "
                  f"{len(dataset.classes)} output classes\n")
        out.flush()
    if args.ablations:
        summary = ablations.run_ablations(
            dataset, config, list(range(args.seed, args.seed + args.seeds)), folder,
            quiet=args.json, stream=err, after=after, force=args.force)
        return _summarised(summary, folder, args.json, out, err)
    run = loop.train(dataset, config, out=folder, quiet=args.json, stream=err, force=args.force)
    after(run, folder)
    out.write(json_text(run.metrics) + "\n" if args.json else _report(run) +
              f"\nfiles: {folder}\n")
    return EXIT_OK


def _summarised(summary: dict, folder: Path, as_json: bool, out: TextIO, err: TextIO) -> int:
    """A sweep's summary.json, its table, and its exit code: 130, saying what is missing,
    when Ctrl-C cut it short."""
    from ..train import ablations

    write_atomic(folder / "summary.json", json_text(summary, indent=1) + "\n")
    out.write(json_text(summary) + "\n" if as_json else ablations.table(summary["runs"])
              + f"\nfiles: {folder}/summary.json and a folder per run\n")
    if summary["complete"]:
        return EXIT_OK
    cut = [row["folder"] for row in summary["runs"] if row["interrupted"]]
    absent = len(summary["missing"])
    err.write("rasp train: interrupted: " + (f"{cut[0]} stopped early (its best checkpoint "
              "kept), " if cut else "") + f"{absent} run{'' if absent == 1 else 's'} missing "
              "(summary.json lists them)\n")
    return EXIT_INTERRUPTED


def _plot_input(text: str | None, dataset: Dataset, positions: str) -> list | None:
    """The --plot input as tokens, the BOS put in front if the data has one; refused before
    training if the model could not read it (learned positions stop at the data's lengths)."""
    from ..train.loop import positions_needed

    if text is None:
        return None
    tokens = list(text)
    if dataset.bos is not None and tokens[:1] != [dataset.bos]:
        tokens = [dataset.bos, *tokens]
    unknown = [t for t in tokens if t not in dataset.vocab]
    if unknown or not tokens:
        raise RaspValueError(f"--plot {text!r}: {unknown[0]!r} is not in the alphabet"
                             if unknown else "--plot needs a non-empty input")
    covered = positions_needed(dataset)
    if positions == "learned" and len(tokens) > covered:
        raise RaspValueError(f"--plot {text!r}: {len(tokens)} tokens, but learned positions "
                             f"cover only the data's lengths, up to {covered} (with the BOS); "
                             "give a shorter input, --test-lengths up to its length, or sin "
                             "positions")
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
            from ..train.plots import plot_attention, plot_curves
        except ImportError:
            err.write("rasp train: note: matplotlib is missing, no pictures\n")
            return
        plot_curves(run.history, folder / "plots" / "curves.png")
        if plot_input:
            plot_attention(run, plot_input, folder / "plots" / "attention.png")
    return pictures


def _report(run: Any) -> str:
    c, test = run.config, run.metrics["test"]
    kept = run.metrics["checkpoint"]
    lines = [f"model L{c.layers} H{c.heads} d{c.d_model}"
             f"{' (attention supervised)' if c.supervise else ''}: {len(run.history)} epochs"
             f" (stopped: {kept['stopped']}), checkpoint of epoch {kept.get('epoch', '-')}; "
             "test token accuracy "
             f"{test['token_accuracy']:.3f}, sequence accuracy {test['sequence_accuracy']:.3f}"]
    if run.dataset.test_lengths is not None:
        lines += _by_length(run.dataset.lengths, test)
    for a in run.metrics["attention"]:
        best = a["trivial"][a["best_trivial"]]
        lines.append(f"  L{a['layer']}H{a['head']} {a['selector']} (model head "
                     f"{a['model_head']}{', supervised' if a['supervised'] else ''}): mass "
                     f"{a['mass']:.2f}, argmax {a['argmax']:.2f}, tv {a['tv']:.2f}; best "
                     f"trivial head ({a['best_trivial']}) {best['mass']:.2f} / "
                     f"{best['argmax']:.2f} / {best['tv']:.2f}; tv gain {a['tv_gain']:.2f}")
    return "\n".join(lines)


def _by_length(trained: tuple[int, int], test: dict) -> list[str]:
    """The test accuracy at each length, the lengths beyond training marked, and the two
    summed up: how far what was learnt carries."""
    lines = ["  length  token acc  seq acc  inputs"]
    for n, r in test["by_length"].items():
        lines.append(f"  {n:>6}  {r['token_accuracy']:9.3f}  {r['sequence_accuracy']:7.3f}  "
                     f"{r['inputs']:6}{'  (longer than training)' if int(n) > trained[1] else ''}")
    for key, what in (("trained_lengths", f"at the training lengths {trained[0]}:{trained[1]}"),
                      ("longer", f"longer than {trained[1]}")):
        r = test[key]
        if r["inputs"]:
            lines.append(f"  {what}: token accuracy {r['token_accuracy']:.3f}, sequence "
                         f"accuracy {r['sequence_accuracy']:.3f} ({r['inputs']} inputs)")
    return lines
