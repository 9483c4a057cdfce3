"""The reproduction of §5 of "Thinking Like Transformers" at CPU scale: the paper's seven tasks,
trained at the size the analysis gives, one head fewer, one layer fewer, one layer fewer with
twice the heads and width, and at the analysed size with attention supervision; each until
its validation loss stops falling (--patience 5) or for 60 epochs at most (the learning rate
is then 5% of its start), over five seeds; the attention scored against the trivial heads
(docs/training.md).

    python bench/paper_s5.py                      # the table of docs/training.md
    python bench/paper_s5.py --lengths-beyond     # train at 1:16, test at 17:32
    python bench/paper_s5.py --lengths-beyond --constant   # the baseline that ignores the input
    python bench/paper_s5.py --tasks reverse --seeds 1 --epochs 5 --patience 2   # a look

Every run's files go under --out (default runs/paper_s5/TASK/...), each task's summary.json
beside them; the tables (the means, and every seed's run) are printed as markdown and
written to --out/table.md, with the machine they ran on; the attention pictures of the
supervised runs (seed 0, the unsupervised run's heads beside) to --pictures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import string
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from rasp.files import write_atomic  # noqa: E402
from rasp.train import make_dataset  # noqa: E402
from rasp.train.ablations import ATTENTION_KEYS, run_folder, summary_row, variants  # noqa: E402
from rasp.train.data import Dataset  # noqa: E402
from rasp.train.loop import TrainConfig, load_run, train  # noqa: E402
from rasp.train.plots import plot_attention  # noqa: E402
from rasp.train.runs import environment  # noqa: E402

PAPER = ROOT / "examples" / "paper_examples.rasp"
LETTERS = string.ascii_lowercase + string.ascii_uppercase
SYMBOLS = LETTERS + string.digits + string.punctuation + "αβγδεζ"  # 100, as the paper's

# task: (s-op, alphabet, BOS, sampler, the input drawn). Sort and most-frequent
# use 52 symbols: with 8, one layer sorts by reading the histogram (docs/training.md).
# dyck2_ptf labels a neutral symbol inside a pair as a failure, unlike Dyck-2: `dyck2` is
# measured on the program's labels, with the neutral `a`; `dyck2_pure` on `(){}` alone,
# where the program is Dyck-2.
TASKS = {
    "reverse": ("reverse", "abcdefgh", None, "uniform", "abcdefgh"),
    "hist": ("hist_bos", "abcdefgh", "§", "uniform", "§abacbcd"),
    "double_hist": ("hist2_bos", "abcdefgh", "§", "uniform", "§aabbbcdd"),
    "sort": ("sort_bos", LETTERS, "§", "uniform", "§dbKadcE"),
    "most_freq": ("sort_by_most_freq", LETTERS, "§", "uniform", "§abbcbcd"),
    "dyck1": ("dyck1_ptf", "()a", None, "brackets", "(()a)(()"),
    "dyck2": ("dyck2_ptf", "(){}a", None, "brackets", "({}a)({)"),
    "dyck2_pure": ("dyck2_ptf", "(){}", None, "brackets", "({})({)"),
}
VARIANTS = ("analysed", "supervised", "fewer-heads", "fewer-layers", "fewer-layers-wide")
ROLES = ["analysed", "analysed, supervised (mse)", "analysed, supervised (ce)",
         "one head fewer", "one layer fewer", "one layer fewer, 2x heads and d"]


def role(row: dict, analysed: tuple[int, int]) -> str:
    layers, heads = analysed
    if row["supervised"]:
        return f"analysed, supervised ({row.get('attention_loss') or 'mse'})"
    if (row["layers"], row["heads"]) == analysed:
        return "analysed"
    if row["layers"] == layers:
        return "one head fewer"
    return "one layer fewer" if row["heads"] == heads else "one layer fewer, 2x heads and d"


def variant_name(config: TrainConfig, analysed: tuple[int, int]) -> str:
    if config.supervise:
        return "supervised"
    if (config.layers, config.heads) == analysed:
        return "analysed"
    if config.layers == analysed[0]:
        return "fewer-heads"
    return "fewer-layers" if config.heads == analysed[1] else "fewer-layers-wide"


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def row_of_folder(folder: Path) -> dict:
    """A summary row from a run's files, as summary_row makes it from the run."""
    config = json.loads((folder / "config.json").read_text())["train"]
    metrics = json.loads((folder / "metrics.json").read_text())
    return {"folder": folder.name, "layers": config["layers"], "heads": config["heads"],
            "d_model": config["d_model"], "supervised": config["supervise"],
            "seed": config["seed"],
            "attention_loss": config["attention_loss"] if config["supervise"] else None,
            "test": {k: v for k, v in metrics["test"].items() if k != "by_length"},
            "attention": [{k: a[k] for k in ATTENTION_KEYS} for a in metrics["attention"]],
            "epochs": len(history(folder)),
            "checkpoint": metrics["checkpoint"]}


def collect(out: Path) -> dict[str, tuple[tuple[int, int], list[dict]]]:
    """Every task's summaries under `out`, in the paper's order (runs may be split over
    processes); the sweep's first, whose first row is the analysed size."""
    results = {}
    for task in TASKS:
        paths = sorted((out / task).glob("summary*.json"),
                       key=lambda p: (p.name != "summary.json", p.name))
        rows = [row for path in paths for row in json.loads(path.read_text())]
        if rows:
            results[task] = ((rows[0]["layers"], rows[0]["heads"]), rows)
    return results


def heads_text(members: list[dict]) -> str:
    """Per program head, over the seeds: the head's tv, the best trivial head's, and the
    gain (the corrected score: 0 is no better than a head that ignores the input)."""
    per_head = []
    for i, head in enumerate(members[0]["attention"]):
        values = [m["attention"][i] for m in members if len(m["attention"]) > i]
        tv = statistics.mean(v["tv"] for v in values)
        gain = statistics.mean(v["tv_gain"] for v in values)
        trivial = sorted({v["best_trivial"] for v in values})
        per_head.append(f"L{head['layer']}H{head['head']} {tv:.2f} / {tv + gain:.2f} "
                        f"({', '.join(trivial)}) / "
                        + ("selector trivial" if head.get("trivial_selector") else f"{gain:+.2f}"))
    return "; ".join(per_head) or "-"


def grouped(analysed: tuple[int, int], rows: list[dict]) -> list[tuple[str, list[dict]]]:
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["layers"], row["heads"], row["d_model"], row["supervised"],
                           row.get("attention_loss")), []).append(row)
    return sorted(((role(g[0], analysed), g) for g in groups.values()),
                  key=lambda g: ROLES.index(g[0]))


def table(results: dict[str, tuple[tuple[int, int], list[dict]]]) -> str:
    """The means over seeds (and their range), one line per task and run."""
    lines = ["| task | model (L, H, d) | run | seeds | epochs | token accuracy | sequence "
             "accuracy | attention: tv / best trivial tv (head) / gain |",
             "| --- | --- | --- | ---: | --- | --- | --- | --- |"]
    for task, (analysed, rows) in results.items():
        for kind, members in grouped(analysed, rows):
            m = members[0]
            epochs = [r["epochs"] for r in members]
            lines.append(
                f"| {task} | {m['layers']}, {m['heads']}, {m['d_model']} | {kind} | "
                f"{len(members)} | {min(epochs)}-{max(epochs)} | "
                f"{spread([r['test']['token_accuracy'] for r in members])} | "
                f"{spread([r['test']['sequence_accuracy'] for r in members])} | "
                f"{heads_text(members) if kind.startswith('analysed') else '-'} |")
    return "\n".join(lines)


def seed_table(out: Path, results: dict[str, tuple[tuple[int, int], list[dict]]]) -> str:
    """Every run: its seed, when it stopped, its accuracy, whether the epoch cap stopped it
    still learning (its validation accuracy's gain in its last 10 epochs) and its heads'
    gains."""
    lines = ["| task | run | seed | epochs (stopped; kept) | token accuracy | sequence "
             "accuracy | stopped by the cap: validation gain, last 10 epochs | "
             "tv gain per head |",
             "| --- | --- | ---: | --- | --- | --- | --- | --- |"]
    for task, (analysed, rows) in results.items():
        for kind, members in grouped(analysed, rows):
            for r in sorted(members, key=lambda r: r["seed"]):
                kept = r.get("checkpoint", {})
                gains = ", ".join(f"L{a['layer']}H{a['head']} {a['tv_gain']:+.2f}"
                                  for a in r["attention"]) or "-"
                lines.append(f"| {task} | {kind} | {r['seed']} | {r['epochs']} "
                             f"({kept.get('stopped', '?')}; {kept.get('epoch', '?')}) | "
                             f"{r['test']['token_accuracy']:.3f} | "
                             f"{r['test']['sequence_accuracy']:.3f} | "
                             f"{last_change(out / task / r['folder'], kept)} | {gains} |")
    return "\n".join(lines)


def history(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]


def last_change(folder: Path, checkpoint: dict, epochs: int = 10) -> str:
    """For a run the epoch cap stopped: its best validation token accuracy over its last
    `epochs` epochs against its best before them (near 0 where it had reached a plateau)."""
    scores = [r["val_token_accuracy"] for r in history(folder)]
    if checkpoint.get("stopped") != "epochs" or len(scores) <= epochs:
        return "-"
    return f"{max(scores[-epochs:]) - max(scores[:-epochs]):+.3f}"


def kept_validation(folder: Path, epoch: int) -> dict:
    """The validation split's scores at the kept epoch: the only scores at the training
    lengths where the test inputs are all longer (the split that chose the epoch)."""
    return next(r for r in history(folder) if r["epoch"] == epoch)


def beyond_table(out: Path, results: dict[str, tuple[tuple[int, int], list[dict]]]) -> str:
    """Length generalisation: the accuracy on the test inputs longer than training, beside
    the validation accuracy at the training lengths."""
    lines = ["| task | run | seeds | epochs (kept) | validation token / sequence accuracy, "
             "trained lengths | token accuracy, longer | sequence accuracy, longer | inputs |",
             "| --- | --- | ---: | --- | --- | --- | --- | ---: |"]
    for task, (analysed, rows) in results.items():
        for kind, members in grouped(analysed, rows):
            longer = [r["test"]["longer"] for r in members]
            kept = [kept_validation(out / task / r["folder"], r["checkpoint"]["epoch"])
                    for r in members]
            lines.append(f"| {task} | {kind} | {len(members)} | "
                         + ", ".join(f"{r['epochs']} ({r['checkpoint']['epoch']})"
                                     for r in members) + " | "
                         f"{spread([v['val_token_accuracy'] for v in kept])} / "
                         f"{spread([v['val_sequence_accuracy'] for v in kept])} | "
                         f"{spread([x['token_accuracy'] for x in longer])} | "
                         f"{spread([x['sequence_accuracy'] for x in longer])} | "
                         f"{longer[0]['inputs']} |")
    return "\n".join(lines)


def report(out: Path, threads: int, device: str, beyond: bool) -> str:
    results = collect(out)
    machine = environment(threads, device) | {"torch": torch.__version__}
    text = (f"Measured on {machine}\n\n" + (
        "Every test figure here is at the test lengths, beyond training.\n\n"
        + beyond_table(out, results) + "\n\n" if beyond else "")
            + table(results) + "\n\nEvery run:\n\n" + seed_table(out, results) + "\n")
    write_atomic(out / "table.md", text)
    return text


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--seeds", type=int, default=5, help="how many model seeds each run gets")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the first of those seeds (to add seeds to an earlier sweep)")
    parser.add_argument("--epochs", type=int, default=60, help="the most epochs a run")
    parser.add_argument("--patience", type=int, default=5,
                        help="stop after this many epochs without a better validation loss")
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU threads a run")
    parser.add_argument("--train", type=int, default=10_000)
    parser.add_argument("--lengths", default="1:16")
    parser.add_argument("--lengths-beyond", action="store_true",
                        help="test at 17:32 (the lengths after --lengths, as many again): "
                        "the analysed size, supervised and not, and the length table")
    parser.add_argument("--alphabet-size", type=int, metavar="K",
                        help="the first K of SYMBOLS (up to 100, the paper's largest) instead "
                        "of each task's own alphabet")
    parser.add_argument("--d-model", type=int, default=64, help="(the paper's: 256)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--attention-loss", choices=("mse", "ce"), default="mse")
    parser.add_argument("--supervised-only", action="store_true",
                        help="only the analysed size with attention supervision")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                        help="which runs of the sweep (default: all)")
    parser.add_argument("--replot", action="store_true",
                        help="only draw the pictures again, from the supervised runs of --out")
    parser.add_argument("--summarise", action="store_true",
                        help="only write each task's summary.json from the finished run "
                        "folders of --out (for a sweep cut short)")
    parser.add_argument("--constant", action="store_true",
                        help="only print each task's constant baseline on its test inputs "
                        "(the commonest training output everywhere; no training)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--pictures", type=Path, default=ROOT / "docs" / "images" / "training")
    args = parser.parse_args()
    if args.out is None:
        args.out = ROOT / "runs" / ("paper_s5_beyond" if args.lengths_beyond else "paper_s5")
    if args.lengths_beyond:
        args.variants = [v for v in args.variants if v in ("analysed", "supervised")]
    return args


def constant(data: Dataset) -> tuple[str, float, float]:
    """The baseline that ignores the input: the commonest training output, answered at every
    scored position of the test inputs; its token and sequence accuracy there."""
    first = data.first_scored
    counts = Counter(int(v) for g in data.train.groups for v in g.y[:, first:].ravel())
    guess = counts.most_common(1)[0][0]
    right = [g.y[:, first:] == guess for g in data.test.groups]
    return (str(data.classes[guess]), sum(int(r.sum()) for r in right) / sum(r.size for r in right),
            sum(int(r.all(axis=1).sum()) for r in right) / sum(len(r) for r in right))


def dataset(args: argparse.Namespace, task: str) -> Dataset:
    name, alphabet, bos, sampler = TASKS[task][:4]
    low, high = map(int, args.lengths.split(":"))
    if args.alphabet_size:
        alphabet = SYMBOLS[:args.alphabet_size]
    return make_dataset(PAPER, name, alphabet=alphabet, lengths=(low, high), bos=bos,
                        sampler=sampler, n_train=args.train, n_val=500, n_test=1000,
                        test_lengths=(high + 1, 2 * high) if args.lengths_beyond else None)


def summarise(args: argparse.Namespace) -> None:
    for task in args.tasks:
        folders = sorted(f for f in (args.out / task).glob("L*")
                         if (f / "config.json").is_file())
        plain = [row_of_folder(f) for f in folders if not f.name.endswith("-ce")]
        # the analysed size first, as the sweep writes it
        plain.sort(key=lambda r: (-r["layers"], r["d_model"], -r["heads"], r["supervised"],
                                  r["seed"]))
        if plain:
            write_atomic(args.out / task / "summary.json", json.dumps(plain, indent=1) + "\n")


def replot(args: argparse.Namespace) -> None:
    for task in args.tasks:
        for folder in sorted((args.out / task).glob("*-sup-s0*")):
            suffix = "-ce" if folder.name.endswith("-ce") else ""
            plain = folder.parent / folder.name.replace("-sup", "").removesuffix("-ce")
            beside = load_run(plain) if (plain / "config.json").is_file() else None
            plot_attention(load_run(folder), list(TASKS[task][4]),
                           args.pictures / f"{task}{suffix}.png", beside=beside)


def sweep(args: argparse.Namespace, task: str) -> None:
    shown = TASKS[task][4]
    data = dataset(args, task)
    base = TrainConfig(epochs=args.epochs, patience=args.patience, supervise=True,
                       device=args.device, d_model=args.d_model, threads=args.threads,
                       attention_loss=args.attention_loss).checked(data)
    analysed = (base.layers or 0, base.heads or 0)
    chosen = [c for c in variants(base) if variant_name(c, analysed) in args.variants]
    rows, plain = [], None
    for config in [base] if args.supervised_only else chosen:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            each = dataclasses.replace(config, seed=seed)
            started = time.time()
            folder = args.out / task / (run_folder(each) + (
                "-ce" if each.supervise and each.attention_loss == "ce" else ""))
            run = train(data, each, out=folder, quiet=True, force=True)  # a rerun replaces
            if seed == 0 and variant_name(each, analysed) == "analysed":
                plain = run
            if each.supervise and seed == 0 and not args.lengths_beyond:
                suffix = "" if each.attention_loss == "mse" else f"-{each.attention_loss}"
                plot_attention(run, list(shown), args.pictures / f"{task}{suffix}.png",
                               beside=plain)
            rows.append(summary_row(run) | {"seconds": round(time.time() - started, 1),
                                            "folder": folder.name})
            print(f"{task} {run_folder(each)}: token "
                  f"{rows[-1]['test']['token_accuracy']:.3f} sequence "
                  f"{rows[-1]['test']['sequence_accuracy']:.3f} ({rows[-1]['seconds']} s, "
                  f"{rows[-1]['epochs']} epochs, {run.metrics['checkpoint']['stopped']})",
                  flush=True)
    summary = (f"summary-supervised-{args.attention_loss}.json" if args.supervised_only
               else "summary.json")
    write_atomic(args.out / task / summary, json.dumps(rows, indent=1) + "\n")


def main() -> int:
    args = arguments()
    if args.constant:
        print("| task | constant output | token accuracy | sequence accuracy |\n"
              "| --- | --- | --- | --- |")
        for task in args.tasks:
            print("| {} | `{}` | {:.3f} | {:.3f} |".format(task, *constant(dataset(args, task))),
                  flush=True)
        return 0
    if args.summarise:
        summarise(args)
    elif args.replot:
        replot(args)
        return 0
    else:
        for task in args.tasks:
            sweep(args, task)
            report(args.out, args.threads, args.device, args.lengths_beyond)
    print(report(args.out, args.threads, args.device, args.lengths_beyond))
    return 0


if __name__ == "__main__":
    sys.exit(main())
