"""Typed forms of object sequences: what a kernel knows about the object array it made.

Strings and sequences mixing ints with floats are object arrays (ops.py): every consumer of
an s-op's value, display and compiler included, reads them as Python values. A kernel that
builds one from typed arrays keeps those beside it, on a `Typed` array (an object array
still, equal in every way), so that the next kernel computes on integers and floats instead
of a million Python objects:

* strings: `codes` (int32) into `vocab`, an object array of distinct Python strings in
  sorted order, so that codes compare as the strings do;
* ints mixed with floats: `floats` (float64) and `is_float` (bool), every int exact as a
  float (at most 2^53 in magnitude).

A form is only ever attached to a finished array: views, copies and numpy's results of a
`Typed` array carry none (`__array_finalize__` leaves the class's None), so a form can be
lost but never wrong. Every consumer falls back to the object array where there is none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray
EXACT = 2**53  # ints of at most this magnitude are exact as float64
# Arrays of fewer values carry no form: for an input of 8 tokens, making one costs more
# than the kernels save (tens of microseconds, the whole fixed cost of a node). The tests
# set it to 0, to compare the kernels with and without forms on short inputs.
MIN_SIZE = 1024


class Typed(np.ndarray):
    """An object array with the typed form of its values (None where it has none)."""

    codes: Array | None = None
    vocab: Array | None = None
    floats: Array | None = None
    is_float: Array | None = None

    def __array_finalize__(self, obj: Any) -> None:
        """Views and results start without a form (the class attributes)."""


def strings_of(values: Array) -> tuple[Array, Array] | None:
    """(codes, vocab) of a sequence of strings that has them."""
    codes = getattr(values, "codes", None)
    return None if codes is None else (codes, values.vocab)  # type: ignore[attr-defined]


def numbers_of(values: Array) -> tuple[Array, Array] | None:
    """(floats, is_float) of a sequence of ints and floats: its own for a mixed one that has
    them, derived for a numeric array (bools excepted: they are not ints here)."""
    floats = getattr(values, "floats", None)
    if floats is not None:
        return floats, values.is_float  # type: ignore[attr-defined]
    kind = values.dtype.kind
    if kind == "f":
        return values, np.ones(values.shape, dtype=bool)
    if kind in "iu" and (not values.size or max(abs(int(values.min())),
                                                abs(int(values.max()))) <= EXACT):
        return values.astype(np.float64), np.zeros(values.shape, dtype=bool)
    return None


def from_codes(codes: Array, vocab: Array) -> Array:
    """The object array of strings `vocab[codes]`, with its form from MIN_SIZE values on."""
    if codes.size < MIN_SIZE:
        return vocab[codes]
    out = vocab[codes].view(Typed)
    out.codes, out.vocab = codes, vocab
    return out


def from_numbers(floats: Array, is_float: Array) -> Array:
    """The sequence of a Python float where `is_float`, else the int `floats` holds exactly:
    a float64 or int64 array where all positions are of one type, as ops.sequence makes
    them, else a mixed object array with its form."""
    if is_float.all():
        return floats
    if not is_float.any():
        return floats.astype(np.int64)
    out = floats.astype(object)
    ints = ~is_float
    out[ints] = floats[ints].astype(np.int64).astype(object)
    if out.size < MIN_SIZE:
        return out
    typed = out.view(Typed)
    typed.floats, typed.is_float = floats, is_float
    return typed


SMALL = 1024  # vocabularies up to this many strings are sorted by Python: fewer calls


def encode(values: Array) -> Array | None:
    """`values` (an object array) with its strings' form, or None if they are not all
    strings."""
    if values.size < max(MIN_SIZE, 1) or not isinstance(values.flat[0], str):
        return None  # (numbers, say: no list of a million of them to make)
    items = values.ravel().tolist()
    try:
        joined = "".join(items)
    except TypeError:
        return None
    codes: Array
    if len(items) <= SMALL or "\x00" in joined:  # (numpy's unicode arrays drop NULs)
        vocab, index = vocabulary(items)
        codes = np.array(index, dtype=np.int32)
    elif len(joined) == len(items):  # characters: their code points, in C
        # a table over the code points in place of np.unique's sort: a tenth of the time
        points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        present = np.bincount(points) > 0
        uniques = np.flatnonzero(present)
        codes = (np.cumsum(present, dtype=np.int32) - 1)[points]
        vocab = _objects([chr(p) for p in uniques.tolist()])
    else:
        uniques, codes = np.unique(values.ravel().astype(str), return_inverse=True)
        vocab = uniques.astype(object)
    # the form beside the strings already made, rather than a new array of them
    out = values.view(Typed)
    out.codes, out.vocab = codes.astype(np.int32).reshape(values.shape), vocab
    return out


def merged(*forms: tuple[Array, Array]) -> tuple[list[Array], Array]:
    """Codes of several string forms into one sorted vocabulary: (their codes, it)."""
    if all(vocab is forms[0][1] for _, vocab in forms):
        return [codes for codes, _ in forms], forms[0][1]
    both = np.concatenate([vocab for _, vocab in forms])
    items = both.tolist()
    inverse: Array
    if len(items) <= SMALL or "\x00" in "".join(items):
        vocab, index = vocabulary(items)
        inverse = np.array(index, dtype=np.int32)
    else:
        uniques, inverse = np.unique(both.astype(str), return_inverse=True)
        vocab = uniques.astype(object)
    out, start = [], 0
    for codes, part in forms:
        out.append(inverse[start:start + len(part)].astype(np.int32)[codes])
        start += len(part)
    return out, vocab


def vocabulary(items: list[str]) -> tuple[Array, list[int]]:
    """The distinct strings in Python's order, and each item's place among them."""
    ordered = sorted(set(items))
    place = {s: i for i, s in enumerate(ordered)}
    return _objects(ordered), [place[s] for s in items]


def _objects(items: list) -> Array:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def take(values: Array, index: Array) -> Array:
    """values[index], keeping its form (a mixed one may come out all floats or all ints)."""
    strings = strings_of(values)
    if strings is not None:
        return from_codes(strings[0][index], strings[1])
    floats = getattr(values, "floats", None)
    if floats is not None:
        return from_numbers(floats[index], values.is_float[index])  # type: ignore[attr-defined]
    return values[index]


def reshaped(values: Array, shape: tuple) -> Array:
    """values.reshape(shape), keeping its form."""
    out = values.reshape(shape)
    if not isinstance(values, Typed) or values.codes is values.floats is None:
        return out
    typed = out.view(Typed)
    for name in ("codes", "floats", "is_float"):
        if getattr(values, name) is not None:
            setattr(typed, name, getattr(values, name).reshape(shape))
    typed.vocab = values.vocab
    return typed
