"""RASP in Jupyter: `%load_ext rasp`, then `%%rasp` cells and `%rasp` lines.

One session per notebook runs every cell: definitions carry across cells and `load` works as
in the REPL. A cell runs as a script does (as Python cells do, assignments print nothing);
each expression statement, `analyze`, `draw` and `show example` prints what the REPL prints
for it. An error is the REPL's message, numbered by the cell's own lines (line 1 is the
`%%rasp` line) with a caret, shown as the cell's error output without a Python traceback;
the session goes on.

The cell's last statement, when it is an expression, `analyze(...)` or `draw(...)`, is the
cell's result (`Result`): its text is what the REPL prints for it, and it is also displayed
richly, as an HTML table, a heat-map of a selection, a table of layers and heads, or an SVG
drawing. Python cells reach the session as `rasp_session` (`Session`); the s-ops, selectors and
analyses they get from it display the same way through formatters registered with IPython, so
that the graph classes never learn HTML.

Only this package imports IPython (the `notebook` extra); `rasp.load_ipython_extension`
imports it when `%load_ext rasp` runs. The HTML itself is made in `displays.py`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand

from ..analysis import Analysis
from ..display import colour_diagnostic, show_value
from ..draw import DrawingError, to_dot, to_svg
from ..errors import RaspError, format_error, split_lines
from ..graph import Selector, SOp
from ..interpreter import Interpreter
from ..outcomes import RESULTS, Analyzed, Drawn, Exited, Outcome, Shown, render
from ..parser import parse
from ..values import Applied, prepare_input
from .displays import analysis_html, matrix_html, sequence_html

__all__ = ["load_ipython_extension", "unload_ipython_extension", "Session", "Result"]


# ---------------------------------------------------------------- the cell's session

class Cells:
    """Runs `%%rasp` cells in one session: a script's (not interactive: the REPL's echo of
    every assignment would bury a cell's results) that writes no drawing files, since the
    notebook shows the picture. The outcome of a cell's last statement is the cell's result;
    the outcomes before it print as they come."""

    def __init__(self) -> None:
        # print: sys.stdout when printed, which the kernel sends to the running cell
        self.interpreter = Interpreter(out=print, warn=_to_stderr, draw_dir=None)

    def cell(self, text: str, filename: str, first_line: int) -> Result | None:
        """Run a cell; its result, if its last statement shows one. A RaspError propagates,
        after what the cell printed."""
        statements = parse(text, filename, first_line).statements
        if not statements or _exited(self.interpreter.execute(statements[:-1], filename)):
            return None
        final: list[Outcome] = []  # what the last statement gives
        try:
            self.interpreter.execute(statements[-1:], filename, sink=final.append)
        except BaseException:
            for outcome in final:  # what the failing statement printed, before its error
                render(outcome, print, _to_stderr)
            raise
        lines: list[str] = []
        for outcome in final:
            render(outcome, lines.append, _to_stderr)
        if not _exited(final) and final and isinstance(final[-1], RESULTS):
            return _result(self.interpreter, final[-1], lines)
        if lines:
            print("\n".join(lines))
        return None


def _exited(outcomes: list[Outcome]) -> bool:
    """Whether the statements ran `exit`, which ends a REPL; a notebook's session is the
    kernel's, and goes on."""
    if any(isinstance(outcome, Exited) for outcome in outcomes):
        _to_stderr("note: exit ends the cell here; the session goes on")
        return True
    return False


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr)


class Result:
    """What a cell's last statement gave: `value` (an s-op, selector, applied value, analysis,
    drawing flow or plain value), as the REPL prints it (`text`) and richly (`html`, `svg`)."""

    def __init__(self, value: Any, text: str, html: str | None = None,
                 svg: str | None = None):
        self.value, self.text, self.html, self.svg = value, text, html, svg

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)

    def _repr_html_(self) -> str | None:
        return self.html

    def _repr_svg_(self) -> str | None:
        return self.svg


def _result(session: Interpreter, outcome: Shown | Analyzed | Drawn,
            lines: list[str]) -> Result:
    text = "\n".join(lines)
    match outcome:
        case Drawn(flow=flow):
            try:
                return Result(flow, text, svg=to_svg(to_dot(flow)))
            except DrawingError as e:
                _to_stderr(f"note: {e}: the drawing is shown as text")
                return Result(flow, text)
        case Analyzed(analysis=analysis):
            return Result(analysis, text, html=analysis_html(analysis))
        case Shown(value=value):
            return Result(value, text, html=_html(session, value, _name(value)))


def _name(value: Any) -> str:
    """What the REPL calls a value it shows: an s-op's or selector's name, else `out`."""
    return (value.title if isinstance(value, (SOp, Selector)) else "") or "out"


# ---------------------------------------------------------------- rich forms

def _html(session: Interpreter, value: Any, name: str) -> str | None:
    """The rich form of a value, as the REPL would show it; None for values that have none
    (functions, atoms, lists) or when it fails on the running example (the text says why)."""
    settings = session.settings
    try:
        if isinstance(value, SOp) and settings.show["s-op"]:
            example = settings.examples["s-op"]
            return sequence_html(name, example, session.apply(value, example))
        if isinstance(value, Selector) and settings.show["selector"]:
            example = settings.examples["selector"]
            return matrix_html(name, example, session.apply(value, example))
        if isinstance(value, Applied):
            shown = matrix_html if value.result.ndim == 2 else sequence_html
            return shown(_name(value.node), value.example, value.result)
    except RaspError:
        return None
    if isinstance(value, Analysis):
        return analysis_html(value)
    return None


# ---------------------------------------------------------------- Python cells

class Session:
    """The notebook's RASP session for Python cells (`rasp_session` after `%load_ext rasp`).

    An expression is a name a RASP cell defined, or any RASP expression. An example is a
    string, or a list, tuple or numpy array of atoms. Mistakes raise RaspError, which the
    notebook shows as the RASP message (no traceback)."""

    def __init__(self, interpreter: Interpreter):
        self.interpreter = interpreter

    def __repr__(self) -> str:
        return f"<RASP notebook session: {len(self.interpreter.names())} names>"

    def evaluate(self, expression: str, example: Any) -> np.ndarray:
        """An s-op's values on `example` (1-D), or a selector's selection (2-D booleans:
        a row per query, a column per key)."""
        return _array(self.interpreter.evaluate(expression, _example(example)))

    def evaluate_batch(self, expression: str, inputs: Iterable[Any]) -> list[np.ndarray]:
        """`evaluate` on each input, in batches of one length; a list, since inputs differ
        in length."""
        outputs = self.interpreter.evaluate_batch(expression, [_example(x) for x in inputs])
        return [_array(out) for out in outputs]

    def analyze(self, expression: str) -> Analysis:
        """The layers and heads of an s-op (displayed as a table; `.to_json()` for data)."""
        return self.interpreter.analyze(expression)

    def value(self, expression: str) -> Any:
        """The RASP value: an s-op or selector displays on the running example."""
        return self.interpreter.value(expression)

    def set_example(self, example: Any, kind: str | None = None) -> None:
        """The running example, of s-ops and selectors, or of one `kind` ("s-op", "selector")."""
        example = _example(example)
        prepare_input(example)  # a RaspError if it cannot be an input
        for which in (kind,) if kind else ("s-op", "selector"):
            self.interpreter.settings.examples[which] = example


def _example(value: Any) -> Any:
    """A Python value as a RASP input: numpy arrays and numpy scalars become Python's."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    return value


def _array(values: list) -> np.ndarray:
    """Values as numpy types them (a sequence has one type), except ints beyond int64: they
    stay exact Python ints, in an object array (numpy would make them uint64 or floats)."""
    items = np.array(values, dtype=object)
    if any(type(v) is int and not -2 ** 63 <= v < 2 ** 63 for v in items.flat):
        return items
    return np.array(values)


# ---------------------------------------------------------------- IPython

@magics_class
class RaspMagics(Magics):
    """`%%rasp` runs its cell in the notebook's session; `%rasp STATEMENTS` runs one line,
    and a bare `%rasp` gives the session (as `rasp_session`)."""

    def __init__(self, shell: InteractiveShell, cells: Cells):
        super().__init__(shell)
        self.cells = cells

    @no_var_expand  # `{` and `$` are RASP's: no Python interpolation in the line
    @line_cell_magic
    def rasp(self, line: str, cell: str | None = None) -> Any:
        shell = self.shell
        assert shell is not None  # set by Magics.__init__
        if cell is None and not line.strip():
            return shell.user_ns.get("rasp_session")
        count = _cell_number(shell)
        if cell is None:
            number, column = _line_position(shell, line)
            # spaces in place of `%rasp `: an error's columns are those of the cell's line
            return self.cells.cell(" " * column + line, f"In[{count}]", number)
        if line.strip():
            _to_stderr(f"note: %%rasp takes no arguments: ignored {line.strip()!r}")
        # the cell's line 1 is `%%rasp`: its text starts on line 2, as the editor numbers it
        return self.cells.cell(cell, f"In[{count}]", 2)


def _cell_number(shell: InteractiveShell) -> int:
    """The running cell's N of In[N]. The history holds the cell already when it runs; the
    execution count does not say (IPython 9 moves it on before running the cell, 8 after)."""
    history = shell.history_manager
    return len(history.input_hist_raw) - 1 if history is not None else shell.execution_count


def _line_position(shell: InteractiveShell, line: str) -> tuple[int, int]:
    """Where the text of `%rasp LINE` sits in the running cell: its line number and the
    column before it (1 and 0 when the cell does not show it, as when code calls the magic)."""
    history = shell.history_manager
    cell = history.input_hist_raw[-1] if history is not None and history.input_hist_raw else ""
    for number, text in enumerate(split_lines(cell), 1):
        magic = text.find("%rasp")
        if magic >= 0 and text.find(line, magic) >= 0:
            return number, text.find(line, magic)
    return 1, 0


def _rasp_error(shell: InteractiveShell, etype: type, value: BaseException, tb: Any,
                tb_offset: int | None = None) -> list[str]:
    """How the notebook shows a RaspError: the REPL's message, as the cell's error output, in
    place of a traceback. (IPython ignores what a handler returns: `_showtraceback` is where
    a kernel sends tracebacks to the notebook.)"""
    text = format_error(value) if isinstance(value, RaspError) else str(value)
    plain = os.environ.get("NO_COLOR") or str(shell.colors).lower() == "nocolor"
    shown = [text if plain else colour_diagnostic(text)]
    shell._showtraceback(etype, value, shown)  # type: ignore[arg-type]  # (a list, in fact)
    return shown


def load_ipython_extension(shell: InteractiveShell) -> None:
    """`%load_ext rasp`: a fresh session, the magics, `rasp_session`, the displays."""
    cells = Cells()
    interpreter = cells.interpreter
    shell.register_magics(RaspMagics(shell, cells))
    shell.user_ns["rasp_session"] = Session(interpreter)
    shell.set_custom_exc((RaspError,), _rasp_error)
    assert shell.display_formatter is not None  # made by the shell's __init__
    formatters = shell.display_formatter.formatters

    def plain(value: Any, printer: Any, cycle: bool) -> None:
        printer.text(_text(interpreter, value))

    for kind in (SOp, Selector, Applied, Analysis):
        formatters["text/html"].for_type(kind, lambda v: _html(interpreter, v, _name(v)))
        formatters["text/plain"].for_type(kind, plain)


def _text(session: Interpreter, value: Any) -> str:
    """A value as the REPL prints it (`x;` or `analyze(x);`)."""
    if isinstance(value, Analysis):
        return value.report()
    try:
        lines = show_value(_name(value), value, session.settings, session.apply)
    except RaspError:  # it fails on the running example: the value without it
        lines = show_value(_name(value), value, session.settings.quiet(), session.apply)
    return "\n".join(lines)


def unload_ipython_extension(shell: InteractiveShell) -> None:
    """`%unload_ext rasp` (and `%reload_ext rasp`, which then loads a fresh session)."""
    assert shell.display_formatter is not None and shell.magics_manager is not None
    formatters = shell.display_formatter.formatters
    for kind in (SOp, Selector, Applied, Analysis):
        for mime in ("text/html", "text/plain"):
            formatters[mime].pop(kind, None)
    for magic_kind in ("line", "cell"):
        shell.magics_manager.magics[magic_kind].pop("rasp", None)
    shell.user_ns.pop("rasp_session", None)
    shell.set_custom_exc((), None)
