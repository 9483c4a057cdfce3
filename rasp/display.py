"""How RASP values are printed, in the original interpreter's formats (spec §2, reference §9).

Functions here return text; the caller decides where it goes. No colour logic lives elsewhere:
`Settings.colour` (set by the REPL on a terminal) paints kinds, names and types, and
`colour_diagnostic` paints error messages. With colour off, every text is exactly the
original's.
"""

from __future__ import annotations

import os
import re
import textwrap
import unicodedata
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np

from . import ops
from .errors import visible
from .graph import Selector, SOp
from .values import Applied, Function

__all__ = ["format_sequence", "format_cell", "visible", "format_matrix", "format_example",
           "show_value", "show_application", "kind_of", "format_names", "paint", "colour_wanted",
           "colour_diagnostic"]

# ---------------------------------------------------------------- colour

# ANSI SGR codes by role; kept to the 8 basic colours so that every terminal theme shows them.
_SGR = {"kind": "36", "name": "1", "type": "2", "error": "1;31", "warning": "1;35",
        "note": "1;36", "caret": "1;32", "where": "1"}


def paint(text: str, role: str, colour: bool) -> str:
    """`text` in the colour of `role` when `colour` is on; otherwise `text` unchanged."""
    return f"\x1b[{_SGR[role]}m{text}\x1b[0m" if colour and text else text


def colour_wanted(stream: TextIO) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (no-color.org) or TERM=dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


_DIAGNOSTIC = re.compile(r"^(\S.*?:\d+:\d+: )?(error|warning|note)(:)", re.M)
_CARETS = re.compile(r"^(\s+\| *)(\^+)$", re.M)
_INTERNAL = re.compile(r"^internal error:", re.M)


def colour_diagnostic(text: str) -> str:
    """A message of `errors.format_error` (or an internal-error line) with its location,
    severity and carets painted."""
    text = _DIAGNOSTIC.sub(
        lambda m: paint(m[1] or "", "where", True) + paint(m[2] + m[3], m[2], True), text)
    text = _CARETS.sub(lambda m: m[1] + paint(m[2], "caret", True), text)
    return _INTERNAL.sub(lambda m: paint(m[0], "error", True), text)


# ---------------------------------------------------------------- values


def format_cell(v: Any) -> str:
    """One value of a sequence as sequences print it: T/F, floats to 3 decimals."""
    if isinstance(v, bool):
        return "T" if v else "F"
    if isinstance(v, float):
        return str(round(v, 3))
    return visible(str(v))


SHOWN_VALUES = 1000  # longer sequences show their first and last SHOWN_ENDS values
SHOWN_ENDS = 20


def format_sequence(values: np.ndarray, colour: bool = False, whole: bool = False) -> str:
    """`[v1, v2, ...] (TYPEs)`, or `[v]*n (TYPEs)` when all n > 1 values are equal. Past
    SHOWN_VALUES values (unless `whole`), the first and last SHOWN_ENDS, and the count: a
    100,000-token input must not flood the terminal."""
    items = ops.as_python(values)
    kind = paint(f'({ops.seq_type(values)})', 'type', colour)
    if len(items) > 1 and len(set(items)) == 1:
        return f"[{format_cell(items[0])}]*{len(items)} {kind}"
    if len(items) > SHOWN_VALUES and not whole:
        ends = [", ".join(format_cell(v) for v in part)
                for part in (items[:SHOWN_ENDS], items[-SHOWN_ENDS:])]
        return (f"[{ends[0]}, ..., {ends[1]}] {kind} ({len(items):,} values: the first and "
                f"last {SHOWN_ENDS} shown)")
    return "[" + ", ".join(format_cell(v) for v in items) + f"] {kind}"


def format_example(example: Any) -> str:
    """An input or an atom as the original writes it: strings in double quotes, other
    values (lists too) as Python does."""
    return f'"{visible(example)}"' if isinstance(example, str) else visible(str(example))


def text_width(text: str) -> int:
    """The columns `text` takes on a terminal: wide (East Asian) characters take two,
    combining ones none."""
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _widen(cell: str, like: str) -> str:
    """`cell`, padded to the width a wide token takes beyond its length, so that a column of
    cells stays under it. Tokens of ordinary characters change nothing (the original's text)."""
    extra = text_width(like) - len(like)
    return cell + " " * extra if extra > 0 else cell


def format_matrix(example: list, matrix: np.ndarray, prefix: str = "") -> list[str]:
    """A selection matrix: the keys across the top, one row per query."""
    tokens = [visible(str(t)) for t in example]
    lines = [f"{prefix} \t\t\t     " + " ".join(tokens)]
    margin = max((text_width(t) - len(t) for t in tokens), default=0)
    for token, row in zip(tokens, matrix):
        cells = " ".join(_widen("1" if v else " ", key) for v, key in zip(row, tokens))
        pad = " " * (margin - (text_width(token) - len(token)))
        lines.append(f"{prefix} \t\t\t {token}{pad} | " + cells)
    if margin:  # the header moves right by as much as the widest query label
        lines[0] = f"{prefix} \t\t\t     " + " " * margin + " ".join(tokens)
    return lines


def _full_rows(example: list, values: np.ndarray, prefix: str) -> list[str]:
    """The column-aligned display of `full seq display on`."""
    def cleaned(items: list) -> list[str]:
        if items and isinstance(items[0], bool):
            trues, falses = items.count(True), items.count(False)
            t, f = ("T" if trues <= falses else ""), ("F" if falses <= trues else "")
            return [t if v else f for v in items]
        return [visible(str(v)) for v in items]

    inputs, outputs = cleaned(list(example)), cleaned(ops.as_python(values))
    width = max(text_width(v) for v in inputs + outputs)

    def neat(cells: list[str]) -> str:
        return " ".join(" " * (width - text_width(c)) + c for c in cells)

    return [f"{prefix} \t\tinput:   {neat(inputs)} \t (strings)",
            f"{prefix} \t\toutput:  {neat(outputs)} \t ({ops.seq_type(values)})"]


Evaluate = Callable[[Any, Any], np.ndarray]
SHOWN_MATRIX_TOKENS = 100  # longer running examples show a selector's matrix as a summary


class Settings:
    """What the REPL's commands change: the running examples and what is displayed."""

    def __init__(self) -> None:
        self.examples: dict[str, Any] = {"s-op": "hello", "selector": "hello"}
        self.show: dict[str, bool] = {"s-op": True, "selector": True}
        self.full_display = False
        self.colour = False  # the REPL turns it on for a terminal

    def quiet(self) -> Settings:
        """The same settings with the examples hidden (to list what a `load` defined)."""
        quiet = Settings()
        quiet.examples, quiet.full_display, quiet.colour = (self.examples, self.full_display,
                                                            self.colour)
        quiet.show = {"s-op": False, "selector": False}
        return quiet


def show_value(name: str | None, value: Any, settings: Settings, evaluate: Evaluate,
               tabs: int = 0, prefix: str = "") -> list[str]:
    """A named value as the REPL prints it after `x;` or `x = ...;`."""
    pad, colour = "\t" * tabs, settings.colour
    title = name or (value.title if isinstance(value, (SOp, Selector)) else "out")
    if isinstance(value, SOp):
        lines = [f"{pad} {prefix}    {_label('s-op', title, colour)}"]
        if settings.show["s-op"]:
            example = settings.examples["s-op"]
            result = evaluate(value, example)
            if settings.full_display and len(set(ops.as_python(result))) > 1:
                lines.append(f"{pad} \t Example:")
                lines += _full_rows(_tokens(settings.examples["selector"]), result, pad)
            else:
                head = f"{pad} \t Example: {title}({format_example(example)}) ="
                tail = " [skipped full display: identical values]" if settings.full_display else ""
                lines.append(f"{head} {format_sequence(result, colour)}{tail}")
        return lines
    if isinstance(value, Selector):
        lines = [f"{pad} {prefix}    {_label('selector', title, colour)}"]
        if settings.show["selector"]:
            example = settings.examples["selector"]
            tokens = _tokens(example)
            if len(tokens) > SHOWN_MATRIX_TOKENS:  # a summary, not n lines of n cells
                matrix = evaluate(value, example)
                lines.append(f"{pad} \t Example: a {len(tokens)} x {len(tokens)} selection "
                             f"matrix, {int(np.count_nonzero(matrix)):,} cells selected (shown "
                             f"for running examples of up to {SHOWN_MATRIX_TOKENS} tokens; "
                             f"apply it to an input to see it)")
                return lines
            lines.append(f"{pad} \t Example:")
            lines += format_matrix(tokens, evaluate(value, example), pad)
        return lines
    if isinstance(value, Function):
        return [f"{pad} {prefix}    {value.home} {_label('function', _signature(value), colour)}"]
    if isinstance(value, Applied):
        return show_application(value.example, value.result, settings.full_display)
    if isinstance(value, (list, dict)):
        return _show_container(name, value, settings, evaluate, tabs, prefix)
    named = f"{paint(name, 'name', colour)} = " if name is not None else ""
    return [f"{pad}    {paint('value:', 'kind', colour)} {named} {format_example(value)}"]


def _label(kind: str, name: str, colour: bool) -> str:
    """`kind: name`, as the first line of a value's display."""
    return f"{paint(kind + ':', 'kind', colour)} {paint(name, 'name', colour)}"


def _signature(function: Function) -> str:
    return f"{function.name}({', '.join(function.params)})"


def _show_container(name: str | None, value: Any, settings: Settings, evaluate: Evaluate,
                    tabs: int, prefix: str) -> list[str]:
    pad, colour = "\t" * tabs, settings.colour
    kind = "list" if isinstance(value, list) else "dict"
    named = f"   {kind}: " + (f"{name} = " if name is not None else "")
    shown = f"   {paint(kind + ':', 'kind', colour)} " + (
        f"{paint(name, 'name', colour)} = " if name is not None else "")
    items = value if isinstance(value, list) else list(value.values())
    if not any(isinstance(v, (list, dict, SOp, Selector)) for v in items):
        return [f"{pad} {prefix} {shown}{value!r}"]
    opener, closer = ("[", "]") if kind == "list" else ("{", "}")
    lines = [f"{pad} {prefix} {shown}{pad} {opener}"]
    if isinstance(value, list):
        for item in value:
            lines += show_value(None, item, settings, evaluate, tabs + 2)
    else:
        for key, item in value.items():
            lines += show_value(None, item, settings, evaluate, tabs + 3,
                                prefix=format_example(key) + " : ")
    lines.append(pad + " " * (len(named) + 2) + closer)
    return lines


def show_application(example: Any, result: np.ndarray, full_display: bool) -> list[str]:
    """The result of applying an s-op or selector to an input: `\\t =  [..] (TYPEs)`."""
    if result.ndim == 2:
        return ["\t = ", *format_matrix(_tokens(example), result)]
    if full_display and len(set(ops.as_python(result))) > 1:
        return ["\t = ", *_full_rows(_tokens(example), result, "")]
    if full_display:  # the original's form: one more space, and why the short form
        return [f"\t =   {format_sequence(result)} [skipped full display: identical values]"]
    return [f"\t =  {format_sequence(result)}"]


def _tokens(example: Any) -> list:
    return list(example)


# ---------------------------------------------------------------- listing names

KINDS = ("s-op", "selector", "function", "value", "list", "dict")


def kind_of(value: Any) -> str:
    """What a name holds, in the words the REPL prints values with."""
    if isinstance(value, SOp):
        return "s-op"
    if isinstance(value, Selector):
        return "selector"
    if isinstance(value, Function):
        return "function"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "value"


def format_names(bindings: dict[str, Any], colour: bool = False, width: int = 80) -> list[str]:
    """Names grouped by kind, one wrapped line per kind; functions with their parameters."""
    groups: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for name, value in bindings.items():
        shown = _signature(value) if isinstance(value, Function) else name
        groups[kind_of(value)].append(shown)
    lines = []
    for kind, names in groups.items():
        if not names:
            continue
        label = f"{kind}:".rjust(10)
        wrapped = textwrap.wrap(", ".join(names), max(width - 11, 20), break_long_words=False,
                                break_on_hyphens=False)
        lines.append(f"{paint(label, 'kind', colour)} {wrapped[0]}")
        lines += [" " * 11 + more for more in wrapped[1:]]
    return lines
