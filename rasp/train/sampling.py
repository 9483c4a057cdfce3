"""Inputs for a program to be trained on: samplers over an alphabet, and distinct samples.

The one home of sampling: rasp.train's datasets draw here, and so do rasp.dataset's shards
(which import this module; rasp.train never imports rasp.dataset). numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..compiler import check_vocab
from ..errors import RaspValueError

__all__ = ["BRACKET_PAIRS", "SAMPLERS", "BracketSampler", "UniformSampler", "check_alphabet",
           "make_sampler", "sample_inputs"]

BRACKET_PAIRS = ("()", "[]", "{}", "<>")
SAMPLERS = ("uniform", "brackets")
GIVE_UP_AFTER = 10_000  # draws in a row with no new input: the sampler has run out


def check_alphabet(alphabet: Sequence[Any] | str, bos: Any = None) -> list:
    """The symbols as a list, by the compiler's rule for a vocabulary (atoms, at least one,
    none twice), and without the BOS token, which is put before every input."""
    symbols = check_vocab(list(alphabet))
    if bos is not None and bos in symbols:
        raise RaspValueError(f"the BOS token {bos!r} is also in the alphabet")
    return symbols


class UniformSampler:
    """A length uniform in `lengths` (inclusive), then tokens iid uniform over `alphabet`."""

    def __init__(self, alphabet: Sequence[Any], lengths: tuple[int, int]):
        self.alphabet = list(alphabet)
        self.lengths = lengths

    def length(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.lengths[0], self.lengths[1] + 1))

    def uniform(self, rng: np.random.Generator, n: int) -> list:
        return [self.alphabet[i] for i in rng.integers(0, len(self.alphabet), n)]

    def draw(self, rng: np.random.Generator) -> list:
        return self.uniform(rng, self.length(rng))

    def block(self, rng: np.random.Generator, rows: int) -> list[list]:
        """`rows` inputs at once, of the length `lengths` fixes (min == max): a (rows,
        length) array of codes in one call, the distribution of `draw` in fewer calls."""
        symbols = np.empty(len(self.alphabet), dtype=object)
        symbols[:] = self.alphabet
        return symbols[rng.integers(0, len(symbols), size=(rows, self.lengths[0]))].tolist()


class BracketSampler(UniformSampler):
    """Strings for bracket languages (Dyck-k), where uniform strings are almost never balanced:
    a third balanced, a third a balanced prefix and a uniform suffix, a third uniform, as the
    paper's data. The pairs are those of BRACKET_PAIRS in the alphabet; other symbols are
    neutral and make up about `neutral` of a balanced string."""

    def __init__(self, alphabet: Sequence[Any], lengths: tuple[int, int], neutral: float = 0.3):
        super().__init__(alphabet, lengths)
        symbols = set(self.alphabet)
        self.pairs = [p for p in BRACKET_PAIRS if p[0] in symbols and p[1] in symbols]
        if not self.pairs:
            raise RaspValueError("the brackets sampler needs a bracket pair ("
                                 + ", ".join(BRACKET_PAIRS) + ") in the alphabet")
        paired = {c for p in self.pairs for c in p}
        self.neutrals = [a for a in self.alphabet if a not in paired]
        self.neutral = neutral if self.neutrals else 0.0

    def _feasible(self, left: int, depth: int) -> bool:
        """Whether `left` more symbols can close `depth` open brackets."""
        return depth <= left and (bool(self.neutrals) or (left - depth) % 2 == 0)

    def balanced(self, rng: np.random.Generator, n: int) -> list:
        """A random balanced string of length n; without neutral symbols an odd n gets a
        balanced string of n - 1 and one uniform symbol."""
        if not self._feasible(n, 0):
            return self.balanced(rng, n - 1) + self.uniform(rng, 1)
        out: list = []
        stack: list[str] = []
        for position in range(n):
            left, depth = n - position - 1, len(stack)  # left: positions after this one
            moves = {"open": 1.0 - self.neutral, "close": 1.0 - self.neutral,
                     "rest": 2 * self.neutral}
            allowed = [m for m, ok in (("open", self._feasible(left, depth + 1)),
                                       ("close", depth > 0 and self._feasible(left, depth - 1)),
                                       ("rest", bool(self.neutrals)
                                        and self._feasible(left, depth))) if ok]
            weights = np.array([moves[m] for m in allowed])
            move = allowed[int(rng.choice(len(allowed), p=weights / weights.sum()))]
            if move == "open":
                pair = self.pairs[int(rng.integers(len(self.pairs)))]
                stack.append(pair[1])
                out.append(pair[0])
            elif move == "close":
                out.append(stack.pop())
            else:
                out.append(self.neutrals[int(rng.integers(len(self.neutrals)))])
        return out

    def draw(self, rng: np.random.Generator) -> list:
        n = self.length(rng)
        kind = int(rng.integers(3))
        if kind == 0:
            if not self._feasible(n, 0):  # odd, no neutrals: a balanced string one longer
                low, high = self.lengths
                n = n + 1 if n < high else n - 1 if n > low else n
            return self.balanced(rng, n)
        if kind == 1:
            cut = int(rng.integers(0, n + 1))
            return self.balanced(rng, cut) + self.uniform(rng, n - cut)
        return self.uniform(rng, n)

    def block(self, rng: np.random.Generator, rows: int) -> list[list]:
        """One input: the three kinds do not vectorise."""
        return [self.draw(rng)]


def make_sampler(kind: str, alphabet: Sequence[Any],
                 lengths: tuple[int, int]) -> UniformSampler:
    if kind not in SAMPLERS:
        raise RaspValueError(f"unknown sampler '{kind}' (choose from {', '.join(SAMPLERS)})")
    return (BracketSampler if kind == "brackets" else UniformSampler)(alphabet, lengths)


def sample_inputs(sampler: UniformSampler, count: int, seed: int,
                  exclude: set[tuple] | None = None) -> list[list]:
    """`count` distinct inputs (none in `exclude`), deterministic in `seed`. Raises when the
    sampler cannot give that many: short lengths over a small alphabet run out."""
    rng = np.random.default_rng(seed)
    seen = set() if exclude is None else set(exclude)
    out: list[list] = []
    misses = 0  # draws in a row that gave nothing new
    while len(out) < count:
        tokens = sampler.draw(rng)
        key = tuple(tokens)
        if key in seen:
            misses += 1
            if misses > GIVE_UP_AFTER:
                raise RaspValueError(
                    f"could draw only {len(out)} distinct inputs of the {count} asked: widen "
                    f"the alphabet or the lengths, or ask for fewer")
            continue
        misses = 0
        seen.add(key)
        out.append(tokens)
    return out
