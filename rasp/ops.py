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

import itertools
import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import RaspLimitError, RaspValueError


def atom_key(value: Any) -> tuple:
    """Equal for atoms exactly when no program can tell them apart: the same type and value,
    and for zeros the same sign (0.0 == -0.0, but they print differently). For keying
    caches and sets of values."""
    if isinstance(value, float) and value == 0.0:
        return (float, value, math.copysign(1.0, value))
    return (type(value), value)


Array = np.ndarray

# Python computes ints, strings and lists of any size, slowly: `3 ^ 10 ^ 9` or `"ab" * 10 ^ 10`
# would hang the session, and Python refuses to print an int of more than 4300 digits.
MAX_INT_BITS = 13_000  # about 3900 decimal digits
MAX_ITEMS = 10_000_000  # characters of a string, items of a list
FLOAT_OVERFLOW = "the result is too large for a float"
NOT_REAL = "a negative number raised to a fractional power is not a real number"


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
    items = values.ravel().tolist()
    if _all_strings(items):
        return {str} if items else set()
    return set(map(type, items))


def _all_strings(items: list) -> bool:
    """One pass in C: joining fails on anything that is not a string."""
    try:
        "".join(items)
    except TypeError:
        return False
    return True


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
    """Check that `values` form RASP sequences and return their canonical array. Positions
    run along the last axis; leading axes, if any, are a batch of inputs."""
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
    items = arr.ravel().tolist()
    types = set(map(type, items))
    if not types <= set(ATOM_TYPES):
        raise RaspValueError("sequence values must be bools, ints, floats or strings, got "
                             + _describe(items))
    if len(types) == 1:
        (only,) = types
        native = {float: np.float64, bool: bool, int: np.int64}.get(only)
        if native is not None:
            try:
                return np.array(items, dtype=native).reshape(arr.shape)
            except OverflowError:  # ints beyond int64 stay Python ints
                pass
    elif str in types:
        raise RaspValueError("sequence mixes values of different types: " + _describe(items))
    return _object_array(items).reshape(arr.shape)


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
    left, right = _as_floats_where_exact(op, left, right)
    if _is_numeric(left) and _is_numeric(right):
        with np.errstate(all="ignore"):
            result = _numeric_binary(op, left, right)
    elif op in ("==", "!=") and _strings_and_numbers(left, right):
        result = np.full(np.broadcast_shapes(left.shape, right.shape), op == "!=")
    elif op in ("+", "-", "*") and (mixed := _mixed_arithmetic(op, left, right)) is not None:
        return mixed  # a canonical sequence already
    elif op in ("==", "!=") and _strings(left) and _strings(right):
        result = _NUMPY_OPS[op](left, right)  # str's own comparison, in numpy's object loop
    elif op == "+" and _short_strings(left, right):
        result = np.add(left, right)  # Python's own concatenation, without a Python call each
    else:
        result = _python_map(PYTHON_OPS[op], left, right)
    if op in COMPARISONS:
        return result.astype(bool, copy=False)
    return sequence(result)


def _as_floats_where_exact(op: str, left: Array, right: Array) -> tuple[Array, Array]:
    """Mixed int/float sequences are object arrays (each value keeps its Python type, for
    printing). Where the result cannot depend on those types (comparisons, `/`, anything
    with a float array), compute on float64 instead: the same values, at numpy speed."""
    mixed = [a.dtype.kind == "O" and seq_type(a) in ("ints", "floats") and _exact_in_floats(a)
             for a in (left, right)]
    if not any(mixed):
        return left, right
    floats = op in COMPARISONS or op == "/" or "f" in (left.dtype.kind, right.dtype.kind)
    others_numeric = all(m or _is_numeric(a) for m, a in zip(mixed, (left, right)))
    if not (floats and others_numeric):
        return left, right
    try:
        return (left.astype(np.float64) if mixed[0] else left,
                right.astype(np.float64) if mixed[1] else right)
    except OverflowError:  # ints too large for a float
        return left, right


def _strings(values: Array) -> bool:
    return values.dtype.kind == "O" and values.size > 0 and _all_strings(values.ravel().tolist())


def _short_strings(left: Array, right: Array) -> bool:
    """Whether both sides are strings whose concatenations stay within MAX_ITEMS."""
    longest = []
    for side in (left, right):
        items = side.ravel().tolist()
        if side.dtype.kind != "O" or not items or not _all_strings(items):
            return False
        longest.append(max(map(len, items)))
    return sum(longest) <= MAX_ITEMS


def _mixed_arithmetic(op: str, left: Array, right: Array) -> Array | None:
    """`+`, `-` or `*` where a side mixes ints and floats (as aggregates make them), at numpy
    speed: each position is a float where Python would compute a float (a float on either
    side), else an int, and IEEE arithmetic on float64 is Python's on floats. None where a
    side is not plain numbers or an int result could leave int64."""
    if "O" not in (left.dtype.kind, right.dtype.kind):
        return None
    left_split, right_split = _split_numbers(left), _split_numbers(right)
    if left_split is None or right_split is None:
        return None
    left_floats, left_ints, left_is_float = left_split
    right_floats, right_ints, right_is_float = right_split
    is_float = left_is_float | right_is_float
    if _may_overflow(op, np.where(is_float, 0, left_ints), np.where(is_float, 0, right_ints)):
        return None
    fn = _NUMPY_OPS[op]
    if is_float.all():
        return fn(left_floats, right_floats)
    if not is_float.any():
        return fn(left_ints, right_ints)
    out = np.empty(is_float.shape, dtype=object)
    out[is_float] = fn(left_floats, right_floats)[is_float]  # as Python floats
    out[~is_float] = fn(left_ints, right_ints)[~is_float]  # as Python ints
    return out


def _split_numbers(values: Array) -> tuple[Array, Array, Array] | None:
    """Numbers as (float64s, int64s, which are Python floats); None for anything else."""
    kind = values.dtype.kind
    if kind in "biu":
        return values.astype(np.float64), values.astype(np.int64), np.zeros(values.shape, bool)
    if kind == "f":
        return values, np.zeros(values.shape, np.int64), np.ones(values.shape, bool)
    items = values.ravel().tolist()
    if not set(map(type, items)) <= {int, float, bool}:
        return None
    is_float = np.fromiter(map(isinstance, items, itertools.repeat(float)), bool,
                           len(items)).reshape(values.shape)
    try:
        floats = values.astype(np.float64)
        # every int exact as a float: read them from there, not from the Python objects
        ints = floats if np.all(np.abs(floats) < 2**53) else values
        return floats, np.where(is_float, 0, ints).astype(np.int64), is_float
    except OverflowError:  # ints beyond int64, or beyond floats
        return None


def _exact_in_floats(values: Array) -> bool:
    """Whether every int among the values is a float too (no more than 53 bits)."""
    try:
        # all of them small: strictly below 2^53 as floats, since 2^53 + 1 becomes 2^53
        if np.all(np.abs(values.astype(np.float64)) < 2**53):
            return True
    except (OverflowError, TypeError, ValueError):
        pass
    return all(abs(v) <= 2**53 for v in values.ravel().tolist() if not isinstance(v, float))


def _strings_and_numbers(left: Array, right: Array) -> bool:
    """A string never equals a number: no need to compare them one by one."""
    return any(a.dtype.kind == "O" and b.dtype.kind in "biuf" and a.size and
               isinstance(a.flat[0], str) and seq_type(a) == "strings"
               for a, b in ((left, right), (right, left)))


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
            raise ValueError(NOT_REAL)
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
    """Whether an int64 result could wrap around, judged by the same operation on floats
    (after a bound from the largest magnitudes, which settles the usual small ints)."""
    if op in ("+", "-", "*") and a.size and b.size:
        big_a, big_b = (max(abs(int(x.max())), abs(int(x.min()))) for x in (a, b))
        if (big_a * big_b if op == "*" else big_a + big_b) < 2 ** 62:
            return False
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
    if op == "round" and seq_type(values) in ("ints", "floats") and _exact_in_floats(values):
        # Python rounds an int to itself and a float half to even, as rint does
        try:
            return unary(op, values.astype(np.float64))
        except ValueError:
            pass  # an infinite or NaN value: Python's own error
    prefix: dict[str, Callable[[Any], Any]] = {"-": operator.neg, "+": operator.pos,
                                                "round": round}
    return sequence(_python_map(prefix[op], values))


def choose(test: Array, then: Array, otherwise: Array) -> Array:
    """`then if test else otherwise`, elementwise."""
    mask = truth(test)
    if then.dtype == otherwise.dtype:
        return np.where(mask, then, otherwise)
    return sequence(np.where(mask, then.astype(object), otherwise.astype(object)))


def is_in(values: Array, items: list) -> Array:
    """`values in items` elementwise (membership by ==, as Python's `in`)."""
    flat = values.ravel().tolist() if values.dtype.kind == "O" else []
    if flat and _all_strings(flat):  # a string equals only a string: one pass through a set
        members = {item for item in items if isinstance(item, str)}
        return np.fromiter(map(members.__contains__, flat), bool, len(flat)).reshape(
            values.shape)
    result = np.zeros(values.shape, dtype=bool)
    for item in items:
        result |= binary("==", values, constant(item, values.shape[-1]))
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

def apply_function(function: Callable[..., Any], name: str, *args: Array) -> Array:
    """A Python function (a map built in Python, rasp.dsl) applied at every position to one
    value of each input. Whatever it raises or returns that is not an atom is the user's
    mistake, told with the function's name and the values it was given."""
    shape = np.broadcast_shapes(*(a.shape for a in args))
    columns = [np.broadcast_to(a, shape).ravel().tolist() for a in args]
    results = []
    for values in zip(*columns):
        try:
            result = function(*values)
        except Exception as e:  # the user's own code: any exception is a mistake of theirs
            raise RaspValueError(f"the Python function '{name}' raised {type(e).__name__} "
                                 f"on {_arguments(values)}: {e}") from None
        if isinstance(result, np.generic):
            result = result.item()
        if not isinstance(result, ATOM_TYPES):
            raise RaspValueError(f"the Python function '{name}' returned {result!r} on "
                                 f"{_arguments(values)}: RASP values are bools, ints, floats "
                                 f"or strings")
        results.append(check_size(result))
    return sequence(_object_array(results).reshape(shape))


def _arguments(values: tuple) -> str:
    return ", ".join(map(repr, values))


def comparable(keys: Array, queries: Array) -> tuple[Array, Array]:
    """Keys and queries ready to compare. Strings become codes of their sorted order: the
    same answers, at integer speed."""
    if keys.dtype.kind == "O" and queries.dtype.kind == "O":
        both = np.concatenate([keys.ravel(), queries.ravel()])
        items = both.tolist()
        if _all_strings(items):
            # numpy's unicode arrays sort like Python strings, in C; but they drop trailing
            # NULs, so texts with a NUL stay Python objects
            fixed = both if "\x00" in "".join(items) else both.astype(str)
            _, codes = np.unique(fixed, return_inverse=True)
            return (codes[: keys.size].reshape(keys.shape),
                    codes[keys.size:].reshape(queries.shape))
    return _narrow(keys, queries)


def _narrow(keys: Array, queries: Array) -> tuple[Array, Array]:
    """Integers in the smallest type that holds them all: an n x n comparison of int16s
    takes a quarter of the time of one of int64s."""
    if keys.dtype.kind not in "iu" or queries.dtype.kind not in "iu" or not keys.size:
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
    step = max(1, BLOCK_BYTES // max(1, int(np.prod(shape))))
    if uniform:
        step = n = 1  # look at the first query's row only
    width = np.empty(shape[:-1] + (n,), dtype=np.int64)
    chosen = np.empty(shape[:-1] + (n,), dtype=values.dtype)
    sums = np.empty(shape[:-1] + (n,))
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = shaped(rows(start, stop), shape[:-1] + (stop - start, shape[-1]))
        w = width[..., start:stop] = row_counts(block)
        copy, mean = np.any(w == 1), np.any(w >= 2)
        if summer and (mean or (copy and summer.exact)):
            sums[..., start:stop] = summer(block, w)
        if copy:
            chosen[..., start:stop] = (summer.copies(sums[..., start:stop]) if summer and
                                       summer.exact else np.take_along_axis(
                                           values, np.argmax(block, axis=-1), axis=-1))
    return aggregate_result(width, chosen, sums, values, default, shape)


def aggregate_result(width: Array, chosen: Array, sums: Array, values: Array, default: Any,
                     shape: tuple) -> Array:
    """An aggregate's value from each query's `width` (how many keys it selects), `chosen`
    (the selected value, where it selects one) and `sums` (of the selected values, where it
    selects several): the block path and the planner share it, so that they agree on types,
    defaults and errors."""
    values = shaped(values, shape)
    width, chosen, sums = (shaped(a, shape) for a in (width, chosen, sums))
    several = width >= 2
    parts = []
    if np.any(width == 1):
        parts.append((width == 1, chosen))
    if np.any(several):
        if seq_type(values) not in ("ints", "floats"):
            flat = values.reshape(-1, shape[-1])
            offending = flat[np.argmax(several.reshape(flat.shape).any(axis=-1))]
            raise RaspValueError(f"aggregate cannot average {seq_type(values)}: a query "
                                 f"selects several positions of {_describe(offending.tolist())}")
        parts.append((several, sums / np.maximum(width, 1)))
    if np.any(width == 0):
        parts.append((width == 0, constant(default, shape[-1])))
    return _combine(parts, shape)


class Summer:
    """For each query of a block of selection rows, the sum of the values it selects, as
    Python's `sum(...)` gives it for the mean `sum(...) * 1.0 / n`.

    Few-valued ints (indicators, constants) are counted rather than multiplied as floats: a
    constant's sums come from the widths alone, and sparse levels look only at their
    columns. Then the sums are exact, and a query selecting one position has that value as
    its sum (`exact`), so no search for the selected position is needed. Other values take
    one float matrix product, exact while int sums stay below 2^53; larger ints (whose float
    sums could cancel) are summed by Python."""

    def __init__(self, values: Array):
        self.values = values
        self.levels: list | None = None
        self.by_python = False
        if values.dtype.kind in "iuO" and values.size:
            largest = max(abs(v) for v in values.ravel().tolist() if not isinstance(v, float)) \
                if values.dtype.kind == "O" else max(abs(int(values.min())),
                                                      abs(int(values.max())))
            self.by_python = largest * values.shape[-1] >= 2**53
        if values.dtype.kind in "iu" and values.size and not self.by_python:
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
