"""The compiled model against the interpreter, input by input.

For each length 1..max_len: every input when there are few (at most `exhaustive` of them),
otherwise the structured inputs that reach the extremes (each token repeated, sorted,
reversed, alternating pairs, each token once then repeated) and `sample` random ones. Inputs
on which the interpreter raises are counted apart: the model owes no answer there.

A causal model is checked against the causal interpreter, and for the prefix property: its
values on the first i + 1 tokens of an input are its values on those tokens alone.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import RaspError
from .graph import SOp, evaluate, input_array
from .model import Model
from .valuesets import is_number, key

RELATIVE = 1e-6  # numerical outputs: |model - interpreter| <= RELATIVE * max(|interpreter|, 1e-6)
RANDOM = 16  # random inputs per length, besides the structured ones, unless told


@dataclass
class Verification:
    checked: int = 0
    agreed: int = 0
    raised: int = 0  # inputs on which the interpreter raises
    lengths: dict[int, list[int]] = field(default_factory=dict)  # n -> [checked, agreed]
    mismatches: list[tuple[list, list, list]] = field(default_factory=list)  # a few
    # a causal model: inputs whose every prefix was run alone, and those that agreed
    prefixes: list[int] | None = None  # [checked, agreed]

    @property
    def prefixes_ok(self) -> bool:
        return self.prefixes is None or self.prefixes[0] == self.prefixes[1]

    @property
    def ok(self) -> bool:
        return self.checked > 0 and self.agreed == self.checked

    def report(self) -> str:
        if not self.checked:
            return "verification: no input checked (the interpreter raises on all)"
        pct = 100.0 * self.agreed / self.checked
        text = (f"verification: {self.agreed:,}/{self.checked:,} inputs equal the interpreter "
                f"({pct:.2f} %), lengths 1..{max(self.lengths)}")
        if self.raised:
            text += f"; {self.raised:,} inputs skipped (the interpreter raises on them)"
        for tokens, want, got in self.mismatches[:3]:
            text += f"\n  mismatch on {tokens!r}: interpreter {want!r}, model {got!r}"
        if self.prefixes is not None:
            checked, agreed = self.prefixes
            text += (f"\nprefix check: on {agreed:,}/{checked:,} inputs the model's values at "
                     f"positions 0..i are its values on the first i + 1 tokens alone")
        return text


def same(a: Any, b: Any, numerical: bool) -> bool:
    """Whether the model's value `a` is the interpreter's `b`: numbers by value (a copied 3
    is an averaged 3.0), others by type and value."""
    if numerical:
        return is_number(b) and abs(a - b) <= RELATIVE * max(abs(b), 1e-6)
    if is_number(a) and is_number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def inputs_of_length(vocab: Sequence[Any], n: int, sample: int | None, exhaustive: int,
                     rng: random.Random) -> list[list]:
    vocab = list(vocab)
    if sample is None and len(vocab) ** n <= exhaustive:
        return [list(t) for t in itertools.product(vocab, repeat=n)]
    found: dict[tuple, list] = {}

    def add(items: list) -> None:
        found.setdefault(tuple(key(t) for t in items), items)

    order = sorted(vocab, key=_order)
    for t in vocab:
        add([t] * n)
    for a, b in itertools.combinations(vocab, 2):
        add([a if i % 2 == 0 else b for i in range(n)])
        add([b if i % 2 == 0 else a for i in range(n)])
    for _ in range(4):
        chosen = sorted((rng.choice(vocab) for _ in range(n)), key=_order)
        add(chosen)
        add(chosen[::-1])
    add([order[min(i, len(order) - 1)] for i in range(n)])  # each token once, then the last
    for _ in range(sample if sample is not None else RANDOM):
        add([rng.choice(vocab) for _ in range(n)])
    return list(found.values())


def _order(t: Any) -> tuple:
    return (isinstance(t, str), t if not isinstance(t, str) else 0, str(t))


def verify(model: Model, target: SOp, sample: int | None = None, exhaustive: int = 256,
           seed: int = 0, lengths: Sequence[int] | None = None,
           compact: bool = True, dtype: str = "float64") -> Verification:
    """Check the model against the interpreter (the graph's own evaluation) on every length
    (or `lengths`). `compact` runs the sparse forward pass (sparse.py: the same sums without
    their zero terms, faster); False runs the reference one. `dtype`
    "float32" runs it in float32: whether the model stays exact where users load it so."""
    rng = random.Random(seed)
    numerical = model.config["output"]["kind"] == "numerical"
    result = Verification()
    for n in lengths or range(1, model.max_len + 1):
        batch = inputs_of_length(model.vocab, n, sample, exhaustive, rng)
        wanted = _interpreter(target, batch, model.causal)
        kept = [(t, w) for t, w in zip(batch, wanted) if w is not None]
        result.raised += len(batch) - len(kept)
        got = _model(model, [t for t, _ in kept], compact, dtype)
        agreed = 0
        for (tokens, want), have in zip(kept, got):
            if all(same(a, b, numerical) for a, b in zip(have, want)):
                agreed += 1
            elif len(result.mismatches) < 10:
                result.mismatches.append((tokens, want, have))
        result.lengths[n] = [len(kept), agreed]
        result.checked += len(kept)
        result.agreed += agreed
        if model.causal and n == max(result.lengths):
            result.prefixes = prefix_check(model, [t for t, _ in kept][:PREFIX_INPUTS],
                                           compact, dtype)
    return result


PREFIX_INPUTS = 64  # inputs of the longest length checked whose every prefix is run alone


def prefix_check(model: Model, batch: list[list], compact: bool = True,
                 dtype: str = "float64") -> list[int]:
    """[checked, agreed]: inputs `x` (of one length) on which model(x)[:i+1] equals
    model(x[:i+1]) at every i, as the causal mask promises."""
    whole = _model(model, batch, compact, dtype)
    agreed = [True] * len(batch)
    for i in range(1, len(batch[0]) if batch else 0):
        for j, row in enumerate(_model(model, [t[:i] for t in batch], compact, dtype)):
            agreed[j] = agreed[j] and row == whole[j][:i]
    return [len(batch), sum(agreed)]


def _interpreter(target: SOp, batch: list[list], causal: bool = False) -> list[list | None]:
    """The interpreter's values (None where it raises)."""
    try:
        out = evaluate(target, input_array(batch, batch=True), {}, causal=causal)
        return [list(row) for row in np.broadcast_to(out, (len(batch), len(batch[0]))).tolist()]
    except RaspError:
        pass
    values: list[list | None] = []
    for tokens in batch:
        try:
            values.append(list(np.asarray(evaluate(target, input_array([tokens]), {},
                                                   causal=causal)).tolist()))
        except RaspError:
            values.append(None)
    return values


def _model(model: Model, batch: list[list], compact: bool, dtype: str) -> list[list]:
    return model.forward_batch(batch, compact, dtype)
