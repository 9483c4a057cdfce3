"""Length generalisation at CPU scale: encoders and decoders trained on short inputs and tested
on longer ones, for two programs with a short causal solution and two whose value at a
position depends on later ones (issue 22 item 5; the table of docs/training.md).

    python bench/length_generalisation.py                    # the table, 2 seeds
    python bench/length_generalisation.py --seeds 1 --epochs 3 --train 300     # a quick look

Each run trains at --train-lengths and is tested on distinct inputs at --test-lengths. The
table gives token and whole-sequence accuracy at the training lengths and beyond them, next
to the constant baseline (the commonest training output at every position), as markdown on
stdout and in --out/table.md; every run's metrics go to --out/runs.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from rasp.errors import RaspError  # noqa: E402
from rasp.files import write_atomic  # noqa: E402
from rasp.train import make_dataset  # noqa: E402
from rasp.train.data import Dataset  # noqa: E402
from rasp.train.loop import Run, train  # noqa: E402

EXAMPLES = ROOT / "examples"

# name: (file, s-op, whether a short causal program computes it, the models to train). No
# decoder is trained on shift_left or reverse: their value at position i reads later
# positions, so no decoder computes them, and `rasp train --causal` refuses them. shift_left
# is shift's mirror image, one head like it: for an encoder the two are equally hard, so
# between them only the direction differs.
TASKS = {
    "shift": (EXAMPLES / "shift.rasp", 'shift(tokens, 1, "_")', True, ("encoder", "decoder")),
    "shift_left": (EXAMPLES / "shift.rasp", 'shift_left(tokens, 1, "_")', False, ("encoder",)),
    "more_a_than_b": (EXAMPLES / "counting.rasp",
                      'fraction_so_far(tokens == "a") > fraction_so_far(tokens == "b")', True,
                      ("encoder", "decoder")),
    "reverse": (EXAMPLES / "paper_examples.rasp", "reverse", False, ("encoder",)),
}


def constant_baseline(data: Dataset) -> dict:
    """The accuracy of answering the commonest training output everywhere, beyond training."""
    counts = Counter(v for g in data.train.groups for row in g.y for v in row.tolist())
    guess = counts.most_common(1)[0][0]
    hits = tokens = whole = inputs = 0
    for g in data.test.groups:
        if g.length <= data.lengths[1]:
            continue
        right = g.y == guess
        hits, tokens = hits + int(right.sum()), tokens + right.size
        whole, inputs = whole + int(right.all(axis=1).sum()), inputs + len(right)
    return {"token_accuracy": hits / max(tokens, 1), "sequence_accuracy": whole / max(inputs, 1)}


def new_positions(run: Run, data: Dataset) -> dict:
    """Token accuracy at the positions no training input had (index >= the longest training
    length), on the longer test inputs. A decoder's outputs before those positions are its
    outputs on a prefix of training length (the mask), so this is where it is tested."""
    cut = data.lengths[1] + data.first_scored
    hits = tokens = 0
    run.model.eval()
    with torch.no_grad():
        for g in data.test.groups:
            if g.x.shape[1] > cut:
                logits, _ = run.model(torch.as_tensor(g.x))
                right = logits.argmax(-1).numpy()[:, cut:] == g.y[:, cut:]
                hits, tokens = hits + int(right.sum()), tokens + right.size
    return {"token_accuracy": hits / max(tokens, 1), "positions": tokens}


def run_task(name: str, args: argparse.Namespace) -> list[dict]:
    file, sop, short_causal, models = TASKS[name]
    rows = []
    for model in models:
        for seed in range(args.seed, args.seed + args.seeds):
            started = time.time()
            try:
                data = make_dataset(file, sop, alphabet=args.vocab, lengths=args.train_lengths,
                                    test_lengths=args.test_lengths, n_train=args.train,
                                    n_val=args.val, n_test=args.test, seed=seed,
                                    causal=model == "decoder")
            except RaspError as e:
                rows.append({"task": name, "model": model, "seed": seed, "refused": e.message})
                continue
            run = train(data, epochs=args.epochs, seed=seed, d_model=args.d_model, quiet=True)
            test = run.metrics["test"]
            rows.append({"task": name, "sop": sop, "short_causal": short_causal, "model": model,
                         "seed": seed, "layers": run.config.layers, "heads": run.config.heads,
                         "epochs": len(run.history), "seconds": round(time.time() - started),
                         "trained": test["trained_lengths"], "longer": test["longer"],
                         "new_positions": new_positions(run, data),
                         "baseline": constant_baseline(data), "by_length": test["by_length"]})
            print(f"{name} {model} seed {seed}: trained {test['trained_lengths']}, longer "
                  f"{test['longer']} ({rows[-1]['seconds']} s)", file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict], args: argparse.Namespace) -> str:
    """One line per task and model: means over seeds (and the seeds' range)."""
    low, high = args.train_lengths
    lines = [f"| task | short causal program | model | layers x heads | token acc, lengths "
             f"{low}-{high} | token acc, {high + 1}-{args.test_lengths[1]} | sequence acc, "
             f"{high + 1}-{args.test_lengths[1]} | token acc at lengths "
             f"{' / '.join(map(str, _shown(args)))} | "
             f"token acc at positions {high + 1}-{args.test_lengths[1]} | constant "
             "baseline, token / sequence | epochs | seeds |", "| --- " * 12 + "|"]
    for key in dict.fromkeys((r["task"], r["model"]) for r in rows):
        group = [r for r in rows if (r["task"], r["model"]) == key and "refused" not in r]
        if not group:
            lines.append(f"| {key[0]} | | {key[1]} | refused | | | | | | | | |")
            continue
        first = group[0]
        lines.append(
            f"| {key[0]} | {'yes' if first['short_causal'] else 'no'} | {key[1]} | "
            f"{first['layers']} x {first['heads']} | {_spread(group, 'trained', 'token')} | "
            f"{_spread(group, 'longer', 'token')} | {_spread(group, 'longer', 'sequence')} | "
            f"{' / '.join(_at(group, n) for n in _shown(args))} | "
            f"{_spread(group, 'new_positions', 'token')} | "
            f"{_mean(group, 'token'):.2f} / {_mean(group, 'sequence'):.2f} | "
            f"{'/'.join(str(r['epochs']) for r in group)} | {len(group)} |")
    return "\n".join(lines)


def _shown(args: argparse.Namespace) -> list[int]:
    """The lengths whose accuracy the table shows: the first beyond training, the middle of
    those, the longest."""
    first, last = args.train_lengths[1] + 1, args.test_lengths[1]
    return sorted({first, (first + last) // 2, last})


def _at(group: list[dict], n: int) -> str:
    """The mean token accuracy at length n, over the seeds that tested that length."""
    values = [r["by_length"][str(n)]["token_accuracy"] for r in group
              if str(n) in r["by_length"]]
    return f"{statistics.mean(values):.2f}" if values else "-"


def _mean(group: list[dict], kind: str) -> float:
    """The constant baseline, over the seeds' data."""
    return statistics.mean(r["baseline"][f"{kind}_accuracy"] for r in group)


def _spread(group: list[dict], where: str, kind: str) -> str:
    values = [r[where][f"{kind}_accuracy"] for r in group]
    mean = statistics.mean(values)
    return f"{mean:.3f}" if len(values) == 1 else (f"{mean:.3f} ({min(values):.3f}-"
                                                   f"{max(values):.3f})")


def _lengths(text: str) -> tuple[int, int]:
    low, _, high = text.partition(":")
    return int(low), int(high or low)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--vocab", default="abc")
    parser.add_argument("--train-lengths", type=_lengths, default=(1, 8))
    parser.add_argument("--test-lengths", type=_lengths, default=(1, 16))
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--val", type=int, default=100)
    parser.add_argument("--test", type=int, default=800)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/length_generalisation"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [row for name in args.tasks for row in run_task(name, args)]
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / "runs.json", json.dumps(rows, indent=1) + "\n")
    text = table(rows, args)
    write_atomic(args.out / "table.md", text + "\n")
    print(text)


if __name__ == "__main__":
    main()
