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

from . import typed
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
    if all_strings(items):
        return {str} if items else set()
    return set(map(type, items))


def all_strings(items: list) -> bool:
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
    if typed.strings_of(values) is not None:
        return "strings"
    if getattr(values, "floats", None) is not None:
        return "floats" if values.is_float.any() else "ints"  # type: ignore[attr-defined]
    types = _python_type_set(values)
    if types <= {str}:
        return "strings"
    if types <= {bool}:
        return "bools"
    return "floats" if float in types else "ints"


def describe_values(values: Any) -> str:
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
                             + describe_values(items))
    if len(types) == 1:
        (only,) = types
        native = {float: np.float64, bool: bool, int: np.int64}.get(only)
        if native is not None:
            try:
                return np.array(items, dtype=native).reshape(arr.shape)
            except OverflowError:  # ints beyond int64 stay Python ints
                pass
    elif str in types:
        raise RaspValueError("sequence mixes values of different types: " + describe_values(items))
    return _object_array(items).reshape(arr.shape)


def _object_array(items: list) -> Array:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def constant(value: Any, n: int) -> Array:
    """The sequence holding `value` at each of n positions."""
    if isinstance(value, str):
        return typed.from_codes(np.zeros(n, dtype=np.int32), _object_array([value]))
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
    if op in COMPARISONS and _same_class(left, right):
        return _NUMPY_OPS[op](left, right)  # numpy's comparison is Python's here
    coded = _coded_strings(op, left, right)
    if coded is not None:
        return coded
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


def _same_class(left: Array, right: Array) -> bool:
    """Whether both sides are bools or ints, or both floats: comparisons that numpy makes
    exactly (an int64 and a float64 it compares as floats)."""
    kinds = left.dtype.kind + right.dtype.kind
    return kinds == "ff" or (kinds[0] in "biu" and kinds[1] in "biu")


def _coded_strings(op: str, left: Array, right: Array) -> Array | None:
    """Comparisons and concatenations of strings on their codes (typed.py), where both
    sides have them; else None."""
    forms = typed.strings_of(left), typed.strings_of(right)
    if forms[0] is None or forms[1] is None or left.shape != right.shape:
        return None
    if op in COMPARISONS:
        (a, b), _ = typed.merged(forms[0], forms[1])
        return _NUMPY_OPS[op](a, b)
    if op != "+":
        return None
    (a, vocab_a), (b, vocab_b) = forms[0], forms[1]
    pairs = a.astype(np.int64) * len(vocab_b) + b
    used, inverse = np.unique(pairs, return_inverse=True)
    texts = [vocab_a[i // len(vocab_b)] + vocab_b[i % len(vocab_b)] for i in used.tolist()]
    if max(map(len, texts), default=0) > MAX_ITEMS:
        return None  # Python's own error, at the first position that has it
    vocab = sorted(set(texts))
    code = {text: i for i, text in enumerate(vocab)}
    table = np.array([code[text] for text in texts], dtype=np.int32)
    return typed.from_codes(table[inverse.reshape(a.shape)], _object_array(vocab))


def _as_floats(values: Array) -> Array:
    numbers = typed.numbers_of(values)
    return numbers[0] if numbers is not None else values.astype(np.float64)


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
        return (_as_floats(left) if mixed[0] else left,
                _as_floats(right) if mixed[1] else right)
    except OverflowError:  # ints too large for a float
        return left, right


def _strings(values: Array) -> bool:
    return values.dtype.kind == "O" and values.size > 0 and all_strings(values.ravel().tolist())


def _short_strings(left: Array, right: Array) -> bool:
    """Whether both sides are strings whose concatenations stay within MAX_ITEMS."""
    longest = []
    for side in (left, right):
        items = side.ravel().tolist()
        if side.dtype.kind != "O" or not items or not all_strings(items):
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
    ints = fn(left_ints, right_ints)
    if not is_float.any():
        return ints
    if np.abs(np.where(is_float, 0, ints)).max() <= typed.EXACT:
        return typed.from_numbers(np.where(is_float, fn(left_floats, right_floats), ints),
                                  is_float)
    out = np.empty(is_float.shape, dtype=object)
    out[is_float] = fn(left_floats, right_floats)[is_float]  # as Python floats
    out[~is_float] = ints[~is_float]  # as Python ints
    return out


def _split_numbers(values: Array) -> tuple[Array, Array, Array] | None:
    """Numbers as (float64s, int64s, which are Python floats); None for anything else."""
    kind = values.dtype.kind
    if kind in "biu":
        return values.astype(np.float64), values.astype(np.int64), np.zeros(values.shape, bool)
    if kind == "f":
        return values, np.zeros(values.shape, np.int64), np.ones(values.shape, bool)
    numbers = typed.numbers_of(values)
    if numbers is not None:
        floats, is_float = numbers
        return floats, np.where(is_float, 0, floats).astype(np.int64), is_float
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
    if getattr(values, "floats", None) is not None:
        return True
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
    strings = typed.strings_of(values)
    if strings is not None:
        return (np.array([len(v) for v in strings[1].tolist()], dtype=np.int64) > 0)[
            strings[0]]
    if getattr(values, "floats", None) is not None:
        return values.floats != 0  # type: ignore[attr-defined]
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
            return unary(op, _as_floats(values))
        except ValueError:
            pass  # an infinite or NaN value: Python's own error
    prefix: dict[str, Callable[[Any], Any]] = {"-": operator.neg, "+": operator.pos,
                                                "round": round}
    return sequence(_python_map(prefix[op], values))


def choose(test: Array, then: Array, otherwise: Array) -> Array:
    """`then if test else otherwise`, elementwise."""
    mask = truth(test)
    sides = typed.strings_of(then), typed.strings_of(otherwise)
    if sides[0] is not None and sides[1] is not None and then.shape == otherwise.shape:
        (a, b), vocab = typed.merged(sides[0], sides[1])
        return typed.from_codes(np.where(mask, a, b), vocab)
    if "O" in (then.dtype.kind, otherwise.dtype.kind) and then.shape == otherwise.shape:
        numbers = typed.numbers_of(then), typed.numbers_of(otherwise)
        if numbers[0] is not None and numbers[1] is not None:
            return typed.from_numbers(np.where(mask, numbers[0][0], numbers[1][0]),
                                      np.where(mask, numbers[0][1], numbers[1][1]))
    if then.dtype == otherwise.dtype:
        return np.where(mask, then, otherwise)
    return sequence(np.where(mask, then.astype(object), otherwise.astype(object)))


def is_in(values: Array, items: list) -> Array:
    """`values in items` elementwise (membership by ==, as Python's `in`)."""
    strings = typed.strings_of(values)
    if strings is not None:
        members = {item for item in items if isinstance(item, str)}
        return np.array([v in members for v in strings[1].tolist()], dtype=bool)[strings[0]]
    flat = values.ravel().tolist() if values.dtype.kind == "O" else []
    if flat and all_strings(flat):  # a string equals only a string: one pass through a set
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
