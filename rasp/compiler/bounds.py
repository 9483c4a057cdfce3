"""The first pass: what the compiler is asked to compile, and the bounds it compiles it for.

The front ends (`rasp compile`, the `compile` statement) check the vocabulary and `max_len`
with these same functions before they compile, to report a mistake before any work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import RaspTypeError, RaspValueError
from .graph import Constant, SOp
from .valuesets import key, refusal


def check_bounds(target: Any, vocab: Sequence[Any], max_len: Any) -> list:
    """The vocabulary as a list, once the target, the vocabulary and max_len are fit to
    compile: an s-op that is not a constant, atoms none twice, a positive integer."""
    items = check_vocab(vocab)
    check_max_len(max_len)
    if not isinstance(target, SOp):
        raise RaspTypeError("compile expects an s-op")
    if isinstance(target, Constant):
        raise refusal(target, f"'{target.title}' is a constant: there is nothing to compile")
    return items


def check_vocab(vocab: Sequence[Any]) -> list:
    """The tokens as a list: atoms, at least one, none twice."""
    items = list(vocab)
    if not items:
        raise RaspValueError("the vocabulary is empty")
    for t in items:
        if not isinstance(t, (str, int, float, bool)):
            raise RaspValueError(f"vocabulary items must be atoms, got {t!r}")
    if len({key(t) for t in items}) != len(items):
        raise RaspValueError(f"the vocabulary {items!r} repeats a token")
    return items


def check_max_len(max_len: Any) -> None:
    if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 1:
        raise RaspValueError(f"max_len must be a positive integer, got {max_len!r}")
