"""Language-level values that are not graph nodes: functions, applied results, inputs.

S-ops and selectors are nodes of the computation graph (graph.py); this module holds the
other values RASP programs handle, and how any value is described in messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .errors import RaspValueError, shorten
from .graph import Node, Selector, SOp

__all__ = ["Function", "Applied", "prepare_input", "describe", "KINDS", "of_kind"]

# The kinds a parameter can be declared to take: what each accepts, and how a message says it.
KINDS: dict[str, tuple[str, Any]] = {
    "selector": ("a selector", lambda v: isinstance(v, Selector)),
    "s-op": ("an s-op", lambda v: isinstance(v, SOp) or isinstance(v, ops.ATOM_TYPES)),
    "atom": ("an atom", lambda v: isinstance(v, ops.ATOM_TYPES)),
    "list": ("a list", lambda v: isinstance(v, list)),
    "string": ("a string", lambda v: isinstance(v, str)),
    "int": ("an integer", lambda v: isinstance(v, int)),
}


def of_kind(value: Any, kind: str) -> bool:
    return bool(KINDS[kind][1](value))


class Function:
    """A RASP function: parameters, body and return expressions, closed over `env` (whose
    name, "console" or a file's, says where it was defined)."""

    def __init__(self, name: str, params: tuple[str, ...], body: tuple, returns: tuple,
                 env: Any):
        self.name, self.params, self.body, self.returns = name, params, body, returns
        self.env = env
        # what each parameter must be, where its file declares it (`#: f(x: selector)`)
        self.kinds: tuple[str, ...] | None = None

    @property
    def home(self) -> str:
        return self.env.name

    def __repr__(self) -> str:
        return f"{self.home} function: {self.name}({', '.join(self.params)})"


class Applied:
    """The result of applying an s-op or selector to an input: a finished value to print."""

    def __init__(self, node: Node, example: Any, result: np.ndarray):
        self.node, self.example, self.result = node, example, result


def prepare_input(value: Any) -> list:
    """An input sequence as a list of atoms; a string is a sequence of characters."""
    if isinstance(value, np.ndarray):  # a numpy array of atoms, from the Python API
        if value.ndim != 1:
            raise RaspValueError(f"an input must be one sequence, got an array of shape "
                                 f"{value.shape}")
        value = value.tolist()
    if isinstance(value, str):
        items = list(value)
    elif isinstance(value, (list, tuple)):
        items = [v.item() if isinstance(v, np.generic) else v for v in value]
    else:
        raise RaspValueError(f"an input must be a string or a list, got {describe(value)}")
    if not items:
        raise RaspValueError("an input must not be empty")
    if isinstance(value, str) or set(map(type, items)) <= set(ops.ATOM_TYPES):
        return items  # (one pass in C; subclasses of the atoms' types are checked one by one)
    for item in items:
        if not isinstance(item, ops.ATOM_TYPES):
            raise RaspValueError(f"input values must be atoms, got {describe(item)}")
    return items


def describe(value: Any) -> str:
    """A short description of any RASP value for messages."""
    if isinstance(value, SOp):
        return f"s-op {value.title}"
    if isinstance(value, Selector):
        return f"selector {value.title}"
    if isinstance(value, Function):
        return f"function {value.name}"
    if isinstance(value, Applied):
        return f"the result of applying {value.node.title} to an input"
    if isinstance(value, str):
        return f'"{shorten(value, 40)}"'
    if isinstance(value, list):
        return shorten("[" + ", ".join(describe(v) for v in value[:10]) + "]", 60)
    if isinstance(value, dict):
        return shorten("{" + ", ".join(f"{describe(k)}: {describe(v)}"
                                       for k, v in list(value.items())[:10]) + "}", 60)
    return shorten(repr(value), 40)
