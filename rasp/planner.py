"""Aggregates by the pattern of their selector: widths, sums and copies without the n x n
selection matrix, in O(n log n).

A selector is read as a sum of signed *terms* (inclusion-exclusion): `not a` is `1 - a`,
`a or b` is `a + b - a·b`, `a and b` is `a·b`, and `!=` is `1 - (==)`. A term is a
conjunction of comparisons, each between the keys and the queries of one pair of s-ops and
written as the relations a key may have to its query (less, equal, greater), so that two
comparisons of the same pair meet as an intersection: `k < q and k == q` selects nothing,
and the stable sort's `k < q or (k == q and i < j)` comes down to two terms.

A term can be evaluated by sorting when, on the input, it has

* comparisons whose queries (or keys) are all equal: masks of the keys (or of the queries);
* equalities: the keys and queries of these pairs, and the input of a batch, form one group
  code;
* at most one order comparison: sorted by (group, key), the keys a query selects are one
  range, found by `searchsorted`.

Each term gives every query a range of keys in its sorted order; prefix sums over that order
give the width, the sum of the selected values and the sum of the selected positions (the
position itself where one key is selected, to copy its value); a term of equalities only
with few group codes is counted instead (`Counts`: the width and sums of the query's group).
Signed sums of the terms give the selector's. Everything is exact integer arithmetic: values
must be ints, or floats that are all multiples of one power of two with sums below 2^53 (then
every order of summation gives the same float, the block path's included). Where any of this
does not hold (another shape of selector, strings compared with numbers, NaN, values whose
float sums could round), `aggregate` returns None and the engine takes the block path, which
is also the oracle the tests compare this with.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from . import attention, ops, typed
from .graph import Aggregate, Combine, Select, Selector, selects_of

__all__ = ["aggregate"]

LT, EQ, GT = 1, 2, 4  # how a key relates to its query
ALL = LT | EQ | GT
RELATION = {"==": EQ, "!=": LT | GT, "<": LT, "<=": LT | EQ, ">": GT, ">=": GT | EQ}
MAX_TERMS = 32  # beyond this many terms the block path is as good
# Groups of equalities are counted (np.bincount) where there are at most this many group codes
# a key: an array of that many counts, against a sort (Dyck-2's partners: 4.3 a key).
COUNTED = 8

Pair = tuple[int, int]  # (keys id, queries id)
Side = Literal["left", "right"]
Term = frozenset  # of (pair, relation), one relation per pair
Poly = dict  # Term -> coefficient


class Unplannable(Exception):
    """The selector, or its values on this input, has no shape the planner evaluates."""


# ---------------------------------------------------------------- the selector as terms

def terms(selector: Selector, pairs: dict[Pair, Select]) -> Poly:
    """The selector as signed terms; `pairs` collects a select for each pair compared."""
    if isinstance(selector, Select):
        pair = (selector.keys.id, selector.queries.id)
        pairs.setdefault(pair, selector)
        return _normal({frozenset({(pair, RELATION[selector.op])}): 1})
    assert isinstance(selector, Combine)
    parts = [terms(p, pairs) for p in selector.inputs]  # type: ignore[arg-type]
    if selector.op == "not":
        return _sum({frozenset(): 1}, _scaled(parts[0], -1))
    product = _product(parts[0], parts[1])
    if selector.op == "and":
        return product
    return _sum(_sum(parts[0], parts[1]), _scaled(product, -1))


def _sum(a: Poly, b: Poly) -> Poly:
    out = dict(a)
    for term, c in b.items():
        out[term] = out.get(term, 0) + c
    return _checked({t: c for t, c in out.items() if c})


def _scaled(a: Poly, factor: int) -> Poly:
    return {t: c * factor for t, c in a.items()}


def _product(a: Poly, b: Poly) -> Poly:
    out: Poly = {}
    for ta, ca in a.items():
        for tb, cb in b.items():
            out = _sum(out, _normal({_meet(ta, tb): ca * cb}))
    return out


def _meet(a: Term, b: Term) -> Term:
    """Both terms at once: relations of the same pair intersect (the keys and queries are
    trichotomous, which `_codes` makes sure of on the input)."""
    relations = dict(a)
    for pair, rel in b:
        relations[pair] = relations.get(pair, ALL) & rel
    return frozenset(relations.items())


def _normal(p: Poly) -> Poly:
    """Terms without empty relations (nothing selected), full ones (no condition) or `!=`
    (which becomes `1 - (==)`)."""
    out: Poly = {}
    for term, c in p.items():
        if any(rel == 0 for _, rel in term):
            continue
        term = frozenset((pair, rel) for pair, rel in term if rel != ALL)
        unequal = [pair for pair, rel in term if rel == LT | GT]
        if unequal:
            rest = term - {(unequal[0], LT | GT)}
            out = _sum(out, _normal({rest: c, rest | {(unequal[0], EQ)}: -c}))
        else:
            out = _sum(out, {term: c})
    return out


def _checked(p: Poly) -> Poly:
    if len(p) > MAX_TERMS:
        raise Unplannable(f"{len(p)} terms")
    return p


# ---------------------------------------------------------------- codes of keys and queries

class Codes:
    """The keys and queries of one pair as integer codes with the same order and equality,
    over the flattened input (batch included): `keys`, `queries`, all below `bound`.
    `constant_keys` / `constant_queries`: whether one side is the same everywhere."""

    def __init__(self, keys: np.ndarray, queries: np.ndarray, shape: tuple):
        if keys is queries:  # a self-join: the codes of one side are those of the other
            # (of one query, with no empty min, unless the strings have codes already)
            some = keys if typed.strings_of(keys) is not None else keys[..., :1]
            k, _ = _numbers(*attention.comparable(keys, some, narrow=False))
            q = k
        else:
            k, q = _numbers(*attention.comparable(keys, queries, narrow=False))
        sides = [k] if q is k else [k, q]
        codes, self.bound = _side_codes(sides, k.size + q.size)
        self.constant_keys, self.constant_queries = (bool(c.min() == c.max())
                                                     for c in (codes[0], codes[-1]))
        self.keys = np.broadcast_to(codes[0], shape).ravel()
        self.queries = np.broadcast_to(codes[-1], shape).ravel()


def _side_codes(sides: list[np.ndarray], size: int) -> tuple[list[np.ndarray], int]:
    """Codes of the keys and queries (or of one side, for a self-join) below a bound: ints
    offset by their least where their range is within 4 x their number, else ranks."""
    if all(a.dtype.kind in "iu" for a in sides):
        low, high = min(int(a.min()) for a in sides), max(int(a.max()) for a in sides)
        if high - low < 4 * size:
            return [(a - low).astype(_small(high - low + 1)) for a in sides], high - low + 1
    uniques, inverse = np.unique(np.concatenate([a.ravel() for a in sides]),
                                 return_inverse=True)
    parts = np.split(inverse.ravel(), [sides[0].size])[:len(sides)]
    small = _small(len(uniques))
    return [c.reshape(a.shape).astype(small) for c, a in zip(parts, sides)], len(uniques)


def _numbers(keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keys and queries as one numeric dtype that compares them exactly, with no NaN."""
    k, q = _numeric(keys), _numeric(queries)
    if k.dtype.kind != q.dtype.kind:
        ints = k if k.dtype.kind == "i" else q
        if ints.size and max(abs(int(ints.min())), abs(int(ints.max()))) > 2**53:
            raise Unplannable("ints beyond float precision compared with floats")
        k, q = k.astype(np.float64), q.astype(np.float64)
    if k.dtype.kind == "f" and (np.isnan(k).any() or np.isnan(q).any()):
        raise Unplannable("NaN")  # compares unequal to everything: not trichotomous
    return k, q


def _numeric(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "bu" or a.dtype.kind == "i":
        return a.astype(np.int64, copy=False)
    if a.dtype.kind == "f":
        return a
    if getattr(a, "floats", None) is not None:
        return a.floats  # type: ignore[attr-defined]  # ints mixed with floats, all exact
    items = a.ravel().tolist()  # ints beyond int64, or ints mixed with floats
    if not all(isinstance(v, (int, float)) for v in items):
        raise Unplannable("strings compared with other values")
    if any(isinstance(v, int) and abs(v) > 2**53 for v in items):
        raise Unplannable("large ints")
    return a.astype(np.float64)


# ---------------------------------------------------------------- one term on the input

class Reading:
    """A term on the input: the keys it may select (`chosen`, None for all) and the queries
    that may select any (`query_mask`) by its comparisons with constants; one group code
    of keys and of queries, below `bound`, for its equalities (and the input of a batch);
    and its one order comparison (`ordered`, a pair and its relation, or None). `mask` and
    `groups` say what the mask and the groups were made of."""

    def __init__(self, term: Term, codes: dict[Pair, Codes], shape: tuple):
        self.size, n = int(np.prod(shape)), shape[-1]
        key_mask = np.ones(self.size, dtype=bool)
        self.query_mask = np.ones(self.size, dtype=bool)
        masks: list = []
        equal: list[tuple[np.ndarray, np.ndarray, int]] = []
        self.groups: tuple = ()
        if self.size > n:  # a batch: keys and queries of the same input only
            batch = np.arange(self.size) // n
            equal.append((batch, batch, self.size // n))
            self.groups = ("batch",)
        self.ordered = None
        for pair, rel in sorted(term):
            c = codes[pair]
            if c.constant_queries:
                key_mask &= _holds(rel, c.keys, c.queries[0])
                masks.append((pair, rel))
            elif c.constant_keys:
                self.query_mask &= _holds(rel, c.keys[0], c.queries)
            elif rel == EQ:
                equal.append((c.keys, c.queries, c.bound))
                self.groups += (pair,)
            elif self.ordered is None:
                self.ordered = (pair, rel)
            else:
                raise Unplannable("two order comparisons")
        self.mask = tuple(masks)
        self.chosen = np.flatnonzero(key_mask) if not key_mask.all() else None
        self.group_keys, self.group_queries, self.bound = _group(equal, self.chosen, self.size)


def _evaluated(term: Term, codes: dict[Pair, Codes], shape: tuple, sorts: dict) -> Any:
    """The term's Counts where it has only equalities of few groups, else its Ranges."""
    reading = Reading(term, codes, shape)
    if reading.ordered is None and reading.bound <= COUNTED * reading.size and not (
            _increasing(reading.group_keys)):  # (sorted keys, as in a gather, need no sort)
        return Counts(reading)
    return Ranges(reading, codes, sorts)


class Counts:
    """A term of equalities only, evaluated by counting: each query selects the keys of its
    group, so its width and sums are those of the group (np.bincount), with no sort."""

    def __init__(self, reading: Reading):
        self.keys, self.queries = reading.group_keys, reading.group_queries
        self.bound, self.chosen = reading.bound, reading.chosen
        self.width = np.bincount(self.keys, minlength=self.bound)[self.queries]
        if not reading.query_mask.all():
            self.queries = np.where(reading.query_mask, self.queries, self.bound)
            self.width = np.where(reading.query_mask, self.width, 0)

    def sums(self, numbers: np.ndarray) -> np.ndarray:
        """Each query's sum of `numbers` (int64, by flat position) over its group's keys."""
        if self.chosen is not None:
            numbers = numbers[self.chosen]
        if numbers.size and int(np.abs(numbers).max()) * numbers.size < 2**53:
            # float64 sums of ints below 2^53 are exact in any order
            by_group = np.bincount(self.keys, numbers, self.bound + 1).astype(np.int64)
        else:
            by_group = np.zeros(self.bound + 1, dtype=np.int64)
            np.add.at(by_group, self.keys, numbers)  # int64 arithmetic, which wraps alike
        return by_group[self.queries]

    def position_sums(self, where: Any) -> np.ndarray:
        """sums(flat positions) of the queries `where` (an index)."""
        if self.width.size and self.width[where].max(initial=0) > 1:
            return self.sums(np.arange(self.width.size))[where]
        at = np.zeros(self.bound + 1, dtype=np.int64)  # each group's one key, where it has one
        at[self.keys] = np.arange(self.width.size) if self.chosen is None else self.chosen
        return at[self.queries[where]]


class Ranges:
    """For each query, the keys a term selects: positions lo..hi of `order` (flat positions
    of keys, in sorted order).

    The sorted orders of keys and of queries are kept in `sorts` (the evaluation's) by what
    was sorted: the pairs compared, most significant first, and the mask of keys. Terms and
    selectors that sort the same codes share one sort; and since a stable order of the
    groups alone also sorts (group, order key) where the order key already grows with the
    position (indices, in `same_level and prefix`), it is tried first."""

    def __init__(self, reading: Reading, codes: dict[Pair, Codes], sorts: dict):
        size, chosen, groups, mask = reading.size, reading.chosen, reading.groups, reading.mask
        group_keys, group_queries, bound = (reading.group_keys, reading.group_queries,
                                            reading.bound)
        # the keys are sorted by (group, order key), and the queries are searched for as
        # composite codes `at` = group * scale + order query: with no order comparison, the
        # groups alone, and each query selects its group (EQ)
        pair, rel = reading.ordered if reading.ordered is not None else (None, EQ)
        keys, at, scale = group_keys, group_queries, 1
        if pair is not None:
            c = codes[pair]
            if bound * c.bound >= 2**62:
                (group_keys, group_queries), bound = _dense(group_keys, group_queries)
            scale = c.bound
            keys = group_keys * scale + (c.keys if chosen is None else c.keys[chosen])
            at = group_queries * scale + c.queries
        signatures = (groups, groups if pair is None else groups + (pair,))
        self._sort(keys, chosen, sorts, [(mask, s) for s in signatures],
                   group_keys if pair is not None and groups else None)
        # keys and queries of the same s-ops: the queries in the keys' order are sorted
        self_join = chosen is None and all(p[0] == p[1] for p in signatures[1] if p != "batch")
        self.lo, self.hi = self._search(at, group_queries * scale, scale, rel, self_join,
                                        sorts, *(("queries", s) for s in signatures))
        if not reading.query_mask.all():
            self.hi = np.where(reading.query_mask, self.hi, self.lo)
        del self.sorted, self.keys, self.key_order  # only the ranges are needed from here on
        # kept for the evaluation's other aggregates: in half the memory where that holds them
        small = _small(size)
        self.lo, self.hi = self.lo.astype(small), self.hi.astype(small)
        # the ranges hold whole runs of equal keys, so any order that sorts the same keys
        # serves: the first one kept is shared, and with it the prefix sums over it
        self.order: np.ndarray = sorts.setdefault(("flat", mask, groups, pair),
                                                  self.order.astype(small))
        self.sorts = sorts

    def _sort(self, keys: np.ndarray, chosen: np.ndarray | None, sorts: dict,
              signatures: list[tuple], groups: np.ndarray | None) -> None:
        """Sort `keys` by the first kept order of `signatures` (the groups', then the keys')
        that sorts them, else by a new one, kept as the last signature's. The `groups` of
        (group, order key) are sorted first: that order may sort the keys too, and serves
        the terms that sort the groups alone."""
        self.keys = keys
        if keys.size > 1 and not _increasing(keys):
            if groups is not None and signatures[0] not in sorts:
                sorts[signatures[0]] = _radix_order(groups)
            order, self.sorted = _sorted_by(keys, signatures, sorts)
        else:
            order = np.arange(keys.size)
            self.sorted = keys
        self.key_order = order
        self.order = order if chosen is None else chosen[order]  # flat positions
        # keys that are consecutive integers (positions, say) are found by subtraction
        size = self.sorted.size
        self.consecutive = bool(size and self.sorted[-1] - self.sorted[0] == size - 1 and (
            size == 1 or np.all(self.sorted[1:] != self.sorted[:-1])))

    def _search(self, at: np.ndarray, start: np.ndarray, scale: int, rel: int,
                self_join: bool, sorts: dict, *signatures: tuple) -> tuple:
        """(lo, hi) of each query, whose codes are `at` in groups that begin at `start` and
        span `scale`: where its keys in relation `rel` start and end in the sorted keys."""
        needles = {"start": start, "at": at, "end": start + scale}
        wanted = [_LOW[rel], _HIGH[rel]]
        if self.consecutive:
            first, size = self.sorted[0], self.sorted.size
            return tuple(np.clip(needles[of] - (first - (side == "right")), 0, size)
                         for of, side in wanted)
        below = self._below()
        if below is not None:  # a count of the keys below each value: no search at all
            first, top = self.sorted[0], below.size - 1
            return tuple(below[np.clip(needles[of] - (first - (side == "right")), 0, top)]
                         for of, side in wanted)
        if self_join:  # every needle is where a run of equal keys or groups starts or ends
            runs = {"at": _runs(self.sorted)}
            if rel != EQ:
                runs["start"] = runs["end"] = _runs(self.sorted // scale)
            found = []
            for of, side in wanted:
                out = np.empty(at.size, dtype=np.int64)
                out[self.key_order] = runs[of][of == "end" or side == "right"]
                found.append(out)
            return tuple(found)
        if at.size < 2 or _increasing(at):
            return tuple(np.searchsorted(self.sorted, needles[of], side) for of, side in wanted)
        # all needles grow with `at`: in its order they are sorted, which numpy searches
        # with few cache misses, ten times faster for a million
        order = _sorted_by(at, signatures, sorts)[0]
        found = []
        for of, side in wanted:
            out = np.empty(at.size, dtype=np.int64)
            out[order] = np.searchsorted(self.sorted, needles[of][order], side)
            found.append(out)
        return tuple(found)

    def _below(self) -> np.ndarray | None:
        """For integer keys of a range within 4 x their number: below[v - first] is how
        many keys are less than v (for v from the first key to one past the last)."""
        size = self.sorted.size
        if not size or self.sorted.dtype.kind not in "iu":
            return None
        span = int(self.sorted[-1]) - int(self.sorted[0])
        if span > 4 * size:
            return None
        below = np.zeros(span + 2, dtype=np.int64)
        np.cumsum(np.bincount(self.sorted - self.sorted[0], minlength=span + 1),
                  out=below[1:])
        return below

    @property
    def width(self) -> np.ndarray:
        return self.hi - self.lo

    def sums(self, numbers: np.ndarray) -> np.ndarray:
        """Each query's sum of `numbers` (int64, by flat position) over its range; int64
        arithmetic wraps, but the sums of one input's range are exact."""
        return self._sums(numbers, lambda: numbers[self.order], self.lo, self.hi)

    def position_sums(self, where: Any) -> np.ndarray:
        """sums(flat positions) of the queries `where` (an index): the keys' positions in
        their order are `order` itself."""
        lo, hi = self.lo[where], self.hi[where]
        width = hi - lo
        if not self.order.size:
            return np.zeros(width.size, dtype=np.int64)
        if np.all(width <= 1):  # (a gather: each query's one key, read from `order`)
            return np.where(width == 1, self.order[np.minimum(lo, self.order.size - 1)], 0)
        return self._sums(self.order, lambda: self.order, lo, hi)

    def _sums(self, numbers: np.ndarray, ordered: Any, lo: np.ndarray,
              hi: np.ndarray) -> np.ndarray:
        """Sums over the ranges lo..hi of `ordered()` (`numbers` in `order`), whose prefix
        sums are kept for the other terms of the same order."""
        key = ("prefix", id(self.order), id(numbers))
        if key not in self.sorts:
            prefix = np.zeros(self.order.size + 1, dtype=np.int64)
            np.cumsum(ordered(), out=prefix[1:])
            self.sorts[key] = (prefix, self.order, numbers)  # (kept, so their ids stay)
        prefix = self.sorts[key][0]
        return prefix[hi] - prefix[lo]


def _small(bound: int) -> type:
    """The integer type for numbers below `bound`."""
    return np.int32 if bound < 2**31 else np.int64


# The needles of a relation's lowest and highest key (np.searchsorted's, in `Ranges._search`):
# of the group's start, the query's own code, or the group's end
Needle = tuple[str, Side]
_LOW: dict[int, Needle] = {EQ: ("at", "left"), LT: ("start", "left"),
                           LT | EQ: ("start", "left"), GT: ("at", "right"), GT | EQ: ("at", "left")}
_HIGH: dict[int, Needle] = {EQ: ("at", "right"), LT: ("at", "left"), LT | EQ: ("at", "right"),
                            GT: ("end", "left"), GT | EQ: ("end", "left")}


def _runs(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each place of a sorted array: where its run of equal values starts, and where
    it ends (one past)."""
    new = np.empty(ordered.size, dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    run = np.cumsum(new) - 1
    return starts[run], np.append(starts[1:], ordered.size)[run]


def _increasing(a: np.ndarray) -> bool:
    return bool(np.all(a[1:] >= a[:-1]))


def _sorted_by(keys: np.ndarray, signatures: Any, sorts: dict) -> tuple[np.ndarray, np.ndarray]:
    """(order, keys[order]) sorted: by the first kept order of `signatures` that sorts them,
    else by a new one, kept as the last signature's."""
    for signature in signatures:
        order = sorts.get(signature)
        if order is not None and order.size == keys.size:
            ordered = keys[order]
            if _increasing(ordered):
                return order, ordered
    order = sorts[signature] = _radix_order(keys)
    return order, keys[order]


def _radix_order(keys: np.ndarray) -> np.ndarray:
    """A stable argsort of integers, by 16 bits at a time from the lowest: numpy's stable
    sort of 16-bit ints is a radix sort, and two passes of it take half the time of one
    argsort of a million int64s."""
    low = int(keys.min())
    span = int(keys.max()) - low
    if span >= 2**48:
        return np.argsort(keys, kind="stable")
    shifted = keys - low
    order = np.argsort((shifted & 0xFFFF).astype(np.uint16), kind="stable")
    for shift in range(16, span.bit_length(), 16):
        digit = ((shifted[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
    return order


def _holds(rel: int, keys: Any, queries: Any) -> np.ndarray:
    """Whether key and query codes stand in relation `rel`."""
    out = np.zeros(np.broadcast_shapes(np.shape(keys), np.shape(queries)), dtype=bool)
    if rel & LT:
        out |= keys < queries
    if rel & EQ:
        out |= keys == queries
    if rel & GT:
        out |= keys > queries
    return out


def _group(equal: list, chosen: np.ndarray | None, size: int) -> tuple:
    """One code for the keys (those chosen) and one for the queries that are equal exactly
    where every pair of `equal` is."""
    group_keys = np.zeros(size if chosen is None else chosen.size, dtype=np.int64)
    group_queries = np.zeros(size, dtype=np.int64)
    bound = 1
    for keys, queries, b in equal:
        if bound * b >= 2**62:
            (group_keys, group_queries), bound = _dense(group_keys, group_queries)
        keys = keys if chosen is None else keys[chosen]
        if bound == 1:  # the codes so far are all 0: this pair's codes as they are
            group_keys, group_queries = keys.astype(np.int64), queries.astype(np.int64)
        else:
            group_keys, group_queries = group_keys * b + keys, group_queries * b + queries
        bound *= b
    return group_keys, group_queries, bound


def _dense(keys: np.ndarray, queries: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], int]:
    uniques, codes = np.unique(np.concatenate([keys, queries]), return_inverse=True)
    return (codes[:keys.size], codes[keys.size:]), len(uniques)


# ---------------------------------------------------------------- the aggregate

def aggregate(node: Aggregate, values: np.ndarray, compared: dict[int, np.ndarray],
              shape: tuple, shared: dict) -> np.ndarray | None:
    """The aggregate's value, as attention.aggregate gives it, or None where the planner has no
    way to evaluate it (then the block path does)."""
    if not shape[-1] or not int(np.prod(shape)):
        return None
    try:
        values = attention.shaped(values, shape)
        mask = _uniform(node.selector, compared, shape, shared)
        if mask is not None:
            width, chosen, sums = _selected(mask, values)
        else:
            width, chosen, sums = _by_terms(node.selector, values, compared, shape, shared)
    except Unplannable:
        return None
    return attention.aggregate_result(width.reshape(shape), typed.reshaped(chosen, shape),
                                sums.reshape(shape), values, node.default, shape)


def _by_terms(selector: Selector, values: np.ndarray, compared: dict[int, np.ndarray],
              shape: tuple, shared: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Widths, copies and sums (flat) as signed sums of the terms' ranges."""
    plan = _terms(selector, shared)
    ranges = [(c, _ranges(t, plan[1], compared, shape, shared)) for t, c in plan[0].items()]
    size = int(np.prod(shape))
    width = _total([(c, r.width) for c, r in ranges], size)
    flat = typed.reshaped(values, (-1,))
    one = width == 1
    chosen = np.empty(flat.size, dtype=values.dtype)
    if one.any():
        # the positions of the queries that select one key only: often a few of them
        where: Any = slice(None) if one.all() else np.flatnonzero(one)
        at = np.zeros(size, dtype=np.int64)
        at[where] = _total([(c, r.position_sums(where)) for c, r in ranges],
                           size if one.all() else where.size)
        chosen = typed.take(flat, at)
    sums = np.zeros(flat.size)
    if np.any(width >= 2) and ops.seq_type(values) in ("ints", "floats"):
        numbers, scale = _integers(values)
        total = _total([(c, r.sums(numbers)) for c, r in ranges], size)
        sums = np.ldexp(total.astype(np.float64), -scale)
    return width, chosen, sums


def _uniform(selector: Selector, compared: dict[int, np.ndarray], shape: tuple,
             shared: dict) -> np.ndarray | None:
    """Where every query of an input selects the same keys (all queries compared are
    constants, as in `full_s` or `select(tokens, "a", ==)`): the keys selected, one row of
    them an input (batch, n); else None."""
    selects = selects_of(selector)
    codes = {s.id: _codes(s, compared, shape, shared) for s in selects}
    if not all(c.constant_queries for c in codes.values()):
        return None

    def mask(sel: Selector) -> np.ndarray:
        if isinstance(sel, Select):
            c = codes[sel.id]
            return _holds(RELATION[sel.op], c.keys, c.queries[0])
        parts = [mask(p) for p in sel.inputs]  # type: ignore[arg-type]
        if sel.op == "not":  # type: ignore[attr-defined]
            return ~parts[0]
        return parts[0] & parts[1] if sel.op == "and" else parts[0] | parts[1]  # type: ignore
    return mask(selector).reshape(-1, shape[-1])


def _selected(mask: np.ndarray, values: np.ndarray) -> tuple:
    """Widths, copies and sums (flat) where each input's queries all select `mask`'s keys."""
    n = mask.shape[-1]
    rows = values.reshape(-1, n)
    width = np.count_nonzero(mask, axis=-1)
    first = np.arange(len(rows)) * n + np.argmax(mask, axis=-1)
    chosen = typed.take(typed.reshaped(values, (-1,)), np.repeat(first, n))
    sums = np.zeros(len(rows))
    if np.any(width >= 2) and ops.seq_type(values) in ("ints", "floats"):
        numbers, scale = _integers(values)
        total = np.where(mask, numbers.reshape(-1, n), 0).sum(axis=-1)
        sums = np.ldexp(total.astype(np.float64), -scale)
    return np.repeat(width, n), chosen, np.repeat(sums, n)


def _total(parts: list[tuple[int, np.ndarray]], size: int) -> np.ndarray:
    """The signed sum of the terms' parts (coefficient, array), as int64 (a term's own array
    where it is the only one: never written to, as it may be kept)."""
    if len(parts) == 1 and parts[0][0] == 1:
        return parts[0][1].astype(np.int64, copy=False)
    total = np.zeros(size, dtype=np.int64)
    for c, part in parts:
        total += c * part
    return total


def _terms(selector: Selector, shared: dict) -> tuple[Poly, dict[Pair, Select]]:
    key = ("terms", selector.id)
    if key not in shared:
        pairs: dict[Pair, Select] = {}
        try:
            shared[key] = (terms(selector, pairs), pairs)
        except Unplannable as e:
            shared[key] = e
    if isinstance(shared[key], Unplannable):
        raise shared[key]
    return shared[key]


def _ranges(term: Term, pairs: dict[Pair, Select], compared: dict[int, np.ndarray],
            shape: tuple, shared: dict) -> Counts | Ranges:
    key = ("ranges", term)
    if key not in shared:
        codes = {pair: _codes(pairs[pair], compared, shape, shared) for pair, _ in term}
        try:
            shared[key] = _evaluated(term, codes, shape, shared.setdefault("sorts", {}))
        except Unplannable as e:
            shared[key] = e
    if isinstance(shared[key], Unplannable):
        raise shared[key]
    return shared[key]


def _codes(select: Select, compared: dict[int, np.ndarray], shape: tuple,
           shared: dict) -> Codes:
    key = ("codes", select.keys.id, select.queries.id)
    if key not in shared:
        try:
            shared[key] = Codes(compared[select.keys.id], compared[select.queries.id], shape)
        except Unplannable as e:
            shared[key] = e
    if isinstance(shared[key], Unplannable):
        raise shared[key]
    return shared[key]


def _integers(values: np.ndarray) -> tuple[np.ndarray, int]:
    """The values as int64 multiples of 2^-scale whose sums are exact, flat; or Unplannable
    where float sums could depend on their order (or ints need Python's)."""
    n = values.shape[-1]
    flat = values.reshape(-1)
    if flat.dtype.kind in "iu":
        # beyond 2^53 the block path sums by Python and rounds the sum to a float once, as
        # the conversion of an exact int64 sum does
        largest = max(abs(int(flat.min())), abs(int(flat.max())))
        if largest * n >= 2**63:
            raise Unplannable("large ints")
        return flat.astype(np.int64), 0
    numbers = typed.numbers_of(values)
    if flat.dtype.kind == "O" and numbers is not None:
        floats, is_float = (a.reshape(-1) for a in numbers)
        if np.abs(np.where(is_float, 0, floats)).max() * n >= 2**53:
            raise Unplannable("large ints")
        flat = floats
    elif flat.dtype.kind == "O":
        items = flat.tolist()
        if any(not isinstance(v, float) and abs(v) * n >= 2**53 for v in items):
            raise Unplannable("large ints")
        flat = flat.astype(np.float64)
    if not np.isfinite(flat).all():
        raise Unplannable("infinite values")
    mantissas, exponents = np.frexp(flat)
    whole = np.ldexp(mantissas, 53).astype(np.int64)  # exact: 53-bit integers
    nonzero = whole != 0
    if not nonzero.any():
        return np.zeros(flat.size, dtype=np.int64), 0
    low = (exponents - 53 + _trailing_zeros(whole))[nonzero].min()
    scale = int(-low)
    if scale > 1000:
        raise Unplannable("tiny values")
    numbers = np.ldexp(flat, scale)
    if np.abs(numbers).max() * n >= 2**53:
        raise Unplannable("float sums could round")
    return numbers.astype(np.int64), scale


def _trailing_zeros(whole: np.ndarray) -> np.ndarray:
    lowest = np.abs(whole) & -np.abs(whole)
    return np.where(whole != 0, np.log2(np.maximum(lowest, 1)).astype(np.int64), 0)
