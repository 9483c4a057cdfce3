"""Numpy kernels of attention: `select`'s comparisons of keys and queries, and `aggregate`
over a selection read a block of query rows at a time (rasp/ops.py has the sequences they
work on and the elementwise kernels; docs/architecture.md, Arrays).

A selector value is a 2-D bool array, rows = queries, columns = keys.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import typed
from .errors import RaspValueError
from .ops import Array, all_strings, binary, constant, describe_values, seq_type, sequence


def comparable(keys: Array, queries: Array, narrow: bool = True) -> tuple[Array, Array]:
    """Keys and queries ready to compare. Strings become codes of their sorted order: the
    same answers, at integer speed; ints take their smallest type (`narrow`), for the n x n
    comparisons of blocks."""
    forms = typed.strings_of(keys), typed.strings_of(queries)
    if forms[0] is not None and forms[1] is not None:
        (k, q), _ = typed.merged(forms[0], forms[1])
        return k, q
    if keys.dtype.kind == "O" and queries.dtype.kind == "O":
        both = np.concatenate([keys.ravel(), queries.ravel()])
        items = both.tolist()
        if all_strings(items):
            codes: Array
            if len(items) <= typed.SMALL:  # a few: sorted by Python, with fewer calls
                codes = np.array(typed.vocabulary(items)[1], dtype=np.intp)
            else:
                # numpy's unicode arrays sort like Python strings, in C; but they drop
                # trailing NULs, so texts with a NUL stay Python objects
                fixed = both if "\x00" in "".join(items) else both.astype(str)
                _, codes = np.unique(fixed, return_inverse=True)
            return (codes[: keys.size].reshape(keys.shape),
                    codes[keys.size:].reshape(queries.shape))
    return _narrow(keys, queries) if narrow else (keys, queries)


# Comparisons of fewer cells (an input's, n x n) are not narrowed: finding the type costs
# more than it saves there (20 us against 1 at n = 8)
NARROW_CELLS = 1 << 12


def _narrow(keys: Array, queries: Array) -> tuple[Array, Array]:
    """Integers in the smallest type that holds them all: an n x n comparison of int16s
    takes a quarter of the time of one of int64s."""
    if (keys.dtype.kind not in "iu" or queries.dtype.kind not in "iu"
            or keys.size * queries.shape[-1] < NARROW_CELLS):
        return keys, queries
    low = min(int(keys.min()), int(queries.min()))
    high = max(int(keys.max()), int(queries.max()))
    for small in (np.int8, np.int16, np.int32):
        if np.iinfo(small).min <= low and high <= np.iinfo(small).max:
            return keys.astype(small), queries.astype(small)
    return keys, queries


def shaped(values: Array, shape: tuple) -> Array:
    """np.broadcast_to, which costs more than the rest of an aggregate of a short input, for
    arrays not of `shape` already."""
    return values if values.shape == shape else np.broadcast_to(values, shape)


def row_counts(block: Array) -> Array:
    """How many cells of each row are selected (numpy's count_nonzero along an axis is
    several times slower than this sum of bytes)."""
    small = np.uint16 if block.shape[-1] < 2**16 else np.int64
    return np.add.reduce(block.view(np.uint8), axis=-1, dtype=small).astype(np.int64)


def compare_rows(keys: Array, queries: Array, op: str) -> Array:
    """Rows of a selection matrix: cell (q, k) is `keys[k] op queries[q]`."""
    return binary(op, keys[..., np.newaxis, :], queries[..., :, np.newaxis])


# The rows of a selection an aggregate looks at in one go, at most: small enough to stay in a
# core's L2 cache with their temporaries. 128 KB was the fastest of 16 KB to 1 MB here.
BLOCK_BYTES = 128 << 10


def aggregate(rows: Callable[[int, int], Array], shape: tuple, values: Array,
              default: Any, uniform: bool = False) -> Array:
    """Each query's value: the one selected value, the mean of several, `default` for none.

    `rows(start, stop)` gives the selection's rows for queries start..stop; `shape` is that of
    the inputs (batch..., n). When every row is the same (`uniform`), one row is enough."""
    values = shaped(values, shape)
    summer = Summer(values) if seq_type(values) in ("ints", "floats") else None
    n = shape[-1]
    step = max(1, BLOCK_BYTES // max(1, math.prod(shape)))
    if uniform:
        step = n = 1  # look at the first query's row only
    width = np.empty(shape[:-1] + (n,), dtype=np.int64)
    chosen = np.empty(shape[:-1] + (n,), dtype=values.dtype)
    sums = np.empty(shape[:-1] + (n,))
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = shaped(rows(start, stop), shape[:-1] + (stop - start, shape[-1]))
        w = width[..., start:stop] = row_counts(block)
        _, copy, mean = _selecting(w)
        if summer and (mean or (copy and summer.exact)):
            sums[..., start:stop] = summer(block, w)
        if copy:
            chosen[..., start:stop] = (summer.copies(sums[..., start:stop]) if summer and
                                       summer.exact else _selected(values, block))
    return aggregate_result(width, chosen, sums, values, default, shape)


def _selected(values: Array, block: Array) -> Array:
    """For each row of the block, the value at its first selected key."""
    first = np.argmax(block, axis=-1)
    # one input: plain indexing, a few times faster than take_along_axis on short rows
    return values[first] if values.ndim == 1 else np.take_along_axis(values, first, axis=-1)


def aggregate_result(width: Array, chosen: Array, sums: Array, values: Array, default: Any,
                     shape: tuple) -> Array:
    """An aggregate's value from each query's `width` (how many keys it selects), `chosen`
    (the selected value, where it selects one) and `sums` (of the selected values, where it
    selects several): the block path and the planner share it, so that they agree on types,
    defaults and errors."""
    values = shaped(values, shape)
    if chosen.shape == shape and np.all(width == 1) and (
            chosen.dtype.kind != "O" or typed.strings_of(chosen) is not None):
        return chosen  # a gather (reverse, a shift): a sequence already, no pieces to join
    width, chosen, sums = (shaped(a, shape) for a in (width, chosen, sums))
    nones, ones, severals = _selecting(width)
    parts = []
    if ones:
        parts.append((width == 1, chosen))
    if severals:
        several = width >= 2
        if seq_type(values) not in ("ints", "floats"):
            flat = values.reshape(-1, shape[-1])
            offending = flat[np.argmax(several.reshape(flat.shape).any(axis=-1))]
            raise RaspValueError(f"aggregate cannot average {seq_type(values)}: a query "
                                 "selects several positions of "
                                 + describe_values(offending.tolist()))
        parts.append((several, sums / np.maximum(width, 1)))
    if nones:
        parts.append((width == 0, constant(default, shape[-1])))
    return _combine(parts, shape)


def _selecting(width: Array) -> Array:
    """How many queries select no key, one key, and several (one pass, where three tests
    of `any` took three Python calls each)."""
    return np.bincount(np.minimum(width, 2).ravel(), minlength=3)


# Ints are counted by level (Summer) from this many values on; fewer are summed at once
COUNTED = 1 << 10


class Summer:
    """For each query of a block of selection rows, the sum of the values it selects, as
    Python's `sum(...)` gives it for the mean `sum(...) * 1.0 / n`.

    Few-valued ints (indicators, constants), COUNTED of them or more, are counted rather
    than multiplied as floats: a constant's sums come from the widths alone, and sparse
    levels look only at their columns. Then the sums are exact, and a query selecting one
    position has that value as its sum (`exact`), so no search for the selected position is
    needed. Other values take one float matrix product, exact while int sums stay below
    2^53; larger ints (whose float sums could cancel) are summed by Python."""

    def __init__(self, values: Array):
        self.values = values
        self.levels: list | None = None
        self.by_python = False
        if values.dtype.kind in "iuO" and values.size:
            largest = max(abs(v) for v in values.ravel().tolist() if not isinstance(v, float)) \
                if values.dtype.kind == "O" else max(abs(int(values.min())),
                                                      abs(int(values.max())))
            self.by_python = largest * values.shape[-1] >= 2**53
        if values.dtype.kind in "iu" and values.size >= COUNTED and not self.by_python:
            low, high = int(values.min()), int(values.max())
            levels = np.arange(low, high + 1) if high - low < 4 else np.unique(values)
            if len(levels) <= 4:
                self.levels = [int(v) for v in levels if v != 0]
        self.exact = self.levels is not None
        self.floats: Array | None = None  # the values as floats, made once

    def __call__(self, block: Array, width: Array) -> Array:
        if self.by_python:
            return self._python_sums(block)
        if self.levels is None:
            # einsum's own loops, not BLAS: on a shared machine BLAS's threads made these
            # small products twenty to forty times slower (measured, n = 20,000)
            if self.floats is None:
                self.floats = self.values.astype(np.float64)
            return np.einsum("...qk,...k->...q", block, self.floats)
        total = np.zeros(block.shape[:-1])
        for v in self.levels:
            total += v * self._count(block, width, v)
        return total

    def _count(self, block: Array, width: Array, v: int) -> Array:
        """How many selected positions hold v."""
        hits = self.values == v
        if hits.all():
            return width
        if self.values.ndim == 1 and np.count_nonzero(hits) * 8 < hits.size:
            return row_counts(block[..., np.flatnonzero(hits)])
        return row_counts(block & hits[..., None, :])

    def _python_sums(self, block: Array) -> Array:
        values = np.broadcast_to(self.values, block.shape[:-2] + self.values.shape[-1:])
        sums = np.zeros(block.shape[:-1])
        for where in np.ndindex(*block.shape[:-1]):
            row = values[where[:-1]].tolist()  # Python ints: numpy's int64 sums would wrap
            chosen = [row[k] for k in np.flatnonzero(block[where])]
            sums[where] = sum(chosen) * 1.0 if chosen else 0.0
        return sums

    def copies(self, sums: Array) -> Array:
        return np.rint(sums).astype(self.values.dtype)


def _combine(parts: list[tuple[Array, Array]], shape: tuple) -> Array:
    """One array from (mask, values) pieces; the masks are disjoint and cover all positions."""
    coded = _combine_typed(parts, shape)
    if coded is not None:
        return coded
    if len({v.dtype for _, v in parts}) == 1:
        out = np.empty(shape, dtype=parts[0][1].dtype)
        for mask, vals in parts:
            out[mask] = shaped(vals, shape)[mask]
        return sequence(out) if out.dtype.kind == "O" else out
    out = np.empty(shape, dtype=object)
    for mask, vals in parts:
        out[mask] = shaped(vals, shape)[mask]  # as Python numbers or strings
    if all(v.dtype.kind in "bif" for _, v in parts):
        return out  # bools, ints and floats, each of its own type: a mix sequence() keeps
    return sequence(out)


def _combine_typed(parts: list[tuple[Array, Array]], shape: tuple) -> Array | None:
    """_combine on the typed forms of strings, or of ints mixed with floats (typed.py), where
    every piece has one and they are not all of one numeric dtype; else None."""
    values = [shaped(v, shape) for _, v in parts]
    if math.prod(shape) < typed.MIN_SIZE:
        return None  # too few values for forms: _combine's object array is the same
    if len({v.dtype for v in values}) == 1 and values[0].dtype.kind != "O":
        return None
    strings = [typed.strings_of(v) for v in values]
    if all(form is not None for form in strings):
        codes, vocab = typed.merged(*strings)  # type: ignore[arg-type]
        out = np.empty(shape, dtype=np.int32)
        for (mask, _), c in zip(parts, codes):
            out[mask] = c[mask]
        return typed.from_codes(out, vocab)
    numbers = [typed.numbers_of(v) for v in values]
    if any(form is None for form in numbers):
        return None
    floats, is_float = np.empty(shape), np.empty(shape, dtype=bool)
    for (mask, _), (f, b) in zip(parts, numbers):  # type: ignore[misc]
        floats[mask], is_float[mask] = f[mask], b[mask]
    return typed.from_numbers(floats, is_float)
