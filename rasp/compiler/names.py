"""The names of the arrays in a `rasp-transformer/1` file (docs/compiling.md), made here alone.

The compiler stores its weights under these names, the forward passes and `Model` read them
back; a name written anywhere else would be a second spelling of the format.
"""

from __future__ import annotations

from typing import NamedTuple

CONFIG = "config"  # a 0-d string array: the JSON configuration
TOKEN_EMBEDDING = "embed.token"
POSITION_EMBEDDING = "embed.position"
UNEMBEDDING = "unembed"


class HeadNames(NamedTuple):
    """The four matrices of one attention head."""

    query: str
    key: str
    value: str
    output: str


class MlpNames(NamedTuple):
    """The weight and bias of one linear map of a feed-forward block."""

    weight: str
    bias: str


def head(layer: int, number: int) -> HeadNames:
    """`layer{l}.head{h}.query`, `.key`, `.value`, `.output`."""
    prefix = f"layer{layer}.head{number}"
    return HeadNames(*(f"{prefix}.{matrix}" for matrix in HeadNames._fields))


def mlp(layer: int, number: int) -> MlpNames:
    """`layer{l}.mlp.{j}.weight` and `.bias`: the block's j-th linear map."""
    prefix = f"layer{layer}.mlp.{number}"
    return MlpNames(*(f"{prefix}.{part}" for part in MlpNames._fields))


def expected(layers: list[dict]) -> list[str]:
    """Every array name a configuration's `layers` call for, `config` aside."""
    found = [TOKEN_EMBEDDING, POSITION_EMBEDDING]
    for number, layer in enumerate(layers):
        found += [n for h in range(layer["heads"]) for n in head(number, h)]
        found += [n for j in range(layer["mlp"]) for n in mlp(number, j)]
    return [*found, UNEMBEDDING]


def unique_blocks(layout: list[dict]) -> list[dict]:
    """The saved layout's blocks with unique names: a block's name is its s-op's name, else
    its whole display text (docs/compiling.md), which two calls of one function share, so a
    name met before gets " #2", " #3"... in the order the blocks come."""
    seen: dict[str, int] = {}
    found = []
    for block in layout:
        name = block["name"]
        seen[name] = seen.get(name, 0) + 1
        found.append(block if seen[name] == 1 else {**block, "name": f"{name} #{seen[name]}"})
    return found
