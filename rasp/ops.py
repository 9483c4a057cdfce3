"""Numpy kernels for RASP's primitives: pure functions from arrays to arrays.

An evaluated s-op is a 1-D array in one of these forms:

* `bool` (bools), `int64` (ints), `float64` (floats);
* `object` holding Python `str`s (strings), or a mix of Python numbers. Mixes arise where the
  original keeps per-position Python types, e.g. an aggregate that copies the int 3 in one
  position and averages to 2.5 in another; they are typed `floats` (or `ints` for bools mixed
  with ints) and print each value as its own type, as the original does.

A selector value is a 2-D bool array, rows = queries, columns = keys.

Numeric arrays take numpy's fast paths, with the places where numpy differs from Python
(bool arithmetic, division by zero, negative integer powers) made to behave like Python.
Object arrays go through numpy's object loops with Python's own operators, so strings and
mixed values get exactly Python's semantics and messages.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import RaspLimitError, RaspValueError

Array = np.ndarray

# Python computes ints, strings and lists of any size, slowly: `3 ^ 10 ^ 9` or `"ab" * 10 ^ 10`
# would hang the session, and Python refuses to print an int of more than 4300 digits.
MAX_INT_BITS = 13_000  # about 3900 decimal digits
MAX_ITEMS = 10_000_000  # characters of a string, items of a list
FLOAT_OVERFLOW = "the result is too large for a float"


def _bounded(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Python's operator `fn`, refusing results beyond MAX_INT_BITS or MAX_ITEMS; a power or a
    repetition is judged before it is computed, since computing it is what takes too long."""
    def apply(a: Any, b: Any) -> Any:
        if fn is operator.pow:
            _check_power(a, b)
        elif fn is operator.mul:
            _check_repetition(a, b)
            _check_repetition(b, a)
        try:
            return check_size(fn(a, b))
        except OverflowError as e:
            if e.args[:1] == (34,):  # Python's float overflow gives only an errno
                raise OverflowError(FLOAT_OVERFLOW) from None
            raise
    return apply


def _check_power(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int) and abs(a) > 1 and b > 0:
        if b * math.log2(abs(a)) > MAX_INT_BITS + 1:
            raise RaspLimitError(f"integer too large: the power has about "
                                 f"{b * math.log2(abs(a)):,.0f} bits, more than {MAX_INT_BITS}")


def _check_repetition(items: Any, times: Any) -> None:
    if isinstance(items, (str, list)) and isinstance(times, int):
        check_size(items, len(items) * times)


def check_size(value: Any, length: int | None = None) -> Any:
    """`value`, if it is not an int, string or list too large to work with (`length`: the
    length it is about to have)."""
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise RaspLimitError(f"integer too large: more than {MAX_INT_BITS} bits")
    if isinstance(value, (str, list)):
        length = len(value) if length is None else length
        if length > MAX_ITEMS:
            kind, unit = ("string", "characters") if isinstance(value, str) else ("list", "items")
            raise RaspLimitError(f"{kind} too long: {length} {unit}, more than {MAX_ITEMS}")
    return value


PYTHON_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": _bounded(operator.add), "-": _bounded(operator.sub), "*": _bounded(operator.mul),
    "/": operator.truediv, "%": operator.mod, "^": _bounded(operator.pow),
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
    "<=": operator.le, ">=": operator.ge,
}
COMPARISONS = {"==", "!=", "<", ">", "<=", ">="}
_NUMPY_OPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "==": np.equal,
              "!=": np.not_equal, "<": np.less, ">": np.greater, "<=": np.less_equal,
              ">=": np.greater_equal}
ATOM_TYPES = (bool, int, float, str)


# ---------------------------------------------------------------- sequences and their types

def _python_type_set(values: Array) -> set[type]:
    return {type(v) for v in values}


def seq_type(values: Array) -> str:
    """The type word the original prints: 'ints', 'floats', 'strings' or 'bools'."""
    kind = values.dtype.kind
    if kind == "b":
        return "bools"
    if kind in "iu":
        return "ints"
    if kind == "f":
        return "floats"
    types = _python_type_set(values)
    if types <= {str}:
        return "strings"
    if types <= {bool}:
        return "bools"
    return "floats" if float in types else "ints"


def _describe(values: Any) -> str:
    items = list(values)
    text = repr(items if len(items) <= 12 else items[:12] + ["..."])
    return text.replace("'...'", "...")


def sequence(values: Any) -> Array:
    """Check that `values` form a RASP sequence and return its canonical array."""
    arr = values if isinstance(values, np.ndarray) else np.array(values, dtype=object)
    kind = arr.dtype.kind
    if kind == "b":
        return arr
    if kind in "iu":
        return arr.astype(np.int64, copy=False)
    if kind == "f":
        return arr.astype(np.float64, copy=False)
    if kind != "O":
        arr = arr.astype(object)
    items = arr.tolist()
    types = {type(v) for v in items}
    if not types <= set(ATOM_TYPES):
        raise RaspValueError("sequence values must be bools, ints, floats or strings, got "
                             + _describe(items))
    if len(types) == 1:
        (only,) = types
        if only is str:
            return _object_array(items)
        if only is float:
            return np.array(items, dtype=np.float64)
        if only is bool:
            return np.array(items, dtype=bool)
        try:
            return np.array(items, dtype=np.int64)
        except OverflowError:
            return _object_array(items)
    if str in types:
        raise RaspValueError("sequence mixes values of different types: " + _describe(items))
    return _object_array(items)


def _object_array(items: list) -> Array:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def constant(value: Any, n: int) -> Array:
    """The sequence holding `value` at each of n positions."""
    if isinstance(value, str):
        return _object_array([value] * n)
    return sequence(np.full(n, value))


def as_python(values: Array) -> list:
    return values.tolist()


def _is_numeric(a: Array) -> bool:
    return a.dtype.kind in "biuf"


def _as_number(a: Array) -> Array:
    """Python arithmetic treats True as 1; numpy's bool arithmetic does not."""
    return a.astype(np.int64) if a.dtype.kind == "b" else a


# ---------------------------------------------------------------- elementwise maps

def _python_map(fn: Callable, *args: Array) -> Array:
    objs = [a.astype(object) for a in args]
    return np.frompyfunc(fn, len(args), 1)(*objs)


def binary(op: str, left: Array, right: Array) -> Array:
    """`left op right` elementwise, with Python's semantics. Shapes broadcast."""
    if _is_numeric(left) and _is_numeric(right):
        with np.errstate(all="ignore"):
            result = _numeric_binary(op, left, right)
    else:
        result = _python_map(PYTHON_OPS[op], left, right)
    if op in COMPARISONS:
        return result.astype(bool)
    return sequence(result) if result.ndim == 1 else result


def _numeric_binary(op: str, left: Array, right: Array) -> Array:
    if op in COMPARISONS:
        if _beyond_float_precision(left, right) or _beyond_float_precision(right, left):
            return _python_map(PYTHON_OPS[op], left, right)  # Python compares exactly
        return _NUMPY_OPS[op](left, right)
    a, b = _as_number(left), _as_number(right)
    floats = a.dtype.kind == "f" or b.dtype.kind == "f"
    if not floats and op in ("+", "-", "*", "^") and _may_overflow(op, a, b):
        return _python_map(PYTHON_OPS[op], a, b)  # Python's unbounded ints
    if op in ("+", "-", "*"):
        return _NUMPY_OPS[op](a, b)
    if op == "/":
        if np.any(b == 0):
            raise ZeroDivisionError("float division by zero" if floats else "division by zero")
        return np.true_divide(a, b)
    if op == "%":
        if np.any(b == 0):
            raise ZeroDivisionError("float modulo" if floats else "integer modulo by zero")
        return np.mod(a, b)
    assert op == "^"
    if not floats and np.any(b < 0):
        # Python: int ** negative int is a float, int ** int an int; per element
        return _python_map(PYTHON_OPS["^"], a, b)
    if floats and np.any((a == 0) & (b < 0)):
        raise ZeroDivisionError("0.0 cannot be raised to a negative power")
    result = np.power(a, b)
    if floats:
        finite = np.isfinite(a) & np.isfinite(b)
        if np.any(np.isnan(result) & finite):
            raise ValueError("a negative number raised to a fractional power is not a real "
                             "number")
        if np.any(np.isinf(result) & finite):  # Python raises where numpy gives inf
            raise OverflowError(FLOAT_OVERFLOW)
    return result


def _beyond_float_precision(ints: Array, other: Array) -> bool:
    """numpy compares an int64 with a float64 as two floats, which is not exact for ints of
    more than 53 bits."""
    if ints.dtype.kind not in "iu" or other.dtype.kind != "f":
        return False
    return bool(np.any((ints > 2 ** 53) | (ints < -(2 ** 53))))


def _may_overflow(op: str, a: Array, b: Array) -> bool:
    """Whether an int64 result could wrap around, judged by the same operation on floats."""
    estimate = {"+": np.add, "-": np.subtract, "*": np.multiply, "^": np.power}[op](
        a.astype(np.float64), b.astype(np.float64))
    return bool(np.any(np.abs(estimate) >= 2.0 ** 62))


def truth(values: Array) -> Array:
    """Python's bool() of each value."""
    if values.dtype.kind == "b":
        return values
    if _is_numeric(values):
        return values != 0
    return _python_map(bool, values).astype(bool)


def unary(op: str, values: Array) -> Array:
    """`-x`, `+x`, `round(x)`, `indicator(x)`, `not x`, elementwise."""
    if op == "not":
        return ~truth(values)
    if op == "indicator":
        return truth(values).astype(np.int64)
    if _is_numeric(values):
        a = _as_number(values)
        if op == "-":
            if a.dtype.kind == "i" and np.any(a == np.iinfo(np.int64).min):
                return sequence(_python_map(operator.neg, a))  # 2^63 needs a Python int
            return -a
        if op == "+":
            return a
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)):
                raise ValueError("cannot round an infinite or NaN value to an integer")
            rounded = np.rint(a)  # half to even, like Python's round
            if np.any(np.abs(rounded) >= 2.0 ** 63):  # beyond int64: Python ints
                return sequence(_python_map(int, rounded))
            return rounded.astype(np.int64)
        return a
    fn = {"-": operator.neg, "+": operator.pos, "round": round}[op]
    return sequence(_python_map(fn, values))


def choose(test: Array, then: Array, otherwise: Array) -> Array:
    """`then if test else otherwise`, elementwise."""
    mask = truth(test)
    if then.dtype == otherwise.dtype:
        return np.where(mask, then, otherwise)
    return sequence(np.where(mask, then.astype(object), otherwise.astype(object)))


def is_in(values: Array, items: list) -> Array:
    """`values in items` elementwise (membership by ==, as Python's `in`)."""
    result = np.zeros(len(values), dtype=bool)
    for item in items:
        result |= binary("==", values, constant(item, len(values)))
    return result


def lookup(container: Any, keys: Array) -> Array:
    """`container[keys]` elementwise, for a list, string or dict container."""
    if isinstance(container, dict):
        def get(key: Any) -> Any:
            try:
                return container[key]
            except KeyError:
                raise RaspValueError(f"key {key!r} is not in the dict") from None
            except TypeError:
                raise RaspValueError(f"{key!r} cannot be a dict key") from None
        return sequence(_python_map(get, keys))
    items = list(container)
    kind = "list" if isinstance(container, list) else "string"
    if seq_type(keys) not in ("ints", "bools"):  # Python accepts bools as indices too
        raise RaspValueError(f"indices into a {kind} must be integers, got {seq_type(keys)}")
    if keys.dtype.kind == "O":  # ints mixed with bools, or beyond int64: Python's indexing
        return sequence(_python_map(lambda i: _item(items, i, kind), keys))
    index = keys.astype(np.int64)
    bad = (index >= len(items)) | (index < -len(items))
    if np.any(bad):
        _item(items, int(index[bad][0]), kind)
    return sequence(_object_array(items)[index])


def _item(items: list, index: int, kind: str) -> Any:
    if not -len(items) <= index < len(items):
        raise RaspValueError(f"index {index} out of range for {kind} of length {len(items)}")
    return items[index]


# ---------------------------------------------------------------- attention

def _comparable(keys: Array, queries: Array) -> tuple[Array, Array]:
    """Strings compared as codes of their sorted order: same answers, at integer speed."""
    if keys.dtype.kind == "O" and queries.dtype.kind == "O":
        both = np.concatenate([keys, queries])
        if _python_type_set(both) == {str}:
            _, codes = np.unique(both, return_inverse=True)
            return codes[: len(keys)], codes[len(keys):]
    return keys, queries


def select(keys: Array, queries: Array, op: str) -> Array:
    """The selection matrix: cell (q, k) is `keys[k] op queries[q]`."""
    k, q = _comparable(keys, queries)
    return binary(op, k[np.newaxis, :], q[:, np.newaxis])


def aggregate(selection: Array, values: Array, default: Any) -> Array:
    """Each query's value: the one selected value, the mean of several, `default` for none."""
    width = selection.sum(axis=1)
    several = width >= 2
    if np.any(several) and seq_type(values) not in ("ints", "floats"):
        raise RaspValueError(
            f"aggregate cannot average {seq_type(values)}: a query selects several positions "
            f"of {_describe(values.tolist())}")
    chosen = values[np.argmax(selection, axis=1)]
    parts = [(width == 1, chosen)]
    if np.any(several):
        parts.append((several, _means(selection, values, several, width)))
    if np.any(width == 0):
        parts.append((width == 0, constant(default, len(width))))
    return _combine(parts, len(width))


def _means(selection: Array, values: Array, rows: Array, width: Array) -> Array:
    """The mean of the selected values in each of `rows`, as Python's `sum(...) * 1.0 / n`.
    One float product computes it while the sums are exact in floats: floats, and ints whose
    sums stay below 2^53. Larger ints (which could cancel) and mixed values are summed by
    Python."""
    exact = values.dtype.kind == "f" or (values.dtype.kind in "iu" and len(values) * max(
        int(values.max()), -int(values.min())) < 2 ** 53)
    if exact:
        with np.errstate(all="ignore"):
            return (selection.astype(np.float64) @ values.astype(np.float64)) / np.maximum(
                width, 1)
    items = values.tolist()
    means = np.zeros(len(selection))
    for q in np.flatnonzero(rows):
        chosen = [items[k] for k in np.flatnonzero(selection[q])]
        means[q] = sum(chosen) * 1.0 / len(chosen)
    return means


def _combine(parts: list[tuple[Array, Array]], n: int) -> Array:
    """One sequence from (mask, values) pieces; the masks are disjoint and cover all positions."""
    used = [(m, v) for m, v in parts if np.any(m)]
    if len({v.dtype for _, v in used}) == 1:
        out = np.empty(n, dtype=used[0][1].dtype)
        for mask, vals in used:
            out[mask] = vals[mask]
        return sequence(out) if out.dtype.kind == "O" else out
    out = np.empty(n, dtype=object)
    for mask, vals in used:
        out[mask] = vals.astype(object)[mask]
    return sequence(out)
