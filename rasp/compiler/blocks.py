"""The residual stream: named blocks of dimensions, one per feature a sublayer reads.

Dimension 0 (`bos`) is 1 at the hidden beginning-of-sequence position only, dimension 1 (`one`)
is 1 at every real position only. A categorical feature is a one-hot block, one dimension per
value; a numerical one (an aggregate that averages numbers) is one dimension holding it.
These are the types the passes hand each other; the layout pass (layout.py) fills them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .graph import SOp
from .valuesets import Either, key, representative, variants

BOS, ONE = 0, 1
NEVER = 1 << 62  # a dimension never freed


@dataclass(frozen=True)
class Feature:
    """What a block holds: the value of one s-op, or (`joint`) the tuple of values of the
    s-ops a head compares together on one side of a selector, by node id."""

    ids: tuple[int, ...]
    joint: bool = False

    @classmethod
    def of(cls, node: SOp) -> Feature:
        return cls((node.id,))

    @classmethod
    def together(cls, nodes: Sequence[SOp]) -> Feature:
        return cls(tuple(n.id for n in nodes), joint=True)


def value_key(value: Any) -> Any:
    """The key of an atom, or of a tuple of atoms (a joint feature)."""
    if isinstance(value, tuple):
        return tuple(key(v) for v in value)
    return key(value)


class Encoding(Enum):
    """How a block holds its feature (the saved layout's `encoding`)."""

    FLAG = "flag"  # bos or one
    CATEGORICAL = "categorical"  # one-hot, a dimension per value
    NUMERICAL = "numerical"  # one dimension holding the number


@dataclass
class Block:
    name: str
    encoding: Encoding
    start: int
    values: list = field(default_factory=list)  # categorical: the value of each dimension
    # where the block holds classes of values (a feature only heads read), each dimension's
    # class: its value stands for all of them
    members: list | None = None
    why: str = ""  # why the feature has this encoding (the summary says it)
    # its live range, in sublayers (plan.slot): the one that writes it, and the
    # feed-forward block that erases it after its last use (None: it is never erased), and
    # which of its dimensions: those a later block takes
    written: int = 0
    erased: int | None = None
    wiped: list[int] = field(default_factory=list)
    _index: dict = field(default_factory=dict, repr=False, init=False)
    _seen: dict = field(default_factory=dict, repr=False, init=False)

    def __post_init__(self) -> None:
        self._index = {value_key(v): i for i, v in enumerate(self.values)}
        for i, v in enumerate(self.values):  # a value is seen in its own class and any Either
            for variant in variants(v) if isinstance(v, Either) else (v,):
                self._seen.setdefault(value_key(variant), []).append(self.start + i)

    @property
    def size(self) -> int:
        return len(self.values) if self.encoding is Encoding.CATEGORICAL else 1

    @property
    def stop(self) -> int:
        return self.start + self.size

    def dim(self, value: Any) -> int | None:
        """The dimension of a value (categorical), None if the block has no such value."""
        i = self._index.get(value_key(value))
        return None if i is None else self.start + i

    def seen_as(self, value: Any) -> list[int]:
        """The dimensions that may be 1 where the feature holds `value`."""
        return self._seen.get(value_key(value), [])

    def describe(self) -> dict:
        """The block's entry in the saved `layout`."""
        found = {"name": self.name, "encoding": self.encoding.value, "first": self.start,
                 "last": self.stop - 1, "values": [_saved(v) for v in self.values]}
        if self.members is not None:
            found["members"] = [[_saved(v) for v in m] for m in self.members]
        if self.why:
            found["why"] = self.why
        return found


def _saved(value: Any) -> Any:
    """A value as the saved layout holds it: a joint one as a list, a class by its number."""
    if isinstance(value, tuple):
        return [representative(x) for x in value]
    return representative(value)


class Layout:
    """The blocks in the order they were added, and the features they hold; the flags `bos`
    and `one` first, at BOS and ONE. A block takes the first dimensions free from the
    sublayer that writes it on. In the plain layout none is ever freed, so each block comes
    after all the others. With reuse (reuse.py), `erasable` says which feed-forward block may
    erase each feature after its last use: its dimensions are free from the next sublayer
    on, and those a later block takes are erased there."""

    def __init__(self, erasable: dict[Feature, int] | None = None) -> None:
        self.blocks: list[Block] = [Block("bos", Encoding.FLAG, BOS),
                                    Block("one", Encoding.FLAG, ONE)]
        self.of: dict[Feature, Block] = {}
        self.erasable = erasable or {}
        self._free = [NEVER, NEVER]  # per dimension: the first sublayer that may write it
        self._owner: list[Block | None] = [None, None]  # the last block that took it

    @property
    def width(self) -> int:
        return len(self._free)

    def add(self, feature: Feature, name: str, encoding: Encoding,
            values: list | None = None, why: str = "", written: int = 0) -> Block:
        """A block for `feature`, written by sublayer `written` (plan.slot)."""
        values = list(values or [])
        size = len(values) if encoding is Encoding.CATEGORICAL else 1
        start = self._fit(size, written)
        block = Block(name, encoding, start, values, why=why, written=written)
        grown = start + size - self.width
        self._free += [NEVER] * grown
        self._owner += [None] * grown
        erasable = self.erasable.get(feature)
        for d in range(start, start + size):
            owner = self._owner[d]
            if owner is not None:  # erased where it became free, after its last use
                owner.erased = self._free[d] - 1
                owner.wiped.append(d)
            self._free[d] = NEVER if erasable is None else erasable + 1
            self._owner[d] = block
        self.blocks.append(block)
        self.of[feature] = block
        return block

    def _fit(self, size: int, written: int) -> int:
        """The first `size` dimensions free at sublayer `written` (past the end, all are)."""
        run = 0
        for d in range(2, self.width):
            run = run + 1 if self._free[d] <= written else 0
            if size and run == size:
                return d - size + 1
        return self.width - run

    def node(self, node: SOp) -> Block:
        """The block holding one s-op's value."""
        return self.of[Feature.of(node)]

    def describe(self) -> list[dict]:
        return [b.describe() for b in self.blocks]
