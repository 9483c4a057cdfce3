"""The rich forms of RASP values, as HTML: an s-op's values under its input's tokens, a
selection as a heat-map of queries and keys, an analysis as a table of layers and heads.
Pure functions of values (no IPython here): the notebook registers them with IPython's
formatters, so that the graph classes never learn HTML."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from ..analysis import Analysis
from ..display import format_cell, format_example
from ..errors import split_lines
from ..ops import seq_type
from ..values import prepare_input

__all__ = ["sequence_html", "matrix_html", "analysis_html", "MAX_HTML_MATRIX"]

MAX_HTML_MATRIX = 64  # larger selections are summarised in HTML; their text shows them whole
# draw's orange for selected cells; a translucent grey for headers, readable on light and
# dark themes alike
_SELECTED, _HEADER = "#f4a261", "rgba(127, 127, 127, 0.18)"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


_TABLE = '<table style="border-collapse: collapse; font-family: monospace; margin: 0.3em 0">'
_CELL = "border: 1px solid #bbb; padding: 2px 6px; text-align: center"


def _caption(name: str, example: Any, extra: str = "") -> str:
    return (f'<caption style="caption-side: top; text-align: left; font-family: sans-serif">'
            f"<b>{_esc(name)}</b> on {_esc(format_example(example))}{extra}</caption>")


def sequence_html(name: str, example: Any, values: np.ndarray) -> str:
    """An s-op's value on an input: the tokens as the header, the values under them, the type
    at the end of the row."""
    tokens = "".join(f'<th style="{_CELL}; background: {_HEADER}">{_esc(t)}</th>'
                     for t in prepare_input(example))
    cells = "".join(f'<td style="{_CELL}">{_esc(format_cell(v))}</td>' for v in values.tolist())
    return (f"{_TABLE}{_caption(name, example)}"
            f'<tr><th style="{_CELL}">tokens</th>{tokens}<th></th></tr>'
            f'<tr><th style="{_CELL}">{_esc(name)}</th>{cells}'
            f'<td style="{_CELL}; font-style: italic">{seq_type(values)}</td></tr></table>')


def matrix_html(name: str, example: Any, matrix: np.ndarray) -> str:
    """A selection on an input: a row per query, a column per key, the selected cells filled."""
    tokens = [str(t) for t in prepare_input(example)]
    counts = matrix.sum(axis=1)
    summary = f"; each query selects {int(counts.min())} to {int(counts.max())} keys"
    if len(tokens) > MAX_HTML_MATRIX:
        return (f"{_TABLE}{_caption(name, example, summary)}<tr><td>{len(tokens)}x"
                f"{len(tokens)} selection: too large to show here</td></tr></table>")
    head = "".join(f'<th style="{_CELL}; background: {_HEADER}">{_esc(t)}</th>' for t in tokens)
    rows = []
    for q, (token, row) in enumerate(zip(tokens, matrix)):
        cells = "".join(
            f'<td style="{_CELL}; background: {_SELECTED if v else "transparent"}" '
            f'title="query {q} ({_esc(token)}) {"selects" if v else "skips"} key {k} '
            f'({_esc(tokens[k])})">{"1" if v else ""}</td>' for k, v in enumerate(row))
        rows.append(f'<tr><th style="{_CELL}; background: {_HEADER}">{_esc(token)}</th>'
                    f"{cells}</tr>")
    corner = f'<th style="{_CELL}; font-weight: normal">query \\ key</th>'
    return (f"{_TABLE}{_caption(name, example, summary)}<tr>{corner}{head}</tr>"
            + "".join(rows) + "</table>")


def analysis_html(report: Analysis) -> str:
    """Layers and heads: a row per layer with its attention heads (selector -> what it
    aggregates) and its feed-forward maps; the summary above, the warnings below."""
    summary = split_lines(report.report())[0]
    rows = []
    for layer in report.layers:
        heads = "<br>".join(
            f"head {i}: {_esc(h.selector.title)} &rarr; "
            + _esc(", ".join(a.title for a in h.aggregates)) for i, h in enumerate(layer.heads, 1))
        maps = _esc(", ".join(m.title for m in layer.maps if m.id not in report.minor))
        number = "0 (embedding)" if layer.number == 0 else str(layer.number)
        rows.append(f'<tr><td style="{_CELL}">{number}</td>'
                    f'<td style="{_CELL}; text-align: left">{heads or "-"}</td>'
                    f'<td style="{_CELL}; text-align: left">{maps or "-"}</td></tr>')
    warnings = "".join(f"<p>warning: {_esc(w)}</p>" for w in report.warnings)
    return (f'{_TABLE}<caption style="caption-side: top; text-align: left; '
            f'font-family: sans-serif">{_esc(summary)}</caption>'
            f'<tr><th style="{_CELL}">layer</th><th style="{_CELL}">attention heads</th>'
            f'<th style="{_CELL}">feed-forward</th></tr>' + "".join(rows) + "</table>"
            + warnings)
