"""Affine maps of numbers: found in a map's expression, computed by a linear block.

A chain of maps built from `a + b`, `a - b`, `-a`, `c * a`, `a * c`, `a / c` and `a + c`
(c a constant number) is `const + sum of coef * leaf` over the s-ops below the chain; so is a
map of a Python function annotated `linear` with its factors (tracr's LinearSequenceMap, as
rasp.compat.tracr imports it), once checked on every reachable combination of its inputs. Where
every leaf holds numbers (an average, held as one number, or a one-hot block of numbers, whose
number is the sum of its dimensions times their values), the chain's value is a linear
function of the residual: one pre-activation computes it, and ReLU(s) - ReLU(-s) (one unit
when the sign is known) writes it as one number, however many values it can take. A table of
the same chain needs a unit per reachable combination of the leaves' values.

Exact: the model and the interpreter compute the same real number, each with a float64
rounding per operation (the model sums in the order of its matrix product, the interpreter in
its expression's): they differ by at most `error_bound`, a few units of the last place of the
largest term of any step (cancelled ones included), and not at all when every term and
factor is an integer below 2^53. A feed-forward block
reading such a number cuts it at midpoints between its values with steps whose slope times
that bound stays far below 1 (mlps.py checks it); an output is compared within 1e-6 relative.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .graph import Constant, Map, SOp
from .valuesets import is_number

# The annotation of a map of a Python function that is `sum(factor_i * input_i)`: its factors
# (the tracr importer's LinearSequenceMap); the plan checks it on the reachable values.
LINEAR = "linear"
UNIT = 2.0 ** -53  # float64's unit roundoff
OUTPUT_ERROR = 1e-12  # the most an output may differ from the interpreter (verify: 1e-6 rel.)


@dataclass(frozen=True)
class Affine:
    """`const + sum(terms[leaf.id] * leaf)`; `operations`: the float operations of the
    expression it came from (each may round once); `spread` and `spread_const`: the sums of
    the absolute coefficients and constants of every step of it, cancelled ones included
    (`(a + b) - b` rounds at the size of b), which bound the size of what it rounds."""

    terms: dict[int, float]
    leaves: dict[int, SOp]
    const: float = 0.0
    operations: int = 0
    spread: dict[int, float] = field(default_factory=dict)
    spread_const: float = 0.0
    whole: bool = True  # every constant and factor of every step an integer

    def plus(self, other: Affine, sign: float = 1.0) -> Affine:
        terms, spread = dict(self.terms), dict(self.spread)
        for i, c in other.terms.items():
            terms[i] = terms.get(i, 0.0) + sign * c
        for i, c in other.spread.items():
            spread[i] = spread.get(i, 0.0) + c
        return Affine({i: c for i, c in terms.items() if c != 0.0},
                      {**self.leaves, **other.leaves}, self.const + sign * other.const,
                      self.operations + other.operations + 1, spread,
                      self.spread_const + other.spread_const, self.whole and other.whole)

    def times(self, factor: float) -> Affine:
        return Affine({i: c * factor for i, c in self.terms.items()}, self.leaves,
                      self.const * factor, self.operations + 1,
                      {i: c * abs(factor) for i, c in self.spread.items()},
                      self.spread_const * abs(factor), self.whole and factor.is_integer())

    @property
    def sources(self) -> list[SOp]:
        """The leaves with a nonzero coefficient, by id."""
        return sorted((self.leaves[i] for i in self.terms), key=lambda n: n.id)


def affine_of(node: SOp, depth_of: Mapping[int, int], depth: int) -> Affine | None:
    """`node` as an affine function of the s-ops below its maps of `depth`, from the maps'
    operations alone; None where some map is not one of those listed above."""
    if isinstance(node, Constant):
        return _number(node.value)
    if not isinstance(node, Map) or depth_of[node.id] != depth:
        return Affine({node.id: 1.0}, {node.id: node}, spread={node.id: 1.0})
    op = node.operation
    args: list[Affine | None] = [affine_of(n, depth_of, depth) if isinstance(n, SOp)
                                 else None for n in node.inputs]
    if op.kind == "binary" and len(args) == 1:
        args.append(_number(op.constant))
    if any(a is None for a in args):
        return None
    if op.kind == "function":  # a Python function: affine where it says so (and is checked)
        factors = [_number(c) for c in node.annotations.get(LINEAR, ())]
        if len(factors) != len(args) or any(f is None for f in factors):
            return None
        total = Affine({}, {})
        for f, a in zip(factors, args):  # f * a, summed: as a Python function computes it
            assert f is not None and a is not None
            total = total.plus(a.times(f.const))
        return total
    if op.kind == "unary" and op.symbol in ("-", "+") and len(args) == 1:
        (a,) = args
        assert a is not None
        return a.times(-1.0 if op.symbol == "-" else 1.0)
    if op.kind != "binary" or len(args) != 2:
        return None
    a, b = args
    assert a is not None and b is not None
    if op.symbol in ("+", "-"):
        return a.plus(b, 1.0 if op.symbol == "+" else -1.0)
    if op.symbol == "*" and not b.terms:
        return a.times(b.const)
    if op.symbol == "*" and not a.terms:
        return b.times(a.const)
    if op.symbol == "/" and not b.terms and b.const != 0.0:
        return a.times(1.0 / b.const)
    return None


def functions(node: SOp, depth_of: Mapping[int, int], depth: int) -> bool:
    """Whether the chain of maps of `depth` at `node` holds a map of a Python function."""
    if not isinstance(node, Map) or depth_of[node.id] != depth:
        return False
    return node.operation.kind == "function" or \
        any(isinstance(n, SOp) and functions(n, depth_of, depth) for n in node.inputs)


def _number(value: object) -> Affine | None:
    if not is_number(value):
        return None
    number = float(value)  # type: ignore[arg-type]
    if number != value or abs(number) == float("inf"):
        return None  # an int beyond float64's integers, or an infinity: not this block's
    return Affine({}, {}, number, spread_const=abs(number), whole=number.is_integer())


def error_bound(affine: Affine, largest: Mapping[int, float], errors: Mapping[int, float],
                integral: bool) -> float:
    """How far the model's value may be from the interpreter's: each computes the same real
    number with a rounding per operation, on leaves (every one the expression reads, also
    those it cancels) `largest` in magnitude that the model holds within `errors` of the
    interpreter's. None of it when every term and partial sum is an integer below 2^53
    (`integral`: the leaves' values and every constant and coefficient are)."""
    scale = affine.spread_const + sum(c * largest[i] for i, c in affine.spread.items())
    inherited = sum(abs(c) * errors.get(i, 0.0) for i, c in affine.terms.items())
    if integral and affine.whole and scale < 2.0 ** 53 and inherited == 0.0:
        return 0.0
    steps = affine.operations + 2 * len(affine.terms) + 2
    return inherited + 2 * steps * UNIT * scale
