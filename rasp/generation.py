"""Generation: an s-op used as a decoder's next-token rule.

The value of the s-op at the last position of the sequence so far is appended as the next
token, `steps` times (or until a step gives the token `until`). The interpreter and a
compiled causal model run the same loop (`generate`), each with its own `next_token`, and so
give the same sequences when they agree. In causal mode the values at earlier positions never
change as tokens are appended (the prefix property), so the last position is all there is
to read; in the default mode the whole sequence is evaluated again at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import ops
from .errors import RaspValueError, shorten

__all__ = ["generate", "check_steps", "not_a_token"]


def check_steps(steps: Any) -> int:
    """`steps`, a whole number of at least 0, or the error that says so."""
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise RaspValueError(f"generate's steps must be a whole number, got {steps!r}")
    if steps < 0:
        raise RaspValueError(f"generate's steps must be at least 0, got {steps}")
    return steps


def generate(next_token: Callable[[list], Any], prompt: Sequence[Any], steps: int,
             until: Any = None, vocab: Sequence[Any] | None = None,
             max_len: int | None = None) -> list:
    """The prompt and up to `steps` tokens after it: each the value `next_token(sequence)`
    gives at the sequence's last position. A value that is not a token (not in `vocab`,
    where given; else not of the prompt's kind) is refused, as is a sequence beyond
    `max_len`. Stops after appending `until`, when a step gives it."""
    sequence = list(prompt)
    check_steps(steps)
    if max_len is not None:
        _check_length(len(sequence), steps, max_len)
    for step in range(1, steps + 1):
        token = next_token(sequence)
        problem = not_a_token(token, sequence, vocab)
        if problem is not None:
            raise RaspValueError(f"step {step}: the value at the last position of "
                                 f"{_short(sequence)} is {token!r}, {problem}; generation "
                                 f"appends it to the input, so it must be a token")
        sequence.append(token)
        if until is not None and ops.atom_key(token) == ops.atom_key(until):
            break
    return sequence


def _check_length(prompt: int, steps: int, max_len: int) -> None:
    """The sequences read (the prompt, and all but the last token generated) must be within
    max_len."""
    if prompt > max_len:
        raise RaspValueError(f"the prompt has {prompt} tokens, more than max_len {max_len}")
    if prompt + steps - 1 > max_len:
        raise RaspValueError(f"generating {steps} tokens after a prompt of {prompt} reads "
                             f"inputs of up to {prompt + steps - 1} tokens, more than max_len "
                             f"{max_len}")


def not_a_token(value: Any, sequence: list, vocab: Sequence[Any] | None) -> str | None:
    """Why `value` cannot follow `sequence` as a token (None when it can): it is not in
    `vocab`, or with no vocabulary it is not of the kind of the tokens so far (a string
    after strings, a number after numbers, a bool after bools)."""
    if vocab is not None:
        if ops.atom_key(value) not in {ops.atom_key(t) for t in vocab}:
            return f"which is not in the vocabulary {_short(list(vocab))}"
        return None
    kinds = {_kind(t) for t in sequence}
    if _kind(value) not in kinds:
        return (f"a {_kind(value)}, where the tokens are "
                f"{' and '.join(sorted(k + 's' for k in kinds))}")
    return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return "string" if isinstance(value, str) else "number"


def _short(items: list) -> str:
    return shorten(repr(items), 60)
