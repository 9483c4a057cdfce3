"""How well a model follows the program: output accuracy, and how close each head's attention
is to its selector. numpy only, accumulated over groups of inputs of one length.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Accuracy", "Agreement", "normalised"]


def normalised(selection: np.ndarray) -> np.ndarray:
    """Rows of a selection matrix scaled to sum 1: what RASP's mean aggregate reads (one-hot
    for a copy, uniform for an average). Rows that select nothing stay 0."""
    sel = selection.astype(np.float64)
    width = sel.sum(axis=-1, keepdims=True)
    return np.divide(sel, width, out=np.zeros_like(sel), where=width > 0)


class Accuracy:
    """Token accuracy (over scored positions), whole-sequence accuracy, both by input length
    (without the BOS)."""

    def __init__(self, first_scored: int = 0):
        self.first = first_scored
        self.tokens = self.sequences = self.token_hits = self.sequence_hits = 0
        self.lengths: dict[int, list[int]] = {}  # length: [token hits, tokens, seqs ok, seqs]

    def add(self, predicted: np.ndarray, expected: np.ndarray) -> None:
        """predicted, expected: (B, n) class codes; -1 in `expected` is never matched."""
        hits = (predicted == expected)[:, self.first:]
        if hits.shape[1] == 0:
            return
        row = self.lengths.setdefault(hits.shape[1], [0, 0, 0, 0])  # the BOS not counted
        whole = hits.all(axis=1)
        for i, v in enumerate((hits.sum(), hits.size, whole.sum(), len(whole))):
            row[i] += int(v)
        self.token_hits += int(hits.sum())
        self.tokens += hits.size
        self.sequence_hits += int(whole.sum())
        self.sequences += len(whole)

    def within(self, low: int, high: int) -> dict:
        """Token and sequence accuracy over the input lengths low..high (inclusive), and how
        many inputs those are: the accuracy at the training lengths, or beyond them."""
        rows = [r for n, r in self.lengths.items() if low <= n <= high]
        total = [sum(column) for column in zip(*rows)] or [0, 0, 0, 0]
        return {"token_accuracy": total[0] / max(total[1], 1),
                "sequence_accuracy": total[2] / max(total[3], 1), "inputs": total[3]}

    def result(self) -> dict:
        return {"token_accuracy": self.token_hits / max(self.tokens, 1),
                "sequence_accuracy": self.sequence_hits / max(self.sequences, 1),
                "by_length": {str(n): {"token_accuracy": r[0] / max(r[1], 1),
                                       "sequence_accuracy": r[2] / max(r[3], 1),
                                       "inputs": r[3]}
                              for n, r in sorted(self.lengths.items())}}


class Agreement:
    """A head's attention against its selector, over the query rows that select something:
    `mass`, the attention on the selected keys; `argmax`, the share of rows whose top key is
    selected; `tv`, the total variation to the row-normalised selector (0 is a perfect match;
    it tells a uniform head from one that picks a key, where mass alone cannot)."""

    def __init__(self) -> None:
        self.rows = self.empty = 0
        self.mass = self.argmax = self.tv = 0.0

    def add(self, attention: np.ndarray, selection: np.ndarray) -> None:
        """attention: (..., n, n) rows summing to 1; selection: the same shape, bool."""
        att = attention.reshape(-1, attention.shape[-1]).astype(np.float64)
        sel = selection.reshape(-1, selection.shape[-1]).astype(bool)
        live = sel.any(axis=1)
        self.empty += int((~live).sum())
        att, sel = att[live], sel[live]
        if not len(att):
            return
        self.rows += len(att)
        self.mass += float((att * sel).sum())
        self.argmax += float(sel[np.arange(len(att)), att.argmax(axis=1)].sum())
        self.tv += float(0.5 * np.abs(att - normalised(sel)).sum())

    def result(self) -> dict:
        n = max(self.rows, 1)
        return {"mass": self.mass / n, "argmax": self.argmax / n, "tv": self.tv / n,
                "rows": self.rows, "empty_rows": self.empty}
