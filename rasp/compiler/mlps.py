"""Feed-forward blocks: each computes the features of one layer as lookup tables.

A product is a feature (a map, or the joint values a later head reads) tabulated over the
reachable combinations of the s-ops it is computed from (its leaves, in the residual):

* categorical leaves only: one hidden unit per combination, ReLU(sum of the leaves' one-hot
  dimensions - (p - 1)), which is 1 exactly at that combination; it writes the result's
  one-hot (tracr's lookup table, with reachable combinations only);
* one numerical leaf x: for each combination c of the categorical leaves, a unit gives the
  result at the smallest x, and a pair of units per point where the result changes adds the
  difference: ReLU(L (x - t) + 1 - M g) - ReLU(L (x - t) - M g), a step of height 1 at the
  midpoint t between two consecutive values of x, with L = 4 / their gap (every value is at
  least 2 / L from t) and g = 0 when c matches, >= 1 otherwise (M large enough to switch it
  off);
* several numerical leaves: a two-layer block. The first layer cuts each numerical leaf into
  the intervals the table distinguishes (steps as above), the second looks up the
  combination of intervals and categorical values.

A numerical leaf is a `Form`: a number held in the residual, or an affine function of several
(linear.py), which the step units compute in their own pre-activation. A `Linear` feature is
such a form written as one number: ReLU(s) - ReLU(-s), one unit of the two where the sign of
s is known.

Every unit is switched off at the BOS position (its BOS weight makes its input -1 there), so
the block writes nothing at BOS.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .blocks import BOS, ONE, Block, Encoding, Feature, Layout, value_key
from .graph import SOp
from .valuesets import (
    ERROR,
    REMEDY,
    Either,
    Limits,
    is_number,
    refusal,
    representative,
    unique,
    variants,
)


@dataclass(frozen=True)
class Form:
    """A number a block computes from the residual: `const + sum(weights[d] * x[d])`, whose
    terms are at most `scale` in magnitude together, within `error` of the interpreter's
    value of the s-op it stands for (linear.error_bound)."""

    weights: dict[int, float]
    const: float
    scale: float
    error: float = 0.0


@dataclass
class Linear:
    """An affine map held as one number: the form, written to the feature's block."""

    feature: Feature
    name: str
    node: SOp
    form: Form
    sign: int  # 1: never negative, -1: never positive, 0: either


@dataclass
class Product:
    feature: Feature  # the block it writes
    name: str
    node: SOp  # the node it belongs to (for messages)
    leaves: list[SOp]
    combos: list[tuple]
    results: list  # the value at each combination, or ERROR
    values: list = field(default_factory=list)  # the block's values, set by `collapse`
    table: dict = field(default_factory=dict)  # set by `collapse`
    # a feature kept as classes (layout._classes): each representative's key -> its class
    members: dict = field(default_factory=dict)
    # per leaf: how the block computes a numerical one (None: a one-hot block); by default
    # its block's number
    forms: list[Form | None] = field(default_factory=list)

    def collapse(self, blocks: list[Block | None]) -> dict[tuple, tuple[tuple, Any]]:
        """The table as the model sees its inputs: a categorical leaf by the dimension that is
        1 (a value may show in its own class or in an Either class), a numerical one by its
        number alone. Where one input gives different results, numbers of one value become
        an Either class; anything else depends on what the encoding cannot see: refused."""
        table: dict[tuple, tuple[tuple, Any]] = {}
        seen_as: list[dict] = [{} for _ in blocks]  # per leaf: value key -> what it shows
        for combo, result in zip(self.combos, self.results):
            options = []
            for v, b, memo in zip(combo, blocks, seen_as):
                k = value_key(v)
                if k not in memo:
                    memo[k] = [float(v)] if b is None else b.seen_as(v)
                options.append(memo[k])
            for seen in itertools.product(*options):
                self._enter(table, seen, combo, result)
        self.values = _unique_values(r for _, r in table.values())
        self.table = table
        return table

    def _enter(self, table: dict, seen: tuple, combo: tuple, result: Any) -> None:
        if seen not in table or table[seen][1] is ERROR:
            table[seen] = (seen, result)
            return
        old = table[seen][1]
        if result is ERROR or value_key(old) == value_key(result):
            return
        if all(is_number(v) for v in variants(old) + variants(result)) and \
                representative(old) == representative(result):
            merged = unique(variants(old) + variants(result))
            table[seen] = (seen, Either(tuple(merged)))
            return
        raise refusal(self.node, f"'{self.name}' depends on what its encoding cannot see: "
                                 f"{combo!r} gives {result!r} where an input the model "
                                 f"cannot tell from it gives {old!r} (an averaged number "
                                 f"and a copied one, 3.0 and 3, look the same)")


def _unique_values(results: Any) -> list:
    found: dict = {}
    for r in results:
        if r is not ERROR:
            found.setdefault(value_key(r), r)
    return list(found.values())


class Units:
    """Hidden units of one layer: sparse input weights, a bias and sparse output weights."""

    def __init__(self) -> None:
        self.inputs: list[dict[int, float]] = []
        self.bias: list[float] = []
        self.outputs: list[dict[int, float]] = []
        self.signed: set[int] = set()  # units writing a number: passed on one by one

    def unit(self, inputs: dict[int, float], bias: float,
             outputs: dict[int, float] | None = None, signed: bool = False) -> int:
        self.inputs.append(inputs)
        self.bias.append(bias)
        self.outputs.append(outputs or {})
        if signed:
            self.signed.add(len(self.bias) - 1)
        return len(self.bias) - 1

    def __len__(self) -> int:
        return len(self.bias)


@dataclass
class FeedForward:
    weights: list[np.ndarray]
    biases: list[np.ndarray]

    @property
    def hidden(self) -> list[int]:
        return [len(b) for b in self.biases[:-1]]


def build_feedforward(products: list[Product], layout: Layout, bos: np.ndarray,
                      limits: Limits, layer: int, linears: Sequence[Linear] = (),
                      erased: Sequence[Block] = (),
                      target: SOp | None = None) -> FeedForward | None:
    """The block computing `products` and `linears` from the residual, and erasing the
    `erased` blocks (a refusal of a block that only erases is told at `target`); None if
    there is nothing to do."""
    if not products and not linears and not erased:
        return None
    first, second = Units(), Units()
    where = linears[0].node if linears else products[0].node if products else target
    budget = _Budget(limits, layer, first, second, where)
    for linear in linears:
        _linear(linear, layout.of[linear.feature], first)
    erasing = [i for block in erased for i in _erase(block, first)]
    two_deep = []
    for product in products:
        forms = product.forms or [_held(product, i, layout) for i in range(len(product.leaves))]
        table = product.table
        out = layout.of[product.feature]
        if sum(f is not None for f in forms) >= 2:
            two_deep.append((product, forms, table, out))
        else:
            _one_layer(product, forms, table, out, first)
            budget.spent(product)
    if two_deep:
        # one-layer products pass through the second layer one output dimension at a time:
        # each dimension is a 0/1 sum of first-layer units, which a ReLU leaves as it is; a
        # unit writing a number (>= 0 after its ReLU) passes alone
        through: dict[tuple, dict[int, float]] = {}
        for i in range(len(first)):
            for d, w in first.outputs[i].items():
                through.setdefault((d, i) if i in first.signed else (d, -1), {})[i] = w
            first.outputs[i] = {}
        for (d, i), inputs in sorted(through.items()):
            if i < 0:
                second.unit(inputs, 0.0, {d: 1.0})
            else:
                second.unit({i: 1.0}, 0.0, {d: inputs[i]})
        for product, forms, table, out in two_deep:
            _two_layers(product, forms, table, out, first, second)
            budget.spent(product)
    budget.check()
    width = layout.width
    budget.weights(width)
    w1 = _dense(first.inputs, width, len(first)).T
    b1 = np.array(first.bias)
    # switch every first-layer unit off at BOS: its input there is exactly -1; but the
    # erasing units, which erase what BOS holds too
    w1[BOS] = 0.0
    w1[BOS] = -1.0 - (bos @ w1 + b1)
    w1[BOS, erasing] = 0.0
    if np.any(np.delete(bos @ w1 + b1, erasing) > -0.5):  # the -1 lost beside what BOS holds
        assert budget.where is not None  # switched off: the units of a table or a map
        raise refusal(budget.where, f"the feed-forward block of layer {layer} cannot switch "
                                    f"its units off at the BOS position exactly: it holds "
                                    f"numbers as large as {np.abs(bos).max():g}, past "
                                    f"float64's precision")
    if not two_deep:
        return FeedForward([w1, _dense(first.outputs, width, len(first))],
                           [b1, np.zeros(width)])
    w2 = _dense(second.inputs, len(first), len(second)).T
    return FeedForward([w1, w2, _dense(second.outputs, width, len(second))],
                       [b1, np.array(second.bias), np.zeros(width)])


class _Budget:
    """The hidden units of one block, checked against --max-units after each table's units
    are added, and its weights against --max-weights, before any matrix is built: a refusal
    names the table that takes most units."""

    def __init__(self, limits: Limits, layer: int, first: Units, second: Units,
                 where: SOp | None):
        self.limits, self.layer, self.first, self.second = limits, layer, first, second
        self.where = where  # the refusal's node where no table takes units (linear blocks)
        self.used = 0
        self.by: list[tuple[int, Product]] = []

    def spent(self, product: Product) -> None:
        units = len(self.first) + len(self.second)
        self.by.append((units - self.used, product))
        self.used = units
        self.check()

    def check(self) -> None:
        units = len(self.first) + len(self.second)
        if units > self.limits.max_units:
            self.refuse(f"needs at least {units:,} hidden units (limit --max-units "
                        f"{self.limits.max_units:,})")

    def weights(self, width: int) -> None:
        """The weights its matrices will hold: [d_model, first], [first, second] and
        [first or second, d_model]."""
        first, second = len(self.first), len(self.second)
        count = first * width + second * (first + width) + (0 if second else first * width)
        if count > self.limits.max_weights:
            self.refuse(f"would hold {count:,} weights ({first + second:,} hidden units, "
                        f"d_model {width:,}; {count * 8 / 1e9:.1f} GB in float64) (limit "
                        f"--max-weights {self.limits.max_weights:,})")

    def refuse(self, what: str) -> None:
        if not self.by:
            assert self.where is not None, "a block that only erases, refused: no target given"
            raise refusal(self.where, f"the feed-forward block of layer {self.layer} {what}; "
                                      f"{REMEDY}")
        most, worst = max(self.by, key=lambda pair: pair[0])
        leaves = ", ".join(f"'{leaf.title}' ({len({value_key(c[j]) for c in worst.combos}):,}"
                           f" values)" for j, leaf in enumerate(worst.leaves))
        raise refusal(worst.node, f"the feed-forward block of layer {self.layer} {what}, "
                                  f"{most:,} of its units for '{worst.name}', a table over "
                                  f"{leaves or 'nothing'}; {REMEDY}")


def _dense(rows: list[dict[int, float]], width: int, count: int) -> np.ndarray:
    out = np.zeros((count, width))
    for i, row in enumerate(rows):
        for j, w in row.items():
            out[i, j] += w
    return out


def _encode(out: Block, value: Any) -> dict[int, float]:
    dim = out.dim(value)
    assert dim is not None, (out.name, value)
    return {dim: 1.0}


def _difference(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
    diff = dict(a)
    for j, w in b.items():
        diff[j] = diff.get(j, 0.0) - w
    return {j: w for j, w in diff.items() if w != 0.0}


# A step unit adds its +1 to terms as large as steep * |x| (and its gate's) in float64, so
# the step is exact only while they stay far below 2^53: past PRECISION (where rounding could
# reach 2^-22 per unit) the block is refused.
PRECISION = 2.0 ** 30


def _step(product: Product, leaf: SOp, form: Form, t: float, gap: float, xs: list[float],
          shift: float = 0.0, gates: float = 0.0) -> tuple[dict[int, float], float]:
    """Input weights and bias of steep * (x - t), x the leaf's form, with steep = 4 / gap;
    refused where float64 cannot compute it well within a quarter of the gap: its terms
    (with the unit's +1, a gate's `shift` and weights `gates`) past PRECISION, or the form's
    own error."""
    steep = 4.0 / gap
    bias = steep * (form.const - t)
    reach = steep * form.scale + abs(bias + 1.0 + shift) + gates
    if reach > PRECISION or steep * form.error > 0.25:
        raise refusal(product.node, f"the feed-forward block computing '{product.name}' "
                                    f"cannot tell the values of '{leaf.title}' apart exactly "
                                    f"in float64: they reach {max(map(abs, xs)):g} with gaps "
                                    f"as small as {gap:g} (a step unit would add terms of "
                                    f"{reach:.3g}, past 2^30)")
    return {d: steep * c for d, c in form.weights.items()}, bias


def _held(product: Product, i: int, layout: Layout) -> Form | None:
    """A leaf's number as its block holds it (None: a one-hot block)."""
    block = layout.node(product.leaves[i])
    if block.encoding is not Encoding.NUMERICAL:
        return None
    scale = max((abs(c[i]) for c in product.combos if is_number(c[i])), default=0.0)
    return Form({block.start: 1.0}, 0.0, scale)


def _linear(linear: Linear, out: Block, units: Units) -> None:
    """ReLU(s) - ReLU(-s) = s, s the form: the unit of a sign it never takes left out."""
    form = linear.form
    for sign in (1.0, -1.0):
        if linear.sign != -sign:
            units.unit({d: sign * c for d, c in form.weights.items()}, sign * form.const,
                       {out.start: sign}, signed=True)


def erasing_signs(block: Block) -> tuple[float, ...]:
    """The erasing units of each of a block's dimensions x: ReLU(x) and ReLU(-x), whose
    outputs -ReLU(x) + ReLU(-x) = -x add to x exactly 0 in any float precision. An
    embedding's one-hot block holds only 0s and 1s (at BOS, 0s): ReLU(x) alone is x there."""
    if block.written == 0 and block.encoding is Encoding.CATEGORICAL:
        return (1.0,)
    return (1.0, -1.0)


def _erase(block: Block, units: Units) -> list[int]:
    """The units writing minus what the block holds in the dimensions a later block takes
    (erasing_signs), passed on one by one."""
    return [units.unit({d: sign}, 0.0, {d: -sign}, signed=True)
            for d in block.wiped for sign in erasing_signs(block)]


def _leaf_dims(forms: list[Form | None], seen: tuple) -> list[int]:
    """The one-hot dimensions an entry of the table reads."""
    return [d for d, form in zip(seen, forms) if form is None]


def _gate(dims: list[int], scale: float = 1.0) -> tuple[dict[int, float], float]:
    """Input weights and bias that are `scale` when all of `dims` are 1, <= 0 otherwise."""
    if not dims:
        return {ONE: scale}, 0.0
    inputs: dict[int, float] = {}
    for d in dims:
        inputs[d] = inputs.get(d, 0.0) + scale
    return inputs, -scale * (len(dims) - 1)


def _one_layer(product: Product, forms: list[Form | None], table: dict, out: Block,
               units: Units) -> None:
    by_rest: dict[tuple, tuple[list[int], list[tuple[Any, Any]]]] = {}
    xs: list[float] = []
    for seen, result in table.values():
        if result is ERROR:
            continue
        dims = _leaf_dims(forms, seen)
        rest = tuple(dims)
        x = next((v for v, form in zip(seen, forms) if form is not None), None)
        by_rest.setdefault(rest, (dims, []))[1].append((x, result))
        if x is not None:
            xs.append(x)
    if not xs:  # categorical leaves only: a lookup
        for dims, ((_, result),) in by_rest.values():
            inputs, bias = _gate(dims)
            units.unit(inputs, bias, _encode(out, result))
        return
    ((leaf, form),) = [(leaf, f) for leaf, f in zip(product.leaves, forms) if f is not None]
    low, high = min(xs), max(xs)
    for dims, points in by_rest.values():
        points.sort(key=lambda p: p[0])
        inputs, bias = _gate(dims)
        units.unit(inputs, bias, _encode(out, points[0][1]))
        for (xa, ra), (xb, rb) in zip(points, points[1:]):
            if value_key(ra) == value_key(rb):
                continue
            t = (xa + xb) / 2
            steep = 4.0 / (xb - xa)
            big = steep * max(high - t, t - low) + 2.0
            gate, gate_bias = _gate(dims, big) if dims else ({}, 0.0)
            shift = gate_bias - big if dims else 0.0
            x_weights, x_bias = _step(product, leaf, form, t, xb - xa, xs, shift,
                                      sum(gate.values()))
            step = _difference(_encode(out, rb), _encode(out, ra))
            for offset, sign in ((1.0, 1.0), (0.0, -1.0)):
                weights = dict(gate)
                for d, w in x_weights.items():
                    weights[d] = weights.get(d, 0.0) + w
                units.unit(weights, x_bias + offset + shift,
                           {j: sign * w for j, w in step.items()})


def _two_layers(product: Product, forms: list[Form | None], table: dict, out: Block,
                first: Units, second: Units) -> None:
    entries = [(seen, r) for seen, r in table.values() if r is not ERROR]
    result_keys = [value_key(r) for _, r in entries]
    positions = [i for i, form in enumerate(forms) if form is not None]
    # each numerical leaf is cut where, for some values of the others, the result changes
    cuts: dict[int, list[float]] = {}
    for i in positions:
        grid = sorted({seen[i] for seen, _ in entries})
        needed: set[int] = set()
        by_rest: dict[tuple, list[tuple[float, Any]]] = {}
        for (seen, _), rk in zip(entries, result_keys):  # a seen tuple holds dims and floats
            by_rest.setdefault(seen[:i] + seen[i + 1:], []).append((seen[i], rk))
        for points in by_rest.values():
            points.sort(key=lambda p: p[0])
            for (_, ka), (xb, kb) in zip(points, points[1:]):
                if ka != kb:
                    needed.add(bisect.bisect_left(grid, xb))
        cuts[i] = sorted((grid[b - 1] + grid[b]) / 2 for b in needed)
    _refine(entries, result_keys, positions, cuts)
    # first layer: the categorical dimensions as they are, and the steps of each cut
    pass_unit: dict[int, int] = {}

    def passed(dim: int) -> int:
        if dim not in pass_unit:
            pass_unit[dim] = first.unit({dim: 1.0}, 0.0)
        return pass_unit[dim]

    steps: dict[int, list[tuple[int, int]]] = {}
    for i in positions:
        form = forms[i]
        assert form is not None
        grid = sorted({seen[i] for seen, _ in entries})
        pairs = []
        for t in cuts[i]:
            j = bisect.bisect_left(grid, t)
            weights, bias = _step(product, product.leaves[i], form, t, grid[j] - grid[j - 1],
                                  grid)
            pairs.append((first.unit(weights, bias + 1.0), first.unit(weights, bias)))
        steps[i] = pairs
    one = passed(ONE)
    # second layer: one unit per combination of intervals and categorical values
    looked: dict[tuple, Any] = {}
    cells: set[tuple] = set()
    for seen, r in entries:
        # the interval of each number: between cuts k-1 and k
        cell = tuple(bisect.bisect_left(cuts[i], v) if forms[i] is not None else v
                     for i, v in enumerate(seen))
        if cell in cells:
            continue  # another entry of the same intervals: the same result, by the cuts
        cells.add(cell)
        dims = _leaf_dims(forms, seen)
        inputs: dict[int, float] = {}
        for d in dims:
            inputs[passed(d)] = inputs.get(passed(d), 0.0) + 1.0
        for i in positions:
            for unit, w in _interval(steps[i], cell[i], one):
                inputs[unit] = inputs.get(unit, 0.0) + w
        signature = tuple(sorted(inputs.items()))
        if signature in looked:
            continue  # another entry of the same intervals: the same result, by the cuts
        looked[signature] = r
        m = len(dims) + len(positions)
        second.unit(inputs, -(m - 1.0), _encode(out, r))


def _refine(entries: list[tuple[tuple, Any]], result_keys: list, positions: list[int],
            cuts: dict[int, list[float]]) -> None:
    """Add cuts until entries in the same intervals (and categorical values) have the same
    result. The cuts above separate results along one numerical leaf at a time; two entries
    that differ in several may still share their intervals with different results."""
    while True:
        first: dict[tuple, int] = {}
        added = False
        for e, ((seen, _), rk) in enumerate(zip(entries, result_keys)):
            cell = tuple(bisect.bisect_left(cuts[i], v) if i in cuts else v
                         for i, v in enumerate(seen))
            other = first.setdefault(cell, e)
            if result_keys[other] == rk:
                continue
            a = entries[other][0]
            i = next(i for i in positions if a[i] != seen[i])
            grid = sorted({s[i] for s, _ in entries})
            j = bisect.bisect_left(grid, max(a[i], seen[i]))
            bisect.insort(cuts[i], (grid[j - 1] + grid[j]) / 2)  # a midpoint, as every cut
            added = True
            break
        if not added:
            return


def _interval(pairs: list[tuple[int, int]], k: int, one: int) -> list[tuple[int, float]]:
    """First-layer units whose sum is 1 when x lies in interval k (past k cuts), else 0:
    step(cut k-1) - step(cut k), where a step is its first unit minus its second."""
    terms: list[tuple[int, float]] = []
    if k == 0:
        terms.append((one, 1.0))
    else:
        up, down = pairs[k - 1]
        terms += [(up, 1.0), (down, -1.0)]
    if k < len(pairs):
        up, down = pairs[k]
        terms += [(up, -1.0), (down, 1.0)]
    return terms
