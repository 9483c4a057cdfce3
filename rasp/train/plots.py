"""Pictures of a run: each head's learned attention next to the selector it should follow,
on one input (the figure of the paper's §5), and the loss and accuracy curves."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..files import atomic

if TYPE_CHECKING:
    from .loop import Run

__all__ = ["panels", "plot_attention", "plot_curves"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _matrix(ax: Any, values: np.ndarray, tokens: list, title: str) -> Any:
    # a square-root scale: a uniform row over 16 keys (1/16) shows a quarter of the colour
    # range, where a linear scale leaves it near the colour of 0
    from matplotlib.colors import PowerNorm

    image = ax.imshow(values, cmap="viridis", norm=PowerNorm(0.5, vmin=0.0, vmax=1.0))
    labels = [str(t) for t in tokens]
    ax.set_xticks(range(len(tokens)), labels, fontsize=7)
    ax.set_yticks(range(len(tokens)), labels, fontsize=7)
    ax.set_xlabel("key", fontsize=8)
    ax.set_ylabel("query", fontsize=8)
    lines = textwrap.wrap(title, 34, break_long_words=False, break_on_hyphens=False)
    ax.set_title("\n".join(lines[:3]) + (" ..." if len(lines) > 3 else ""), fontsize=8)
    return image


def _caption(key: str, selector: str, source: str) -> str:
    """A program head's title: its selector's name, or for a selector a helper made (the
    name is then the helpers' path, `_hist2_bos/_bos_width/with_bos (line 55)`) the line
    of the program that made it, as written there."""
    line = re.search(r" \(line (\d+)\)$", selector)
    lines = source.splitlines()
    if line is None or not 0 < int(line[1]) <= len(lines):
        return f"{key} program: {selector}"
    return f"{key} program, line {line[1]}: {lines[int(line[1]) - 1].strip()}"


def _spaced(values: list) -> str:
    return " ".join(str(v) for v in values)


def _matched(run: Run) -> dict[tuple[int, int], int]:
    """(layer, program head slot) -> the model head (0-based) that answers for it."""
    return {(a["layer"], a["head"] - 1): a["model_head"] - 1
            for a in run.metrics.get("attention", [])}


def panels(run: Run, tokens: list, beside: Run | None = None,
           beside_name: str = "unsupervised") -> list[list[tuple[np.ndarray, str]]]:
    """What plot_attention draws, per layer: (matrix, title) panels."""
    from .metrics import normalised

    attentions = run.predict(tokens)[1]
    other = beside.predict(tokens)[1] if beside is not None else None
    selections = run.dataset.program.selections([tokens], run.dataset.causal)[:, 0]
    matched, matched_beside = _matched(run), _matched(beside) if beside else {}
    supervised = {(layer + 1, slot) for _, layer, slot in run.supervised}
    rows: list[list[tuple[np.ndarray, str]]] = []
    for layer, attention in enumerate(attentions, 1):
        row, used = [], set()
        for k, spec in enumerate(run.dataset.heads):
            slot = matched.get((spec.layer, spec.head))
            if spec.layer != layer or slot is None:
                continue
            used.add(slot)
            mark = "supervised" if (layer, slot) in supervised else "model"
            row += [(normalised(selections[k]),
                     _caption(spec.key, spec.selector, run.dataset.program.source)),
                    (attention[slot], f"L{layer}H{slot + 1} {mark}")]
            twin = matched_beside.get((spec.layer, spec.head))
            if other is not None and twin is not None:
                row.append((other[layer - 1][twin], f"L{layer}H{twin + 1} {beside_name}"))
        row += [(attention[slot], f"L{layer}H{slot + 1} model (no program head)")
                for slot in range(attention.shape[0]) if slot not in used]
        rows.append(row)
    return rows


def plot_attention(run: Run, tokens: list, path: Path, beside: Run | None = None,
                   beside_name: str = "unsupervised") -> Path:
    """One row per layer: for each program head, its selector (row-normalised, as a mean
    aggregate reads it) and the model head matched with it on `tokens` (marked when
    supervised), and with `beside` that run's head for the same program head; a model head
    no program head uses shows alone. Under the title, the program's output and the
    model's, the positions where they differ marked."""
    plt = _pyplot()
    output = run.predict(tokens)[0]
    expected = run.dataset.program.outputs([tokens], run.dataset.causal)[0]
    first = run.dataset.first_scored
    rows = panels(run, tokens, beside, beside_name)
    columns = max(len(row) for row in rows)
    size = 1.3 + 0.28 * len(tokens)
    figure, axes = plt.subplots(len(rows), columns, figsize=(columns * size, len(rows) * size
                                                             + 0.8), squeeze=False)
    image = None
    for r, row in enumerate(rows):
        for c in range(columns):
            if c < len(row):
                image = _matrix(axes[r][c], row[c][0], tokens, row[c][1])
            else:
                axes[r][c].set_visible(False)
    wrong = [i for i in range(first, len(tokens)) if output[i] != expected[i]]
    figure.suptitle(f"{run.dataset.program.name} on {' '.join(map(str, tokens))}\n"
                    f"program: {_spaced(expected[first:])}\nmodel:   {_spaced(output[first:])}"
                    + (f"   (wrong at position{'s' if len(wrong) > 1 else ''} "
                       f"{', '.join(map(str, wrong))})" if wrong else "   (all right)"),
                    fontsize=9, family="monospace")
    if image is not None:
        bar = figure.colorbar(image, ax=axes, shrink=0.6)
        bar.set_label("attention (square-root scale)", fontsize=8)
    return _save(plt, figure, path)


def _save(plt: Any, figure: Any, path: Path) -> Path:
    """The figure as a PNG at `path`, written atomically (no half picture is ever left)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic(path, "wb") as f:
            figure.savefig(f, format="png", dpi=110)
    finally:
        plt.close(figure)
    return path


def plot_curves(history: list[dict], path: Path) -> Path:
    """Loss (train, validation) and accuracy per epoch."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in history]
    figure, (loss, accuracy) = plt.subplots(1, 2, figsize=(9, 3.5))
    loss.plot(epochs, [r["train_loss"] for r in history], label="train")
    loss.plot(epochs, [r["val_loss"] for r in history], label="validation")
    if any(r["train_attention_loss"] for r in history):
        loss.plot(epochs, [r["train_attention_loss"] for r in history], label="attention (train)")
    loss.set_yscale("log")
    loss.set_xlabel("epoch")
    loss.set_title("loss")
    loss.legend(fontsize=8)
    accuracy.plot(epochs, [r["train_token_accuracy"] for r in history], label="train token")
    accuracy.plot(epochs, [r["val_token_accuracy"] for r in history], label="validation token")
    accuracy.plot(epochs, [r["val_sequence_accuracy"] for r in history],
                  label="validation sequence")
    accuracy.set_ylim(0, 1.02)
    accuracy.set_xlabel("epoch")
    accuracy.set_title("accuracy")
    accuracy.legend(fontsize=8)
    figure.tight_layout()
    return _save(plt, figure, path)
