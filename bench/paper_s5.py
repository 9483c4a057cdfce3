"""The reproduction of §5 of "Thinking Like Transformers" at CPU scale: the paper's seven tasks,
trained at the size the analysis gives, one head fewer, one layer fewer, one layer fewer with
twice the heads and width, and at the analysed size with attention supervision.

    python bench/paper_s5.py                      # the table of docs/training.md
    python bench/paper_s5.py --tasks reverse --seeds 1 --epochs 5     # a quick look
    python bench/paper_s5.py --supervised-only --attention-loss ce     # the other loss

Every run's files go under --out (default runs/paper_s5/TASK/...), each task's summary.json
beside them; the measured table is printed as markdown and written to --out/table.md, and
the attention pictures of the supervised runs (seed 0) to --pictures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import string
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from rasp.train import make_dataset  # noqa: E402
from rasp.train.ablations import run_folder, summary_row, variants  # noqa: E402
from rasp.train.loop import TrainConfig, load_run, train  # noqa: E402
from rasp.train.plots import plot_attention  # noqa: E402

PAPER = ROOT / "examples" / "paper_examples.rasp"
LETTERS = string.ascii_lowercase + string.ascii_uppercase
SYMBOLS = LETTERS + string.digits + string.punctuation + "αβγδεζ"  # 100, as the paper's

# task: (s-op, alphabet, BOS, sampler, epochs, the input drawn). Sort and most-frequent use 52
# symbols: with 8, one layer sorts by reading the histogram (docs/training.md).
TASKS = {
    "reverse": ("reverse", "abcdefgh", None, "uniform", 20, "abcdefgh"),
    "hist": ("hist_bos", "abcdefgh", "§", "uniform", 20, "§abacbcd"),
    "double_hist": ("hist2_bos", "abcdefgh", "§", "uniform", 20, "§aabbbcdd"),
    "sort": ("sort_bos", LETTERS, "§", "uniform", 40, "§dbKadcE"),
    "most_freq": ("sort_by_most_freq", LETTERS, "§", "uniform", 40, "§abbcbcd"),
    "dyck1": ("dyck1_ptf", "()a", None, "brackets", 20, "(()a)(()"),
    "dyck2": ("dyck2_ptf", "(){}a", None, "brackets", 20, "({}a)({)"),
}


def role(row: dict, analysed: tuple[int, int]) -> str:
    layers, heads = analysed
    if row["supervised"]:
        return f"analysed, supervised ({row.get('attention_loss') or 'mse'})"
    if (row["layers"], row["heads"]) == analysed:
        return "analysed"
    if row["layers"] == layers:
        return "one head fewer"
    return "one layer fewer" if row["heads"] == heads else "one layer fewer, 2x heads and d"


VARIANTS = ("analysed", "supervised", "fewer-heads", "fewer-layers", "fewer-layers-wide")


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
    epochs = len((folder / "history.jsonl").read_text().splitlines())
    return {"layers": config["layers"], "heads": config["heads"],
            "d_model": config["d_model"], "supervised": config["supervise"],
            "seed": config["seed"],
            "attention_loss": config["attention_loss"] if config["supervise"] else None,
            "test": {k: v for k, v in metrics["test"].items() if k != "by_length"},
            "attention": [{k: a[k] for k in ("layer", "head", "selector", "mass", "argmax",
                                             "tv")} for a in metrics["attention"]],
            "epochs": epochs}


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


def table(results: dict[str, tuple[tuple[int, int], list[dict]]]) -> str:
    lines = ["| task | model (L, H, d) | run | seeds | token accuracy | sequence accuracy | "
             "attention: mass / argmax / tv per head |",
             "| --- | --- | --- | ---: | --- | --- | --- |"]
    for task, (analysed, rows) in results.items():
        groups: dict[tuple, list[dict]] = {}
        for row in rows:
            groups.setdefault((row["layers"], row["heads"], row["d_model"], row["supervised"],
                               row.get("attention_loss")), []).append(row)
        order = ["analysed", "analysed, supervised (mse)", "analysed, supervised (ce)",
                 "one head fewer", "one layer fewer", "one layer fewer, 2x heads and d"]
        ranked = sorted(groups.items(), key=lambda g: order.index(role(g[1][0], analysed)))
        for (layers, heads, d, *_), members in ranked:
            kind = role(members[0], analysed)
            agreement = "-"
            if kind.startswith("analysed"):
                per_head = []
                for i, head in enumerate(members[0]["attention"]):
                    values = [m["attention"][i] for m in members]
                    per_head.append(f"L{head['layer']}H{head['head']} "
                                    + " / ".join(f"{statistics.mean(v[k] for v in values):.2f}"
                                                 for k in ("mass", "argmax", "tv")))
                agreement = "; ".join(per_head)
            lines.append(
                f"| {task} | {layers}, {heads}, {d} | {kind} | {len(members)} | "
                f"{spread([m['test']['token_accuracy'] for m in members])} | "
                f"{spread([m['test']['sequence_accuracy'] for m in members])} | {agreement} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="instead of each task's own")
    parser.add_argument("--train", type=int, default=10_000)
    parser.add_argument("--lengths", default="1:16")
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
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "paper_s5")
    parser.add_argument("--pictures", type=Path, default=ROOT / "docs" / "images" / "training")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the machines are shared; one thread was fastest there
    low, high = map(int, args.lengths.split(":"))
    if args.summarise:
        for task in args.tasks:
            folders = sorted(f for f in (args.out / task).glob("L*")
                             if (f / "metrics.json").is_file())
            plain = [row_of_folder(f) for f in folders if not f.name.endswith("-ce")]
            # the analysed size first, as the sweep writes it
            plain.sort(key=lambda r: (-r["layers"], r["d_model"], -r["heads"],
                                      r["supervised"], r["seed"]))
            if plain:
                (args.out / task / "summary.json").write_text(json.dumps(plain, indent=1)
                                                              + "\n")
        (args.out / "table.md").write_text(table(collect(args.out)) + "\n")
        print(table(collect(args.out)))
        return 0
    if args.replot:
        for task in args.tasks:
            for folder in sorted((args.out / task).glob("*-sup-s0*")):
                suffix = "-ce" if folder.name.endswith("-ce") else ""
                plot_attention(load_run(folder), list(TASKS[task][5]),
                               args.pictures / f"{task}{suffix}.png")
        return 0
    for task in args.tasks:
        name, alphabet, bos, sampler, epochs, shown = TASKS[task]
        if args.alphabet_size:
            alphabet = SYMBOLS[:args.alphabet_size]
        data = make_dataset(PAPER, name, alphabet=alphabet, lengths=(low, high), bos=bos,
                            sampler=sampler, n_train=args.train, n_val=500, n_test=1000)
        base = TrainConfig(epochs=args.epochs or epochs, supervise=True, device=args.device,
                           d_model=args.d_model,
                           attention_loss=args.attention_loss).checked(data)
        rows = []
        analysed = (base.layers or 0, base.heads or 0)
        chosen = [c for c in variants(base) if variant_name(c, analysed) in args.variants]
        for config in [base] if args.supervised_only else chosen:
            for seed in range(args.seeds):
                each = dataclasses.replace(config, seed=seed)
                started = time.time()
                folder = args.out / task / (run_folder(each) + (
                    "-ce" if each.supervise and each.attention_loss == "ce" else ""))
                run = train(data, each, out=folder, quiet=True, force=True)  # a rerun replaces
                if each.supervise and seed == 0:
                    suffix = "" if each.attention_loss == "mse" else f"-{each.attention_loss}"
                    plot_attention(run, list(shown), args.pictures / f"{task}{suffix}.png")
                rows.append(summary_row(run) | {"seconds": round(time.time() - started, 1)})
                print(f"{task} {run_folder(each)}: token "
                      f"{rows[-1]['test']['token_accuracy']:.3f} sequence "
                      f"{rows[-1]['test']['sequence_accuracy']:.3f} "
                      f"({rows[-1]['seconds']} s, {rows[-1]['epochs']} epochs)", flush=True)
        summary = (f"summary-supervised-{args.attention_loss}.json" if args.supervised_only
                   else "summary.json")
        (args.out / task / summary).write_text(json.dumps(rows, indent=1) + "\n")
        (args.out / "table.md").write_text(table(collect(args.out)) + "\n")
    print(table(collect(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
