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
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import RaspError, split_lines
from .graph import SOp, evaluate, input_array
from .model import Model
from .valuesets import is_number, key

RELATIVE = 1e-6  # numerical outputs: |model - interpreter| <= RELATIVE * max(|interpreter|, 1e-6)
RANDOM = 16  # random inputs per length, besides the structured ones, unless told
STRUCTURED = 64  # structured inputs per length at most, unless told
EXHAUSTIVE = 256  # every input of a length with at most this many, unless told
TIMED = 0.25  # seconds of checking timed before the rest of its time is estimated
QUIET = 1.0  # seconds: a check estimated shorter says nothing of its time


@dataclass
class Verification:
    checked: int = 0
    agreed: int = 0
    raised: int = 0  # inputs on which the interpreter raises
    lengths: dict[int, list[int]] = field(default_factory=dict)  # n -> [checked, agreed]
    mismatches: list[tuple[list, list, list]] = field(default_factory=list)  # a few
    # a causal model: inputs whose every prefix was run alone, and those that agreed
    prefixes: list[int] | None = None  # [checked, agreed]
    plan: str = ""  # which inputs, how many: said before the check runs

    def lines(self) -> list[str]:
        """The plan, then the report."""
        return [*([self.plan] if self.plan else []), *split_lines(self.report())]

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
    """The inputs of length n to check: every one where there are at most `exhaustive` and
    no `sample` is asked; otherwise the structured ones, at most `sample` (or STRUCTURED)
    of them, and `sample` (or RANDOM) random ones."""
    vocab = list(vocab)
    if sample is None and len(vocab) ** n <= exhaustive:
        return [list(t) for t in itertools.product(vocab, repeat=n)]
    structured = sample if sample is not None else STRUCTURED
    found: dict[tuple, list] = {}
    for items in _structured(vocab, n, rng):
        if len(found) >= structured:
            break
        found.setdefault(tuple(key(t) for t in items), items)
    for _ in range(sample if sample is not None else RANDOM):
        items = [rng.choice(vocab) for _ in range(n)]
        found.setdefault(tuple(key(t) for t in items), items)
    return list(found.values())


def _structured(vocab: list, n: int, rng: random.Random) -> Iterator[list]:
    """The inputs that reach the extremes, a few of each kind in turn (so that a cap keeps
    some of every kind): each token repeated, sorted and reversed draws, each token once
    then the last, and alternating pairs, neighbours in order first."""
    order = sorted(vocab, key=_order)
    repeated = ([t] * n for t in order)
    drawn = []
    for _ in range(4):
        chosen = sorted((rng.choice(vocab) for _ in range(n)), key=_order)
        drawn += [chosen, chosen[::-1]]
    staircase = [[order[min(i, len(order) - 1)] for i in range(n)]]
    count = len(order)
    pairs = itertools.chain(((i, i + 1) for i in range(count - 1)),
                            ((i, j) for i, j in itertools.combinations(range(count), 2)
                             if j > i + 1))
    alternating = ([order[a] if i % 2 == phase else order[b] for i in range(n)]
                   for a, b in pairs for phase in (0, 1))
    kinds: list[Iterator[list]] = [repeated, iter(drawn), iter(staircase), alternating]
    while kinds:
        for kind in list(kinds):
            item = next(kind, None)
            if item is None:
                kinds.remove(kind)
            else:
                yield item


def _order(t: Any) -> tuple:
    return (isinstance(t, str), t if not isinstance(t, str) else 0, str(t))


def verify(model: Model, target: SOp, sample: int | None = None,
           exhaustive: int = EXHAUSTIVE, seed: int = 0, lengths: Sequence[int] | None = None,
           compact: bool = True, dtype: str = "float64",
           announce: Callable[[str], None] | None = None) -> Verification:
    """Check the model against the interpreter (the graph's own evaluation) on every length
    (or `lengths`): the inputs of `inputs_of_length`, at most `exhaustive` (or STRUCTURED +
    RANDOM, or 2 `sample`) per length. `announce` is given the plan (how many inputs, which)
    before the check runs, then, once the first lengths have taken TIMED seconds, roughly how
    long the rest will take (nothing where the whole check takes under QUIET seconds).
    `compact` runs the sparse forward pass (sparse.py: the same sums without their zero
    terms, faster); False runs the reference one. `dtype` "float32" runs it in float32:
    whether the model stays exact where users load it so."""
    rng = random.Random(seed)
    numerical = model.config["output"]["kind"] == "numerical"
    batches = {n: inputs_of_length(model.vocab, n, sample, exhaustive, rng)
               for n in lengths or range(1, model.max_len + 1)}
    result = Verification(plan=_plan(batches, len(model.vocab), sample, exhaustive))
    if announce is not None:
        announce(result.plan)
    clock = _Clock(batches, announce)
    for n, batch in batches.items():
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
        if model.causal and n == max(batches):
            result.prefixes = prefix_check(model, [t for t, _ in kept][:PREFIX_INPUTS],
                                           compact, dtype)
        clock.checked(n)
    return result


class _Clock:
    """The check's remaining time, estimated once: the tokens still to check at the cost per
    token of the last length checked (the first lengths carry the warm-up). Rough: a longer
    input costs more per token, attention being quadratic in the length."""

    def __init__(self, batches: dict[int, list], announce: Callable[[str], None] | None):
        self.tokens = {n: n * len(batch) for n, batch in batches.items()}
        self.inputs = {n: len(batch) for n, batch in batches.items()}
        self.done = self.done_inputs = 0
        self.announce = announce
        self.start = self.last = time.perf_counter()

    def checked(self, n: int) -> None:
        """Length n is checked: past TIMED seconds, say how long the rest will take."""
        now = time.perf_counter()
        rate, self.last = (now - self.last) / self.tokens[n], now
        self.done += self.tokens[n]
        self.done_inputs += self.inputs[n]
        elapsed = now - self.start
        if self.announce is None or elapsed < TIMED:
            return
        rest = rate * (sum(self.tokens.values()) - self.done)
        if elapsed + rest >= QUIET and rest > 0:
            self.announce(f"about {_duration(rest)} more (extrapolated from the first "
                          f"{self.done_inputs:,} inputs)")
        self.announce = None


def _duration(seconds: float) -> str:
    """A rough time: two significant figures at most."""
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _plan(batches: dict[int, list], vocab: int, sample: int | None, exhaustive: int) -> str:
    """How many inputs the check runs, and which."""
    every = [n for n in batches if sample is None and vocab ** n <= exhaustive]
    rest = [n for n in batches if n not in every]
    parts = [f"every input of {_lengths(every)}"] if every else []
    if rest:
        structured, random_ = (sample, sample) if sample is not None else (STRUCTURED, RANDOM)
        parts.append(f"{'then ' if every else ''}up to {structured:,} structured and "
                     f"{random_:,} random ones per length" +
                     ("" if every or len(rest) == max(batches) else
                      f" of {_lengths(rest)}"))
    total = sum(map(len, batches.values()))
    return f"checking {total:,} inputs: " + ", ".join(parts)


def _lengths(ns: list[int]) -> str:
    if len(ns) == 1:
        return f"length {ns[0]}"
    if ns == list(range(ns[0], ns[-1] + 1)):
        return f"lengths {ns[0]}..{ns[-1]}"
    return "lengths " + ", ".join(map(str, ns))


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
