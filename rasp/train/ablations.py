"""The paper's ablations: the size the analysis gives, one head fewer, one layer fewer, and one
layer fewer with twice the heads and width (so that a drop is the missing layer's, not the
missing heads'); over several seeds, on the same data."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .data import Dataset
from .loop import Run, TrainConfig, train

__all__ = ["variants", "run_ablations", "table", "run_folder", "ATTENTION_KEYS"]

# what a sweep's summary keeps of each head's scores (metrics.json has the trivial heads' too)
ATTENTION_KEYS = ("layer", "head", "selector", "model_head", "supervised", "mass", "argmax",
                  "tv", "best_trivial", "tv_gain", "trivial_selector")


def variants(base: TrainConfig) -> list[TrainConfig]:
    """The configurations of a sweep, from a base filled in by TrainConfig.checked. Only the
    analysed size is supervised (when the base is): smaller models lack the heads to supervise."""
    assert base.layers is not None and base.heads is not None and base.ff is not None
    plain = dataclasses.replace(base, supervise=False)
    out = [plain]
    if base.supervise:
        out.append(base)
    if base.heads > 1:
        out.append(dataclasses.replace(plain, heads=base.heads - 1,
                                       d_model=base.d_model - base.d_model % (base.heads - 1)))
    if base.layers > 1:
        out.append(dataclasses.replace(plain, layers=base.layers - 1))
        out.append(dataclasses.replace(plain, layers=base.layers - 1, heads=2 * base.heads,
                                       d_model=2 * base.d_model, ff=2 * base.ff))
    return out


def run_folder(config: TrainConfig) -> str:
    return (f"L{config.layers}H{config.heads}-d{config.d_model}"
            f"{'-sup' if config.supervise else ''}-s{config.seed}")


def summary_row(run: Run) -> dict:
    c = run.config
    return {"folder": run_folder(c), "interrupted": run.interrupted,
            "layers": c.layers, "heads": c.heads, "d_model": c.d_model,
            "supervised": c.supervise, "seed": c.seed,
            "attention_loss": c.attention_loss if c.supervise else None,
            "test": {k: v for k, v in run.metrics["test"].items() if k != "by_length"},
            "attention": [{k: a[k] for k in ATTENTION_KEYS} for a in run.metrics["attention"]],
            "epochs": len(run.history), "checkpoint": run.metrics["checkpoint"]}


def run_ablations(dataset: Dataset, base: TrainConfig, seeds: list[int], out: Path | None,
                  quiet: bool = False, stream: Any = None,
                  after: Callable[[Run, Path | None], None] | None = None,
                  force: bool = False) -> dict:
    """Train every variant with every seed; `after(run, folder)` sees each finished run.
    `force`: replace the files of earlier runs in the runs' folders (see train). Returns the
    summary: {"complete", "runs": a summary_row per run, "missing": the folders of the runs
    that Ctrl-C left out}; an interrupted run (kept at its best checkpoint) ends the sweep."""
    base = base.checked(dataset)
    planned = [dataclasses.replace(config, seed=seed)
               for config in variants(base) for seed in seeds]
    rows: list[dict] = []
    for each in planned:
        folder = out / run_folder(each) if out is not None else None
        try:
            run = train(dataset, each, out=folder, quiet=quiet, stream=stream, force=force)
            if after is not None:
                after(run, folder)
        except KeyboardInterrupt:  # outside the training loop (saving, plotting): missing
            break
        rows.append(summary_row(run))
        if run.interrupted:
            break
    missing = [run_folder(each) for each in planned[len(rows):]]
    complete = not missing and not any(row["interrupted"] for row in rows)
    return {"complete": complete, "runs": rows, "missing": missing}


def table(rows: list[dict]) -> str:
    """One line per configuration: the mean over seeds (and the best), as the paper's
    PrintSummary."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["layers"], row["heads"], row["d_model"], row["supervised"]),
                          []).append(row)
    lines = ["layers heads d_model supervised seeds  token acc (mean/best)  "
             "seq acc (mean/best)  tv gain"]
    for (layers, heads, d, supervised), members in groups.items():
        token = [r["test"]["token_accuracy"] for r in members]
        seq = [r["test"]["sequence_accuracy"] for r in members]
        # mean over heads and seeds of the gain in tv over the best trivial head; only at
        # the analysed size (the first row's): a smaller model's heads do other work
        gains = [a["tv_gain"] for r in members for a in r["attention"]]
        analysed = (layers, heads) == (rows[0]["layers"], rows[0]["heads"])
        gain = f"{sum(gains) / len(gains):.2f}" if gains and analysed else "-"
        lines.append(f"{layers:>6} {heads:>5} {d:>7} {'yes' if supervised else 'no':>10} "
                     f"{len(members):>5}  {sum(token) / len(token):.3f} / {max(token):.3f}"
                     f"          {sum(seq) / len(seq):.3f} / {max(seq):.3f}        {gain}")
    return "\n".join(lines)
