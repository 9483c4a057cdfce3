"""What each s-op can hold, computed with the interpreter's own kernels.

A value set is a sound over-approximation: every value an s-op takes on some input within the
vocabulary and the maximum length is in it. Values are Python atoms, kept apart by type (the
int 3, the float 3.0 and True are three values), since the programs tell them apart.

Three facts make the sets small, and the tables built from them:

* an s-op that does not depend on the tokens (`length`, `length - 1 - indices`) is evaluated on
  a dummy input of every length: its value at every position is then known exactly;
* so is the width of a selector that does not depend on the tokens, and with it the values an
  aggregate through it can take at each position (one copy, or a mean of w values);
* a map's values are its function applied to the reachable combinations of the s-ops it is
  computed from, evaluated by the node's own `compute`; combinations on which the function
  raises are "don't care": the interpreter raises on any input that reaches them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import ops
from ..errors import RaspError, RaspLimitError, RaspValueError
from .graph import (
    Aggregate,
    Combine,
    Constant,
    Indices,
    Map,
    Node,
    Select,
    Selector,
    SOp,
    Tokens,
    evaluate,
    graph_below,
    input_array,
    selects_of,
)


class _Error:
    def __repr__(self) -> str:
        return "<error>"


ERROR: Any = _Error()  # a table entry where the interpreter raises


# what a refusal of a table or a block too large suggests
REMEDY = ("a smaller vocabulary or max_len, a larger limit, or a program that computes the "
          "parts in separate layers (or from fewer s-ops) would compile it")


@dataclass(frozen=True)
class Limits:
    """How large the compiler lets things grow; each is a flag of `rasp compile`."""

    max_values: int = 20_000  # values of one s-op
    max_table: int = 500_000  # combinations of one feed-forward table
    max_units: int = 200_000  # hidden units of one feed-forward sublayer
    max_weights: int = 50_000_000  # weights of one feed-forward sublayer (400 MB)


@dataclass(frozen=True)
class Either:
    """Numbers of one value and different types (3 and 3.0) that the model cannot tell apart
    at some point: one class, whose consumers must give one result for all of them."""

    variants: tuple

    @property
    def value(self) -> float:
        return float(self.variants[0])


def key(value: Any) -> tuple:
    """Equal for atoms the programs cannot tell apart (0.0 and -0.0 print differently)."""
    if isinstance(value, Either):
        return ("either", tuple(key(v) for v in value.variants))
    return ops.atom_key(value)


def representative(value: Any) -> Any:
    return value.value if isinstance(value, Either) else value


def variants(value: Any) -> tuple:
    return value.variants if isinstance(value, Either) else (value,)


def unique(values: Iterable[Any]) -> list:
    found: dict[tuple, Any] = {}
    for v in values:
        if v is not ERROR:
            found.setdefault(key(v), v)
    return sorted(found.values(), key=_order)


def _order(value: Any) -> tuple:
    if isinstance(value, Either):
        return (0, value.value, "either")
    if isinstance(value, str):
        return (1, 0.0, value)
    if isinstance(value, bool):
        return (0, float(value), "bool")
    return (0, float(value), type(value).__name__)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def refusal(node: Node, message: str) -> RaspError:
    """A positioned error about `node`, with the calls it was built in."""
    error = RaspLimitError(message, node.span)
    for note, span in reversed(getattr(node, "trace", ())):
        error.noted(note, span)
    error.node = node
    return error.rehomed()  # a node the library built: told at the user's call of it


class Facts:
    """Value sets, exact values and widths of the nodes below a target, computed on demand."""

    def __init__(self, vocab: Sequence[Any], max_len: int, limits: Limits):
        self.vocab = list(vocab)
        self.max_len = max_len
        self.limits = limits
        self._domains: dict[int, list] = {}
        self._exact: dict[int, list[np.ndarray | None]] = {}
        self._widths: dict[int, list[np.ndarray | None] | None] = {}
        self._independent: dict[int, bool] = {}
        self._numeric: dict[int, bool] = {}
        self._dummy_caches: list[dict] = [{} for _ in range(max_len + 1)]
        self._sums: dict[int, Sums] = {}  # per averaging aggregate
        # maps whose values are known per position from their inputs' (the plan's affine
        # maps: a table of several of them stays the size of what each position can hold)
        self.by_position: set[int] = set()
        self._images: dict[tuple, list] = {}

    # ------------------------------------------------------------ exact facts

    def independent(self, node: Node) -> bool:
        """Whether `node` never reads the tokens."""
        if node.id not in self._independent:
            self._independent[node.id] = not any(isinstance(n, Tokens)
                                                 for n in graph_below(node))
        return self._independent[node.id]

    def exact(self, node: SOp) -> list[np.ndarray | None]:
        """A token-independent s-op's value on every length n (index n; None where the
        interpreter raises on every input of that length)."""
        if node.id not in self._exact:
            values: list[np.ndarray | None] = [None]
            for n in range(1, self.max_len + 1):
                try:
                    values.append(np.asarray(evaluate(node, _dummy(n), self._dummy_caches[n])))
                except RaspError:
                    values.append(None)
            if _functions(node, []):  # the model holds these values: one answer each
                for n, row in enumerate(values[1:], 1):
                    again = _again(node, n)
                    if row is not None and again is not None:
                        _check_deterministic(node, [], [()] * n, row.tolist(),
                                             again.tolist())
            self._exact[node.id] = values
        return self._exact[node.id]

    def widths(self, selector: Selector) -> list[np.ndarray | None] | None:
        """How many keys each query selects, on every length, for a token-independent
        selector; None when it depends on the tokens."""
        if selector.id not in self._widths:
            if not self.independent(selector):
                self._widths[selector.id] = None
            else:
                rows: list[np.ndarray | None] = [None]
                for n in range(1, self.max_len + 1):
                    try:
                        matrix = evaluate(selector, _dummy(n), self._dummy_caches[n])
                        rows.append(np.asarray(matrix).reshape(n, n).sum(axis=1))
                    except RaspError:
                        rows.append(None)
                self._widths[selector.id] = rows
        return self._widths[selector.id]

    def possible_widths(self, selector: Selector) -> list[int]:
        rows = self.widths(selector)
        if rows is None:
            return list(range(min(self.max_len, _most_selected(selector, self.max_len)) + 1))
        return sorted({int(w) for row in rows if row is not None for w in row})

    # ------------------------------------------------------------ value sets

    def domain(self, node: SOp) -> list:
        """Every value `node` can take, sorted (numbers first)."""
        if node.id not in self._domains:
            values = self._domain(node)
            if len(values) > self.limits.max_values:
                raise refusal(node, f"the value set of '{node.title}' has {len(values):,} "
                                    f"values (limit --max-values {self.limits.max_values:,})")
            self._domains[node.id] = values
        return self._domains[node.id]

    def _domain(self, node: SOp) -> list:
        if isinstance(node, Constant):
            return [node.value]
        if self.independent(node):
            return unique(v for row in self.exact(node) if row is not None
                          for v in row.tolist())
        if isinstance(node, Tokens):
            return unique(self.token_values(node))
        if isinstance(node, Aggregate):
            return unique(v for w in self.possible_widths(node.selector)
                          for v in self.at_width(node, w))
        assert isinstance(node, Map), node
        # its function over what its inputs can hold: sound, and small where a table over
        # the s-ops below a whole chain of maps would not be
        leaves = _live(node)
        combos = self.combos(leaves, node)
        (results,) = self.tabulate([node], leaves, combos)
        return unique(results)

    def token_values(self, node: Tokens) -> list:
        """The token s-op's value for each vocabulary item, in vocabulary order."""
        out = []
        for item in self.vocab:
            try:
                (value,) = evaluate(node, input_array([[item]])).tolist()
            except (RaspError, TypeError, ValueError, OverflowError) as e:
                message = e.message if isinstance(e, RaspError) else str(e)
                raise RaspValueError(f"the vocabulary item {item!r} is not a valid input for "
                                     f"{node.title}: {message}") from None
            out.append(value)
        return out

    def numeric(self, agg: Aggregate) -> bool:
        """Whether an aggregate averages numbers (one dimension holding the number) rather
        than copying a value (a one-hot block). One that never selects two keys copies,
        whatever its values: exactly, types and large integers included."""
        if agg.id not in self._numeric:
            self._numeric[agg.id] = self._is_numeric(agg)
        return self._numeric[agg.id]

    def _is_numeric(self, agg: Aggregate) -> bool:
        # copies of a number held numerically are held so too; else only real averages are
        if not (isinstance(agg.values, Aggregate) and self.numeric(agg.values)):
            if max(self.possible_widths(agg.selector), default=0) <= 1:
                return False
            values = ([agg.values.value] if isinstance(agg.values, Constant)
                      else self.domain(agg.values))
            if any(isinstance(v, str) for v in values) or \
                    not any(is_number(v) for v in values):
                return False
            if any(isinstance(v, bool) for v in values):
                raise refusal(agg, f"'{agg.title}' averages numbers mixed with bools: in the "
                                   f"numerical encoding a copied True and the number 1 look "
                                   f"the same")
        if not is_number(agg.default):
            raise refusal(agg, f"'{agg.title}' averages numbers but its default "
                               f"{agg.default!r} is not a number: the numerical encoding "
                               f"cannot hold it")
        return True

    def at_width(self, agg: Aggregate, w: int) -> list:
        """The values `agg` can take at a query selecting w keys."""
        if w == 0:
            return [agg.default]
        values = ([agg.values.value] if isinstance(agg.values, Constant)
                  else self.domain(agg.values))
        if w == 1:
            return values
        if not self.numeric(agg):
            return []  # the interpreter cannot average these: it raises
        return self.means(agg, values, w)

    def means(self, agg: Aggregate, values: list, w: int) -> list[float]:
        """Every mean of w values from `values`, as the interpreter computes it (the exact
        integer sum, divided by w)."""
        if not values or not all(is_number(v) or isinstance(v, bool) for v in values):
            return []
        ints = [int(v) for v in values if float(v).is_integer()]
        if len(ints) != len(values) or max(abs(v) for v in ints) * self.max_len >= 2 ** 53:
            raise refusal(agg, f"'{agg.title}' averages numbers whose means cannot be "
                               f"enumerated exactly (non-integers or integers beyond "
                               f"2^53 / max_len), and a feed-forward block or a head reads it")
        sums = self._sums.setdefault(agg.id, Sums(sorted(set(ints))))
        found = sums.of(w, self.limits.max_values)
        if found is None:
            raise refusal(agg, f"the means of '{agg.title}' over {len(sums.values):,} values "
                               f"({_span(sums.values)}) have more than "
                               f"{self.limits.max_values:,} values at width {sums.refused_at} "
                               f"(limit --max-values {self.limits.max_values:,}): a smaller "
                               f"vocabulary or max_len, or the flag, would compile it")
        return [s / w for s in found.tolist()]

    # ------------------------------------------------------------ reachable combinations

    def local(self, node: SOp) -> list[list[tuple]] | None:
        """For each length, a key per position naming the set of values `node` can take
        there, where that is known more closely than its value set; else None."""
        if self.independent(node) and not isinstance(node, Constant):
            return [[] if row is None else [("v", key(v)) for v in row.tolist()]
                    for row in self.exact(node)]
        if isinstance(node, Aggregate):
            rows = self.widths(node.selector)
            if rows is not None:
                return [[] if row is None else [("w", int(w)) for w in row] for row in rows]
        if isinstance(node, Map) and node.id in self.by_position:
            inputs = [self.local(n) for n in _live(node)]
            if all(row is None for row in inputs):
                return None
            return [[] if any(row is not None and not row[n] for row in inputs) else
                    [("m", tuple(None if row is None else row[n][p] for row in inputs))
                     for p in range(n)] for n in range(self.max_len + 1)]
        return None

    def values_at(self, node: SOp, local_key: tuple | None) -> list:
        if local_key is None:
            return self.domain(node)
        if local_key[0] == "v":
            return [local_key[1][1]]
        if local_key[0] == "m":  # a map: its function over its inputs' values there
            assert isinstance(node, Map)
            memo = (node.id, local_key)
            if memo not in self._images:
                inputs = _live(node)
                sets = [self.values_at(n, k) for n, k in zip(inputs, local_key[1])]
                combos = list(itertools.product(*sets))
                (results,) = self.tabulate([node], inputs, combos)
                self._images[memo] = unique(results)
            return self._images[memo]
        assert isinstance(node, Aggregate)
        return self.at_width(node, local_key[1])

    def combos(self, leaves: list[SOp], where: Node) -> list[tuple]:
        """The combinations of values the leaves can take together at one position."""
        if not leaves:
            return [()]
        locals_ = [self.local(leaf) for leaf in leaves]
        groups: dict[tuple, None] = {}
        if all(loc is None for loc in locals_):
            groups[(None,) * len(leaves)] = None
        else:
            for n in range(1, self.max_len + 1):
                rows = [None if loc is None else loc[n] for loc in locals_]
                if any(row is not None and not row for row in rows):
                    continue  # the interpreter raises on every input of this length
                for p in range(n):
                    groups[tuple(None if row is None else row[p] for row in rows)] = None
        found: dict[tuple, tuple] = {}
        limit = self.limits.max_table
        for group in groups:
            sets = [self.values_at(leaf, k) for leaf, k in zip(leaves, group)]
            size = int(np.prod([len(s) for s in sets], dtype=np.float64))
            if size > limit:  # this group alone: each combination of its sets differs
                raise self.too_large(where, leaves, f"{' x '.join(f'{len(s):,}' for s in sets)}"
                                     f" = {size:,} combinations at one position")
            keys = [[key(v) for v in values] for values in sets]  # once a value, not a combo
            for keyed, combo in zip(itertools.product(*keys), itertools.product(*sets)):
                found.setdefault(keyed, combo)
            if len(found) > limit:
                raise self.too_large(where, leaves, f"more than {limit:,} combinations over "
                                                    f"the positions")
        return list(found.values())

    def too_large(self, where: Node, leaves: list[SOp], count: str) -> RaspError:
        """The refusal of a table past --max-table: the s-ops whose values multiply, with
        their sizes, and what would make it compile."""
        return refusal(where, f"'{where.title}' is a table over {self.sizes(leaves)}: "
                              f"{count} (limit --max-table {self.limits.max_table:,}); "
                              f"{REMEDY}")

    def sizes(self, leaves: list[SOp]) -> str:
        """The s-ops a table is computed from, with the sizes of their value sets."""
        return ", ".join(f"'{leaf.title}' ({len(self.domain(leaf)):,} values)"
                         for leaf in leaves)

    # ------------------------------------------------------------ tables

    def tabulate(self, outputs: list[SOp], leaves: list[SOp],
                 combos: list[tuple]) -> list[list]:
        """Each output's value on each combination of the leaves' values (ERROR where the
        interpreter raises), by the nodes' own compute."""
        tables = []
        for out in outputs:
            j = next((j for j, leaf in enumerate(leaves) if leaf.id == out.id), None)
            if j is not None:
                tables.append([c[j] for c in combos])
                continue
            table: list = [ERROR] * len(combos)
            self._fill(out, leaves, combos, 0, len(combos), table)
            tables.append(table)
        return tables

    def _fill(self, out: SOp, leaves: list[SOp], combos: list[tuple], lo: int, hi: int,
              table: list) -> None:
        """Evaluate combos[lo:hi] at once; where that raises, halve until the combinations
        that raise are found."""
        if lo >= hi:
            return
        try:
            result = self._table(out, leaves, combos, lo, hi)
        except RaspError as e:
            if isinstance(e.node, Map) and e.node.operation.kind == "function":
                # the user's Python function: not a value RASP's rules refuse, but code that
                # fails on values the model would have to handle
                raise refusal(e.node, f"{e.text} (a value '{e.node.title}' can be given: "
                                      f"the compiled model would have to hold its result)"
                              ) from None
            if hi - lo > 1:
                mid = (lo + hi) // 2
                self._fill(out, leaves, combos, lo, mid, table)
                self._fill(out, leaves, combos, mid, hi, table)
            return
        if _functions(out, leaves):
            again = self._table(out, leaves, combos, lo, hi)
            _check_deterministic(out, leaves, combos[lo:hi], result, again)
        table[lo:hi] = result


    def _table(self, out: SOp, leaves: list[SOp], combos: list[tuple], lo: int,
               hi: int) -> list:
        cache = {leaf.id: ops.sequence(_column(combos, j, lo, hi))
                 for j, leaf in enumerate(leaves)}
        result = evaluate(out, _dummy(hi - lo), cache)
        return np.broadcast_to(result, (hi - lo,)).tolist()


def _live(node: Map) -> list[SOp]:
    """A map's inputs that are not constants, by id."""
    return sorted({n.id: n for n in node.inputs
                   if isinstance(n, SOp) and not isinstance(n, Constant)}.values(),
                  key=lambda n: n.id)


def _again(node: SOp, n: int) -> np.ndarray | None:
    """`node` evaluated afresh on length n (None where it raises)."""
    try:
        return np.asarray(evaluate(node, _dummy(n), {}))
    except RaspError:
        return None


def _functions(out: SOp, leaves: list[SOp]) -> list[Map]:
    """The maps of Python functions (rasp.dsl) between the leaves and `out`."""
    stop = {leaf.id for leaf in leaves}
    found: dict[int, Map] = {}
    stack: list[Node] = [out]
    while stack:
        node = stack.pop()
        if node.id in stop or node.id in found:
            continue
        if isinstance(node, Map) and node.operation.kind == "function":
            found[node.id] = node
        stack.extend(node.inputs)
    return list(found.values())


def _check_deterministic(out: SOp, leaves: list[SOp], combos: list[tuple], first: list,
                         second: list) -> None:
    """A table is built once: a Python function must give the same result on the same
    values, or the model would hold one of its answers and the interpreter another."""
    for combo, a, b in zip(combos, first, second):
        if key(a) != key(b):
            function = _functions(out, leaves)[0]
            given = ", ".join(f"{leaf.title} = {v!r}" for leaf, v in zip(leaves, combo))
            raise refusal(function, f"the Python function '{function.operation.symbol}' is "
                                    f"not deterministic: '{out.title}' gave {a!r} and then "
                                    f"{b!r}" + (f" where {given}" if given else ""))


def _most_selected(selector: Selector, n: int) -> int:
    """An upper bound on how many keys a query selects: one where it asks for the key whose
    index equals something (`select(indices, q, ==)`), also within an `and`."""
    if isinstance(selector, Select):
        return 1 if isinstance(selector.keys, Indices) and selector.op == "==" else n
    assert isinstance(selector, Combine)
    if selector.op == "and":
        return min(_most_selected(p, n) for p in selector.inputs)  # type: ignore
    if selector.op == "or":
        parts: list[Selector] = list(selector.inputs)  # type: ignore[arg-type]
        return sum(_most_selected(p, n) for p in parts)
    return n


def _column(combos: list[tuple], j: int, lo: int, hi: int) -> np.ndarray:
    out = np.empty(hi - lo, dtype=object)
    out[:] = [c[j] for c in combos[lo:hi]]
    return out


def _dummy(n: int) -> np.ndarray:
    """Tokens for s-ops that never read them."""
    return input_array([[0] * n])


class Sums:
    """The sums of w items of a set of integers (repetition allowed), for w = 1, 2, ... in
    turn, each from the last, every set checked against the limit before and as it grows.

    Sets of sums never shrink as w grows (|A + B| >= |A| + |B| - 1 for sets of integers), so
    once one width is past the limit every wider one is too: the means of a width the
    selector can have would be more values than one s-op may hold. The integers are taken
    as low + g * a with a >= 0 (g their common divisor), and each step is computed the
    cheaper way: as a set (each sum plus each item, in chunks) or, where the sums are dense
    in their range, as one convolution (FFT) of 0/1 indicators."""

    def __init__(self, values: list[int]):
        self.values = values
        self.low = values[0]
        self.step = math.gcd(*(v - self.low for v in values)) or 1
        self.items = np.array([(v - self.low) // self.step for v in values], dtype=np.int64)
        self.found: list[np.ndarray] = [np.zeros(1, dtype=np.int64), self.items]
        self.refused_at: int | None = None

    def of(self, w: int, limit: int) -> np.ndarray | None:
        """The sums of w items, or None past `limit` values (at some width up to w)."""
        while len(self.found) <= w:
            if self.refused_at is not None:
                return None
            grown = _grow(self.found[-1], self.items, limit)
            if grown is None:
                self.refused_at = len(self.found)
                return None
            self.found.append(grown)
        return self.found[w] * self.step + w * self.low


CHUNK = 1 << 22  # sums formed at once by one step of Sums (32 MB)
DENSE = 1 << 20  # the widest range of sums convolved as indicators (150 MB at most)


def _grow(sums: np.ndarray, items: np.ndarray, limit: int) -> np.ndarray | None:
    """The set sums + items (both sorted, from 0), or None once it has more than `limit`."""
    if len(sums) + len(items) - 1 > limit:
        return None
    span = int(sums[-1] + items[-1]) + 1
    if span <= DENSE and span * span.bit_length() < len(sums) * len(items):
        size = 1 << (span - 1).bit_length()
        a, b = np.zeros(span), np.zeros(span)
        a[sums] = 1.0
        b[items] = 1.0
        counts = np.fft.irfft(np.fft.rfft(a, 2 * size) * np.fft.rfft(b, 2 * size))[:span]
        found = np.flatnonzero(counts > 0.5)  # counts are integers, the FFT's error tiny
        return None if len(found) > limit else found
    found = sums  # items hold 0: the sums are among the new ones
    per = max(1, CHUNK // len(sums))
    for start in range(0, len(items), per):
        chunk = (sums[:, None] + items[None, start:start + per]).ravel()
        found = np.union1d(found, chunk)
        if len(found) > limit:
            return None
    return found


def _span(values: list[int]) -> str:
    return f"{values[0]:,} to {values[-1]:,}" if len(values) > 1 else f"{values[0]:,}"


def selector_nodes(selector: Selector) -> tuple[list[SOp], list[SOp]]:
    """The distinct key and query s-ops of a selector."""
    keys: dict[int, SOp] = {}
    queries: dict[int, SOp] = {}
    for s in selects_of(selector):
        keys.setdefault(s.keys.id, s.keys)
        queries.setdefault(s.queries.id, s.queries)
    return list(keys.values()), list(queries.values())
