"""Differential testing: random programs, run by the interpreter and by the per-element
reference (`reference_evaluator.py`), must give the same values, or both an error. And the
engine's two ways of evaluating an aggregate, by the selector's pattern (planner.py) and by
blocks of rows, must give identical outcomes: values of the same types, to the last bit, and
the same errors at the same places, on single inputs and on batches.

Values are compared as Python lists, element by element, with their Python types (an int is
not a float) and floats to a relative 1e-9. Any exception that is not a RaspError is a bug.
`HYPOTHESIS_PROFILE=long` runs many more cases; `--hypothesis-show-statistics` shows how many
ended in values and how many in errors.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from hypothesis import event, given

from rasp import Interpreter, RaspError, planner, typed
from rasp.graph import Selector, SOp

from program_strategies import Case, cases
from reference_evaluator import Evaluator, RefError, Sel, Seq, causal_rows


class Failed:
    """An evaluation that ended in a user error (the message is kept for the report)."""

    def __init__(self, message: str):
        self.message = message

    def __repr__(self) -> str:
        first_line = self.message.partition("\n")[0]
        return f"<error: {first_line}>"


def _real(case: Case, causal: bool = False) -> Any:
    """name -> value (atoms) or one result per input (s-ops, selectors); or Failed."""
    it = Interpreter(warn=lambda text: None, causal=causal)
    try:
        it.run(case.source, "<generated>")
    except RaspError as e:
        return Failed(e.message)
    results = {}
    for name in case.names:
        value = it.value(name)
        if isinstance(value, (SOp, Selector)):
            results[name] = [_attempt(RaspError, it.evaluate, name, x) for x in case.inputs]
        else:
            results[name] = value
    return results


def _reference(case: Case, causal: bool = False) -> Any:
    evaluator = Evaluator(causal)
    try:
        evaluator.run(list(case.statements))
    except RefError as e:
        return Failed(str(e))
    results = {}
    for name in case.names:
        value = evaluator.values[name]
        if isinstance(value, (Seq, Sel)):
            results[name] = [_attempt(RefError, _apply, value, x, causal) for x in case.inputs]
        else:
            results[name] = value
    return results


def _apply(value: Seq | Sel, example: Any, causal: bool = False) -> list:
    if not example:
        raise RefError("an input must not be empty")
    result = value(tuple(example))
    return causal_rows(result) if causal and isinstance(value, Sel) else result


def _attempt(error: type[Exception], compute, *args) -> Any:
    try:
        return compute(*args)
    except error as e:
        return Failed(getattr(e, "message", str(e)))


def same(real: Any, ref: Any) -> bool:
    """Equal values of equal Python types; floats to a relative 1e-9 (and 1e-12 absolute,
    for sums that cancel to about zero)."""
    if isinstance(ref, Failed) or isinstance(real, Failed):
        return isinstance(ref, Failed) and isinstance(real, Failed)
    if type(real) is not type(ref):
        return False
    if isinstance(ref, (list, tuple)):
        return len(real) == len(ref) and all(same(a, b) for a, b in zip(real, ref))
    if isinstance(ref, dict):
        return real.keys() == ref.keys() and all(same(real[k], ref[k]) for k in ref)
    if isinstance(ref, float):
        return (math.isnan(real) and math.isnan(ref)) or math.isclose(
            real, ref, rel_tol=1e-9, abs_tol=1e-12)
    return real == ref


def _classify(outcome: Any) -> str:
    if isinstance(outcome, Failed):
        return "error while building"
    kinds = {"error" if isinstance(r, Failed) else "value"
             for rs in outcome.values() if isinstance(rs, list) for r in rs}
    return "values: " + (" and ".join(sorted(kinds)) or "atoms only")


def check(case: Case, causal: bool = False) -> None:
    real, ref = _real(case, causal), _reference(case, causal)
    event(_classify(ref))
    if isinstance(real, Failed) or isinstance(ref, Failed):
        assert same(real, ref), f"\n{case.source}\nreal: {real}\nreference: {ref}"
        return
    for name in case.names:
        assert same(real[name], ref[name]), (
            f"\n{case.source}\n{name} on {case.inputs}:\nreal:      {real[name]}\n"
            f"reference: {ref[name]}")


@given(cases())
def test_interpreter_agrees_with_the_reference(case):
    check(case)


@given(cases())
def test_causal_interpreter_agrees_with_the_causal_reference(case):
    """Causal mode (`Interpreter(causal=True)`), element by element: every selection cut to
    the keys at or before its query, `length` a prefix length."""
    check(case, causal=True)


# ---------------------------------------------------------------- planner against blocks

@contextlib.contextmanager
def _planner(taken: list[bool]) -> Iterator[None]:
    """`taken` records, for each aggregate the planner is asked about, whether it
    evaluated it."""
    plan = planner.aggregate

    def recorded(*args):
        taken.append(True)  # an error raised by the planner counts as planned
        out = plan(*args)
        taken[-1] = out is not None
        return out
    planner.aggregate = recorded
    try:
        yield
    finally:
        planner.aggregate = plan


def _outcome(error: RaspError | None, value: Any = None) -> Any:
    """A value as (type, repr) leaves, exact to the bit and the sign of zero; an error as its
    message and place."""
    if error is not None:
        return ("error", error.message, repr(error.span), repr(error.notes))
    if isinstance(value, list):
        return [_outcome(None, v) for v in value]
    return (type(value).__name__, repr(value))


def _run_all(case: Case, on: bool, taken: list[bool]) -> Any:
    with _planner(taken):
        it = Interpreter(warn=lambda text: None)
        it.plan_from = 0 if on else None  # the planner at every size, or never
        try:
            it.run(case.source, "<generated>")
        except RaspError as e:
            return _outcome(e)
        results = {}
        for name in case.names:
            if isinstance(it.value(name), (SOp, Selector)):
                results[name] = [_evaluated(it.evaluate, name, x) for x in case.inputs]
                results[name + " (batch)"] = _evaluated(it.evaluate_batch, name, case.inputs)
        return results


def _evaluated(compute, *args) -> Any:
    try:
        return _outcome(None, compute(*args))
    except RaspError as e:
        return _outcome(e)


def check_planner(case: Case) -> None:
    taken: list[bool] = []
    planned, blocks = _run_all(case, True, taken), _run_all(case, False, [])
    event("no aggregates" if not taken else "aggregates: all by the planner" if all(taken)
          else "aggregates: some by the planner, some by blocks" if any(taken)
          else "aggregates: all by blocks")
    assert planned == blocks, f"\n{case.source}\non {case.inputs}"


@given(cases())
def test_the_planner_agrees_with_the_block_path(case):
    check_planner(case)


# ---------------------------------------------------------------- typed forms against objects

@contextlib.contextmanager
def _without_forms() -> Iterator[None]:
    """Kernels that make object arrays without their typed forms (rasp/typed.py), so that
    every consumer takes its object path."""
    saved = typed.encode, typed.from_codes, typed.from_numbers

    def from_codes(codes, vocab):
        return vocab[codes]

    def from_numbers(floats, is_float):
        out = saved[2](floats, is_float)
        return np.asarray(out)  # the same values, as a plain array: no form
    typed.encode, typed.from_codes, typed.from_numbers = (lambda values: None), from_codes, \
        from_numbers
    try:
        yield
    finally:
        typed.encode, typed.from_codes, typed.from_numbers = saved


def check_forms(case: Case) -> None:
    least, typed.MIN_SIZE = typed.MIN_SIZE, 0  # forms on the shortest inputs too
    try:
        with_forms = _run_all(case, True, [])
        with _without_forms():
            without = _run_all(case, True, [])
    finally:
        typed.MIN_SIZE = least
    assert with_forms == without, f"\n{case.source}\non {case.inputs}"


@given(cases())
def test_typed_forms_agree_with_object_arrays(case):
    """Strings as codes and ints mixed with floats as float64 give identical outcomes, to the
    bit and the type, on the planner's path and on single inputs and batches."""
    check_forms(case)


def test_characters_are_coded_in_their_order():
    """Inputs of single characters take their codes from the code points (a table, not a
    sort): the vocabulary sorted as Python sorts strings, non-BMP characters included."""
    text = "zé\U0001F600a\x00b" * 300  # (a NUL: numpy's unicode arrays would drop it)
    for chars in (text, text.replace("\x00", "")):
        values = np.array(list(chars), dtype=object)
        coded = typed.encode(values)
        assert coded is not None and (coded == values).all()
        codes, vocab = typed.strings_of(coded)
        assert vocab.tolist() == sorted(set(chars)) and (vocab[codes] == values).all()
