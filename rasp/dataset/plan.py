"""The shard plan: which shards a run has, each one's seed, and which split an input belongs
to. Pure and deterministic (hashlib and itertools only): the same arguments give the same plan
on every machine, whatever the number of workers.

A run asks for `counts[split]` rows per split over the lengths `lengths` (inclusive). Each
split's count is spread evenly over the lengths (the shortest lengths take the remainder), and
each (split, length) cell is cut into shards of at most `shard_size` rows. A shard is keyed by
(split, length, first row index); its inputs are drawn from a generator seeded by a hash of the
run's seed and that key, so a shard can be re-run alone and gives the same rows.

The splits are disjoint because an input's split is a function of the input alone: a 64-bit
hash of its tokens, compared with the splits' shares of [0, 1). A shard draws inputs of its
length and keeps those that hash into its split.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["SPLITS", "MIN_SHARE", "Shard", "shares_of", "split_of", "splitter", "shard_seed",
           "plan", "splits_at"]

SPLITS = ("train", "val", "test")
# No split owns less than this share of the inputs (unless it is empty): a small test split
# then costs its shards 1/MIN_SHARE draws per row at most, not total/test.
MIN_SHARE = 0.05
# Lengths whose inputs number at most this many are enumerated, to find the splits they hold.
ENUMERATE = 1 << 14
_SPLIT_KEY = b"rasp-split-v1"


@dataclass(frozen=True)
class Shard:
    """Rows `start`..`start + count - 1` of the cell (split, length)."""

    split: str
    length: int
    index: int  # the shard's number within its cell
    start: int
    count: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.split}-len{self.length:03d}-{self.index:05d}"

    @property
    def file(self) -> str:
        return f"{self.name}.parquet"


def shares_of(counts: dict[str, int]) -> dict[str, float]:
    """Each split's share of the input space: its share of the rows, at least MIN_SHARE for
    a split that has rows, normalised; 0 for a split with none."""
    total = sum(counts.values())
    raw = {s: (max(counts[s] / total, MIN_SHARE) if counts.get(s, 0) > 0 else 0.0)
           for s in SPLITS if s in counts}
    norm = sum(raw.values())
    return {s: v / norm for s, v in raw.items()}


def _encode(tokens: Sequence[Any]) -> bytes:
    """The bytes an input is hashed by: its tokens as text, joined by NUL, in UTF-8. Two
    inputs with the same bytes (["1"] and [1]) share a split, which keeps the splits
    disjoint all the same."""
    return "\x00".join(map(str, tokens)).encode()


def splitter(shares: dict[str, float]) -> Callable[[Sequence[Any]], str]:
    """split_of with the shares fixed (the edges computed once)."""
    names = [x for x in SPLITS if shares.get(x, 0.0) > 0]
    edges = list(itertools.accumulate(shares[x] for x in names))
    edges[-1] = 2.0  # rounding at the top edge: the last split takes it
    scale = 2.0 ** 64

    def split(tokens: Sequence[Any]) -> str:
        digest = hashlib.blake2b(_encode(tokens), digest_size=8, key=_SPLIT_KEY).digest()
        return names[bisect.bisect_right(edges, int.from_bytes(digest, "big") / scale)]
    return split


def split_of(tokens: Sequence[Any], shares: dict[str, float]) -> str:
    """The split an input (without its BOS) belongs to: blake2b-64 of its tokens (_encode),
    read as a fraction of 2^64, against the splits' cumulative shares in the order train,
    val, test. It does not depend on the seed: an input is a test input in every run with
    the same shares."""
    return splitter(shares)(tokens)


def shard_seed(seed: int, split: str, length: int, start: int) -> int:
    """The seed of the shard (split, length, start) in a run with seed `seed`."""
    key = f"rasp-dataset-v1/{seed}/{split}/{length}/{start}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def splits_at(alphabet: Sequence[Any], length: int, shares: dict[str, float]) -> set[str] | None:
    """The splits that some input of `length` over `alphabet` belongs to, when the inputs are
    few enough to enumerate (None: too many to list, and all splits are there in practice)."""
    if len(alphabet) ** length > ENUMERATE:
        return None
    found: set[str] = set()
    split = splitter(shares)
    for tokens in itertools.product(alphabet, repeat=length):
        found.add(split(tokens))
        if len(found) == sum(1 for v in shares.values() if v > 0):
            break
    return found


def _spread(count: int, lengths: list[int]) -> dict[int, int]:
    base, extra = divmod(count, len(lengths))
    return {n: base + (1 if i < extra else 0) for i, n in enumerate(lengths)}


def plan(counts: dict[str, int], lengths: tuple[int, int], shard_size: int, seed: int,
         alphabet: Sequence[Any]) -> list[Shard]:
    """The shards of a run, in a fixed order (split, length, start). A length none of whose
    inputs falls in a split (a short length over a small alphabet) gets no rows of that
    split: its part goes to the split's other lengths. Raises ValueError when a split's
    rows have no length to go to."""
    if shard_size < 1:
        raise ValueError("--shard-size must be at least 1")
    shares = shares_of(counts)
    shards: list[Shard] = []
    all_lengths = list(range(lengths[0], lengths[1] + 1))
    for split in SPLITS:
        count = counts.get(split, 0)
        if count <= 0:
            continue
        usable = []
        for n in all_lengths:
            present = splits_at(alphabet, n, shares)
            if present is None or split in present:
                usable.append(n)
        if not usable:
            raise ValueError(f"no input of lengths {lengths[0]}:{lengths[1]} falls in the "
                             f"{split} split: widen the alphabet or the lengths")
        for n, cell in _spread(count, usable).items():
            for index, start in enumerate(range(0, cell, shard_size)):
                size = min(shard_size, cell - start)
                shards.append(Shard(split, n, index, start, size,
                                    shard_seed(seed, split, n, start)))
    return shards
