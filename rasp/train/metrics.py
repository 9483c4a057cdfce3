"""How well a model follows the program: output accuracy, and how close each head's attention
is to its selector, against what trivial heads score on the same rows. numpy only,
accumulated over groups of inputs of one length.

A trivial head attends by position alone, the same on every input: all on key 0 (the BOS, or
the first token), uniform over the keys it can see, on the previous key, on the query's own
key. Almost every selector of the paper's programs includes key 0, so the position-0 head
already scores `mass` 1 there: a head's scores mean something only beside theirs. `tv_gain`
is the corrected score: the total variation of the best trivial head minus the head's own
(0 for a head no better than a trivial one, the best trivial head's tv for a perfect match,
negative for a worse one).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Accuracy", "Agreement", "TRIVIAL_HEADS", "assign", "corrected", "normalised",
           "trivial_attention"]

TRIVIAL_HEADS = ("first", "uniform", "previous", "diagonal")


def normalised(selection: np.ndarray) -> np.ndarray:
    """Rows of a selection matrix scaled to sum 1: what RASP's mean aggregate reads (one-hot
    for a copy, uniform for an average). Rows that select nothing stay 0."""
    sel = selection.astype(np.float64)
    width = sel.sum(axis=-1, keepdims=True)
    return np.divide(sel, width, out=np.zeros_like(sel), where=width > 0)


def trivial_attention(kind: str, n: int, causal: bool = False) -> np.ndarray:
    """A trivial head's attention on inputs of length n, (n, n): `first` all on key 0,
    `uniform` even over the keys the query can see (all of them; in a decoder, those at or
    before it), `previous` on the key before the query (query 0: key 0), `diagonal` on the
    query's own key."""
    if kind == "uniform":
        visible = np.tril(np.ones((n, n))) if causal else np.ones((n, n))
        return normalised(visible.astype(bool))
    key = {"first": np.zeros(n, dtype=int), "previous": np.maximum(np.arange(n) - 1, 0),
           "diagonal": np.arange(n)}[kind]
    out = np.zeros((n, n))
    out[np.arange(n), key] = 1.0
    return out


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
    selected, a row whose top value is shared by several keys counting the share of those
    keys that are selected (a uniform row over n keys, one selected, counts 1/n: no tie is
    broken toward key 0); `tv`, the total variation to the row-normalised selector (0 is a
    perfect match; it tells a uniform head from one that picks a key, where mass cannot)."""

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
        top = att == att.max(axis=1, keepdims=True)
        self.argmax += float(((top & sel).sum(axis=1) / top.sum(axis=1)).sum())
        self.tv += float(0.5 * np.abs(att - normalised(sel)).sum())

    def result(self) -> dict:
        n = max(self.rows, 1)
        return {"mass": self.mass / n, "argmax": self.argmax / n, "tv": self.tv / n,
                "rows": self.rows, "empty_rows": self.empty}


def corrected(head: dict, trivial: dict[str, dict]) -> dict:
    """A head's scores (Agreement.result) with the trivial heads' on the same rows: the
    best trivial head (the lowest tv), `tv_gain`, its tv minus the head's, and
    `trivial_selector`, whether the selector is itself a trivial head on these rows (its
    tv 0: then no head can gain, and matching the selector shows nothing of the input)."""
    best = min(trivial, key=lambda kind: trivial[kind]["tv"])
    scores = ("mass", "argmax", "tv")
    return head | {"trivial": {kind: {s: r[s] for s in scores} for kind, r in trivial.items()},
                   "best_trivial": best, "tv_gain": trivial[best]["tv"] - head["tv"],
                   "trivial_selector": trivial[best]["tv"] < 1e-9}


def assign(cost: np.ndarray) -> list[int | None]:
    """A one-to-one assignment of rows (program heads) to columns (model heads) with the
    least total cost: for each row its column, or None where there are more rows than
    columns."""
    if cost.shape[0] <= cost.shape[1]:
        return list(_hungarian(cost))
    out: list[int | None] = [None] * cost.shape[0]
    for column, row in enumerate(_hungarian(cost.T)):
        out[row] = column
    return out


def _hungarian(cost: np.ndarray) -> list[int]:
    """The Hungarian method with potentials, for rows <= columns: each row's column."""
    rows, columns = cost.shape
    u, v = np.zeros(rows + 1), np.zeros(columns + 1)  # potentials; index 0 is a sentinel
    owner = np.zeros(columns + 1, dtype=int)  # owner[j]: the row (1-based) column j serves
    for row in range(1, rows + 1):
        owner[0], j0 = row, 0
        slack, via = np.full(columns + 1, np.inf), np.zeros(columns + 1, dtype=int)
        used = np.zeros(columns + 1, dtype=bool)
        while owner[j0]:  # grow alternating paths until one reaches a free column
            used[j0] = True
            i0 = owner[j0]
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            better = ~used[1:] & (reduced < slack[1:])
            slack[1:][better], via[1:][better] = reduced[better], j0
            free = np.flatnonzero(~used[1:]) + 1
            j1 = free[np.argmin(slack[free])]
            delta = slack[j1]
            u[owner[used]] += delta
            v[used] -= delta
            slack[~used] -= delta
            j0 = j1
        while j0:  # flip the path: each column on it passes to the row before
            j1 = via[j0]
            owner[j0] = owner[j1]
            j0 = j1
    out = [0] * rows
    for j in range(1, columns + 1):
        if owner[j]:
            out[owner[j] - 1] = j - 1
    return out
