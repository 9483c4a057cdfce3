"""Pictures of a run: each head's learned attention next to the selector it should follow,
on one input (the figure of the paper's §5), and the loss and accuracy curves."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..files import atomic

if TYPE_CHECKING:
    from .loop import Run

__all__ = ["plot_attention", "plot_curves"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _matrix(ax: Any, values: np.ndarray, tokens: list, title: str) -> Any:
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0)
    labels = [str(t) for t in tokens]
    ax.set_xticks(range(len(tokens)), labels, fontsize=7)
    ax.set_yticks(range(len(tokens)), labels, fontsize=7)
    ax.set_xlabel("key", fontsize=8)
    ax.set_ylabel("query", fontsize=8)
    ax.set_title(textwrap.fill(title, 30), fontsize=8)
    return image


def plot_attention(run: Run, tokens: list, path: Path) -> Path:
    """One row per layer; per head, the program's selector (row-normalised, as a mean
    aggregate reads it) and the model's attention on `tokens`."""
    from .metrics import normalised

    plt = _pyplot()
    output, attentions = run.predict(tokens)
    if run.dataset.bos is not None:  # the model's guess at the BOS is not an output
        output[0] = run.dataset.bos
    selections = run.dataset.program.selections([tokens])[:, 0]
    assigned: dict[tuple[int, int], int] = {}  # (layer, model head) -> program head
    keys = {(h.layer, h.head): k for k, h in enumerate(run.dataset.heads)}
    for entry in run.metrics.get("attention", []):
        where = (entry["layer"], entry["model_head"] - 1)
        assigned.setdefault(where, keys[(entry["layer"], entry["head"] - 1)])
    layers, heads = len(attentions), attentions[0].shape[0]
    size = 1.2 + 0.28 * len(tokens)
    figure, axes = plt.subplots(layers, 2 * heads, figsize=(2 * heads * size, layers * size),
                                squeeze=False)
    image = None
    for layer in range(layers):
        for slot in range(heads):
            left, right = axes[layer][2 * slot], axes[layer][2 * slot + 1]
            k = assigned.get((layer + 1, slot))
            if k is None:
                left.axis("off")
                left.set_title(f"L{layer + 1}H{slot + 1}: no selector", fontsize=9)
            else:
                spec = run.dataset.heads[k]
                _matrix(left, normalised(selections[k]), tokens,
                        f"{spec.key} selector: {spec.selector}")
            image = _matrix(right, attentions[layer][slot], tokens,
                            f"L{layer + 1}H{slot + 1} learned")
    figure.suptitle(f"{run.dataset.program.name} on {''.join(map(str, tokens))!r}: "
                    f"output {''.join(map(str, output))!r}", fontsize=10)
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.6)
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
