"""The program a model is trained to follow: its target s-op, the attention heads the analysis
assigns, and their values on inputs.

This is the one module of rasp.train that reaches below the Interpreter's public API (graph
nodes and `evaluate`, to get each head's selection matrix with the target's cache): when the
core's internals move, only the imports here change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis import Analysis
from ..engine import evaluate, input_array
from ..errors import RaspTypeError
from ..graph import Selector, SOp
from ..interpreter import Interpreter
from ..values import describe

__all__ = ["HeadSpec", "Program", "load_program"]


@dataclass(frozen=True)
class HeadSpec:
    """An attention head of the program: transformer layer `layer` (1-based, as the analysis
    numbers them), slot `head` (0-based) within it, and the selector it realises."""

    layer: int
    head: int
    selector: str

    @property
    def key(self) -> str:
        return f"L{self.layer}H{self.head + 1}"

    def to_json(self) -> dict:
        """The head in every file train and dataset write: numbered as the analysis prints
        it, layer and head 1-based (`key`'s L1H1 is {"layer": 1, "head": 1})."""
        return {"layer": self.layer, "head": self.head + 1, "selector": self.selector}


class Program:
    """An s-op `name` of a session, with its analysis."""

    def __init__(self, interpreter: Interpreter, name: str, source: str = "",
                 file: str | None = None):
        value = interpreter.value(name)
        if not isinstance(value, SOp):
            kind = "a selector" if isinstance(value, Selector) else describe(value)
            raise RaspTypeError(f"'{name}' is {kind}; a model is trained on an s-op's output")
        self.interpreter, self.name, self.source, self.file = interpreter, name, source, file
        self.sop = value
        self.analysis: Analysis = interpreter.analyze(name)
        self.heads = [HeadSpec(layer.number, i, _text(head.selector))
                      for layer in self.analysis.layers[1:]
                      for i, head in enumerate(layer.heads)]
        self._selectors = [head.selector for layer in self.analysis.layers[1:]
                           for head in layer.heads]

    @property
    def layers(self) -> int:
        return self.analysis.depth

    @property
    def max_heads(self) -> int:
        return self.analysis.max_heads

    def outputs(self, inputs: list[list]) -> list[list]:
        """The target s-op on each input (through the session's batch evaluation)."""
        return self.interpreter.evaluate_batch(self.name, inputs)

    def selections(self, group: list[list]) -> np.ndarray:
        """Every head's selection matrix on inputs of one length: (heads, B, n, n) bool."""
        batch = input_array(group, batch=True)
        n = batch.shape[1]
        cache: dict[int, np.ndarray] = {}
        out = np.zeros((len(self._selectors), len(group), n, n), dtype=bool)
        for k, selector in enumerate(self._selectors):
            out[k] = np.broadcast_to(evaluate(selector, batch, cache), (len(group), n, n))
        return out


def _text(selector: Selector) -> str:
    """A selector's name, with the line of the call that made it: the paper programs make
    several heads with one helper (`with_bos` in `_bos_width`)."""
    if not selector.trace:
        return selector.title
    return f"{selector.title} (line {selector.trace[-1][1].line})"


def load_program(file: str | os.PathLike, name: str) -> Program:
    """Run a .rasp file in a new session and take its s-op `name` (a name or an expression).
    Raises RaspError for a program that fails, OSError for a file that cannot be read. (The
    `rasp` command also finds a bare name in the example library: rasp.commands.common.)"""
    source = Path(file).read_text(encoding="utf-8")
    interpreter = Interpreter(out=lambda line: None, warn=lambda line: None)
    interpreter.run(source, os.fspath(file))
    return Program(interpreter, name, source, os.fspath(file))
