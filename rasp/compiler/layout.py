"""The residual stream: named blocks of dimensions, one per feature a sublayer reads.

Dimension 0 (`bos`) is 1 at the hidden beginning-of-sequence position only, dimension 1 (`one`)
is 1 at every real position only. A categorical feature is a one-hot block, one dimension per
value; a numerical one (an aggregate that averages numbers) is one dimension holding it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .valuesets import Either, key, representative, variants

BOS, ONE = 0, 1


def value_key(value: Any) -> Any:
    """The key of an atom, or of a tuple of atoms (a joint feature)."""
    if isinstance(value, tuple):
        return tuple(key(v) for v in value)
    return key(value)


@dataclass
class Block:
    name: str
    encoding: str  # "flag", "categorical" or "numerical"
    start: int
    values: list = field(default_factory=list)  # categorical: the value of each dimension
    _index: dict = field(default_factory=dict, repr=False)

    _seen: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {value_key(v): i for i, v in enumerate(self.values)}
        for i, v in enumerate(self.values):  # a value is seen in its own class and any Either
            for variant in variants(v) if isinstance(v, Either) else (v,):
                self._seen.setdefault(value_key(variant), []).append(self.start + i)

    @property
    def size(self) -> int:
        return len(self.values) if self.encoding == "categorical" else 1

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
        values = [[representative(x) for x in v] if isinstance(v, tuple) else representative(v)
                  for v in self.values]
        return {"name": self.name, "encoding": self.encoding, "first": self.start,
                "last": self.stop - 1, "values": values}


class Layout:
    """The blocks in the order they were added, and the features they hold."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.of: dict[Any, Block] = {}  # feature key -> block
        self.add(("bos",), "bos", "flag")
        self.add(("one",), "one", "flag")

    @property
    def width(self) -> int:
        return self.blocks[-1].stop

    def add(self, feature: Any, name: str, encoding: str, values: list | None = None) -> Block:
        block = Block(name, encoding, self.width if self.blocks else 0, list(values or []))
        self.blocks.append(block)
        self.of[feature] = block
        return block

    def describe(self) -> list[dict]:
        return [b.describe() for b in self.blocks]
