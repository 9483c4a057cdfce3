"""Which s-ops "read the future": whose value at position i can depend on positions after i
in the default (bidirectional) semantics.

In causal mode (`engine.evaluate(..., causal=True)`) every selection is cut to the keys at or
before its query. A program none of whose s-ops reads the future computes the same values
either way, and a decoder (masked attention) computes it; one that reads the future is
refused by `compile --causal` and `train --causal`, at the selector responsible.

A selector is causal when on no input it selects a key after its query:

* a `select` or combination that compares s-ops of the indices and constants alone (as
  `select(indices, indices, <=)`, `select(indices, indices - 1, ==)`, `select(indices, 0, ==)`)
  and whose matrix is lower-triangular: its cells depend on the query and key positions
  alone, not on the input, and are checked on an input of CHECKED_LENGTH positions (a
  compile's max_len, for a compile);
* `a and b` where either part is causal; `a or b` where both are.

Anything else (a comparison of tokens, as `select(tokens, tokens, ==)`, or `full_s`) may read
later positions. An s-op reads the future when an aggregate it depends on uses a selector
that is not causal, or when the values, keys or queries an aggregate reads do; the selector
responsible is the first such one found, bottom up. (The analysis is structural, so it can
flag a program that never in fact reads the future; it never misses one.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .engine import evaluate, input_array
from .errors import RaspError, RaspValueError, Span
from .graph import (
    Aggregate,
    Combine,
    Constant,
    Indices,
    Map,
    Node,
    Selector,
    SOp,
    graph_below,
)

__all__ = ["FutureRead", "reads_future", "is_causal", "refusal", "CHECKED_LENGTH"]

CHECKED_LENGTH = 128  # positions on which a selector of the indices alone is checked


@dataclass(frozen=True)
class FutureRead:
    """`sop` can read positions after its own, through `selector` (a `select`, or the
    combination that is not causal)."""

    sop: SOp
    selector: Selector

    @property
    def span(self) -> Span | None:
        """Where the selector is, in the user's code: a selector made inside the library is
        placed at the user's call that made it."""
        return _positioned(RaspValueError(""), self.selector).span

    @property
    def file(self) -> str | None:
        """The selector's file; a file of rasp's own library by its name alone."""
        span = self.span
        if span is None:
            return None
        return Path(span.source.name).name if span.source.library else span.source.name

    def line(self) -> str:
        span = self.span
        where = "" if span is None else f" at {self.file}:{span.line}:{span.column}"
        return f"'{self.sop.title}' through selector '{self.selector.title}'{where}"

    def to_json(self) -> dict:
        span = self.span
        return {"sop": self.sop.title, "selector": self.selector.title, "file": self.file,
                "line": span.line if span else None, "column": span.column if span else None}


def reads_future(target: SOp, length: int = CHECKED_LENGTH) -> list[FutureRead]:
    """The s-ops below `target` that read the future: the target first, then the named ones
    it depends on, in creation order. Empty: causal mode gives the same values (on inputs of
    up to `length` tokens, the length selectors of the indices alone are checked on)."""
    culprit: dict[int, Selector | None] = {}
    found = []
    for node in graph_below(target):
        culprit[node.id] = _culprit(node, culprit, length)
        if isinstance(node, SOp) and culprit[node.id] is not None and (
                node.name is not None or node.id == target.id):
            found.append(FutureRead(node, culprit[node.id]))  # type: ignore[arg-type]
    return sorted(found, key=lambda r: r.sop.id != target.id)


def _culprit(node: Node, culprit: dict[int, Selector | None], length: int) -> Selector | None:
    """The selector through which `node` reads the future, if it does."""
    if isinstance(node, Aggregate):
        own = _not_causal_part(node.selector, length)
        if own is not None:
            return own
    below = node.inputs if not isinstance(node, Combine) else ()
    return next((c for c in (culprit[i.id] for i in below) if c is not None), None)


def is_causal(selector: Selector, length: int = CHECKED_LENGTH) -> bool:
    """Whether `selector` never selects a key after its query (on inputs of up to `length`
    tokens, for a selector of the indices alone)."""
    return _not_causal_part(selector, length) is None


def _not_causal_part(selector: Selector, length: int) -> Selector | None:
    """The part of `selector` that may select a key after its query; None if none does."""
    if _of_indices(selector):
        return None if _lower_triangular(selector, length) else selector
    if isinstance(selector, Combine) and selector.op in ("and", "or"):
        parts = [_not_causal_part(p, length)  # type: ignore[arg-type]
                 for p in selector.inputs]
        if selector.op == "and":  # the keys both select: either part's limit holds
            return None if None in parts else parts[0]
        return next((p for p in parts if p is not None), None)
    return selector


def _of_indices(selector: Selector) -> bool:
    """Whether the selector compares s-ops made of the indices and constants alone."""
    return all(isinstance(n, (Indices, Constant, Map, Selector))
               for n in graph_below(selector))


def _lower_triangular(selector: Selector, length: int) -> bool:
    dummy = input_array([[0] * length])
    try:
        matrix = evaluate(selector, dummy)
    except RaspError:  # a comparison that fails (a string with a number) decides nothing
        return False
    return not np.triu(matrix, k=1).any()


def refusal(reads: list[FutureRead], what: str) -> RaspError:
    """The error of `what` (as "compile --causal") for a program that reads the future
    (`reads`, as `reads_future` gives them), at the selector responsible."""
    first = reads[0]
    error = RaspValueError(
        f"{what} needs a program whose positions never read later ones, but "
        f"'{first.sop.title}' does, through selector '{first.selector.title}' (in causal "
        f"mode it would see only the positions up to its own, and compute something else)")
    return _positioned(error, first.selector)


def _positioned(error: RaspError, node: Node) -> RaspError:
    """The error at the node's source, moved to the user's call when inside the library."""
    error.at(node.span)
    for message, span in reversed(node.trace):
        error.noted(message, span)
    return error.rehomed()
