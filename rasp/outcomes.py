"""What statements give a session: outcomes, one per statement, as immutable data.

The evaluator runs statements; the session (interpreter.py) turns what the top-level ones
give into outcomes and hands each to a sink as it comes: a value shown, an analysis, a
drawing, a compiled model, a message, an error a loaded file reported and went on after, the
end of the program. Front ends render outcomes: `render` writes the plain text (scripts, piped
input, the REPL); the notebook takes its cell's last outcome as the cell's result and displays
its data richly. Each outcome keeps the text the REPL prints for it (`lines`), made under the
session's settings when the statement ran, and the data that text was made from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .analysis import Analysis
from .draw import Flow
from .errors import RaspError, Span, format_error

__all__ = ["Shown", "Analyzed", "Drawn", "Built", "Message", "Reported", "Exited", "Outcome",
           "RESULTS", "render"]


@dataclass(frozen=True)
class Shown:
    """`x;` (interactively also `x = ...;`, `def f...` and what a `load` defined): a value as
    the REPL prints it. `warning`: why the value is shown without its running example (it
    fails on it)."""

    name: str | None
    value: Any
    lines: tuple[str, ...]
    warning: RaspError | None = None


@dataclass(frozen=True)
class Analyzed:
    """`analyze(sop);`: the layers and heads, checked on the running example."""

    analysis: Analysis
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Drawn:
    """`draw(sop[, input]);`: the flow on the input, the s-op's value there, the picture's
    files (none where the session writes none), and why a picture could not be made."""

    flow: Flow
    result: np.ndarray
    files: tuple[Path, ...]
    lines: tuple[str, ...]
    span: Span
    note: str | None = None

    @property
    def note_line(self) -> str:
        """The note as a diagnostic at the drawn s-op."""
        return f"{self.span.where}: note: {self.note}"


@dataclass(frozen=True)
class Built:
    """`compile(sop, vocab, max_len[, path]);`: the rasp.compiler.Compiled (summary, check,
    model) and the file it was saved to, if any."""

    compiled: Any
    saved: str | None
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Message:
    """Text a session statement prints (`show example`)."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class Reported:
    """A statement of a file loaded interactively failed; the load went on after it."""

    error: RaspError


@dataclass(frozen=True)
class Exited:
    """`exit` / `quit`: the program stopped here."""


Outcome = Shown | Analyzed | Drawn | Built | Message | Reported | Exited
# the outcomes that can be a notebook cell's result (the others only print)
RESULTS = (Shown, Analyzed, Drawn)


def render(outcome: Outcome, out: Callable[[str], Any], warn: Callable[[str], Any]) -> None:
    """An outcome as plain text: its lines to `out`, its diagnostics to `warn`, in the order
    the REPL has always printed them."""
    match outcome:
        case Reported(error=error):
            warn(format_error(error))
        case Drawn(lines=lines):
            if outcome.note is not None:
                warn(outcome.note_line)
            for line in lines:
                out(line)
        case Shown(lines=lines, warning=warning):
            for line in lines:
                out(line)
            if warning is not None:
                warn(format_error(warning, "warning"))
        case Analyzed(lines=lines) | Built(lines=lines) | Message(lines=lines):
            for line in lines:
                out(line)
        case Exited():
            pass
