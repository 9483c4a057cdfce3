"""The computation-flow picture of an s-op on one input, layer by layer.

`Flow` pairs the analysis of an s-op (analysis.py) with the value of every node on the input.
It renders in two ways:

* `to_text`: for the terminal. It shows each layer's heads with their selection matrices and
  what they aggregate, and the feed-forward maps with their values.
* `to_dot`: a Graphviz digraph with one cluster per layer. Inside a layer are the attention
  heads (the selector's inputs, the selection matrix and the aggregated result) and the
  feed-forward maps, with arrows for what feeds what. `to_svg` makes the picture in memory
  (a notebook shows it inline); `render` writes the DOT file, and also SVG and PNG where
  Graphviz's `dot` is installed.

As in the original, constants and "minor" maps are hidden (see `Analysis.minor`). Arrows
look through them to the nodes they come from.
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import ops
from .analysis import Analysis, Head, Layer, heads_per_layer_text
from .display import format_example, format_sequence
from .graph import Constant, Node, SOp

__all__ = ["Flow", "to_text", "to_dot", "to_svg", "to_image", "render", "DrawingError",
           "MAX_MATRIX"]

MAX_MATRIX = 24  # larger selection matrices are summarised, not drawn


@dataclass
class Flow:
    analysis: Analysis
    example: Any
    values: dict[int, np.ndarray]  # node id -> its value on the example

    @property
    def hidden(self) -> set[int]:
        return self.analysis.minor

    @property
    def tokens(self) -> list:
        return list(self.example)

    def shown(self, nodes: list) -> list:
        return self.analysis.shown(nodes)

    def value(self, node: Node) -> str:
        return format_sequence(self.values[node.id])

    def visible(self, node: Node) -> list[Node]:
        """`node` itself, or the visible nodes behind it when it is hidden."""
        if isinstance(node, Constant):
            return []
        return self.sources(node) if node.id in self.hidden else [node]

    def sources(self, node: Node) -> list[Node]:
        """The visible nodes that feed `node`, looking through hidden ones."""
        found: dict[int, Node] = {}
        stack = list(node.inputs)
        while stack:
            source = stack.pop()
            if isinstance(source, Constant):
                continue
            if source.id in self.hidden:
                stack.extend(source.inputs)
            else:
                found[source.id] = source
        return sorted(found.values(), key=lambda n: n.id)


def _inputs_of(layer_number: int, flow: Flow) -> list[SOp]:
    """Tokens and indices, shown in the embedding when the graph uses them."""
    if layer_number != 0:
        return []
    return [n for n in flow.analysis.nodes
            if isinstance(n, SOp) and not n.inputs and not isinstance(n, Constant)]


def _describe(nodes: Sequence[Node]) -> str:
    return ", ".join(n.title for n in nodes) or "-"


def _matrix_lines(flow: Flow, matrix: np.ndarray, indent: str) -> list[str]:
    tokens = [str(t) for t in flow.tokens]
    if len(tokens) > MAX_MATRIX:
        width = matrix.sum(axis=1)
        return [f"{indent}({len(tokens)}x{len(tokens)} selection; each query selects "
                f"{int(width.min())} to {int(width.max())} keys)"]
    lines = [f"{indent}    " + " ".join(tokens)]
    for token, row in zip(tokens, matrix):
        lines.append(f"{indent}{token} | {' '.join('1' if v else ' ' for v in row)}".rstrip())
    return lines


def _head_text(flow: Flow, number: int, head: Head) -> list[str]:
    lines = [f"  head {number}: {head.selector.title}",
             f"    queries: {_describe(head.queries)}    keys: {_describe(head.keys)}"]
    lines += _matrix_lines(flow, flow.values[head.selector.id], "      ")
    for agg in head.aggregates:
        default = "" if agg.default == 0 else f", default {agg.default!r}"
        lines.append(f"    {agg.title} = {flow.value(agg)}  "
                     f"(aggregates {agg.values.title}{default})")
    return lines


def to_text(flow: Flow) -> str:
    """The flow for a terminal: one block per layer."""
    analysis = flow.analysis
    target = analysis.target
    heads = heads_per_layer_text(analysis.heads_per_layer)
    lines = [f"{target.title}({format_example(flow.example)}) = {flow.value(target)}",
             f"{analysis.depth} layer{'' if analysis.depth == 1 else 's'}, "
             f"heads per layer {heads}"]
    for layer in analysis.layers:
        maps = _inputs_of(layer.number, flow) + flow.shown(layer.maps)
        if layer.number == 0:
            lines.append("layer 0: embedding")
        else:
            lines.append(f"layer {layer.number}: attention")
            for i, head in enumerate(layer.heads, 1):
                lines += _head_text(flow, i, head)
            if maps:
                lines.append(f"layer {layer.number}: feed-forward")
        lines += [f"    {m.title} = {flow.value(m)}" for m in maps]
    lines += [f"warning: {w}" for w in analysis.warnings]
    return "\n".join(lines)


# ---------------------------------------------------------------- Graphviz

_SELECTED, _HEADER, _FONT = "#f4a261", "#e9ecef", "Helvetica"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cells(values: np.ndarray) -> str:
    kind = ops.seq_type(values)
    texts = [format_sequence(values[i:i + 1]).split("]")[0].lstrip("[") for i in
             range(len(values))]
    return "".join(f"<TD>{_esc(t)}</TD>" for t in texts) + f"<TD><I>{kind}</I></TD>"


def _value_table(flow: Flow, node: Node, role: str = "") -> str:
    title = f"{role}{node.title}"
    return (f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0">'
            f'<TR><TD BGCOLOR="{_HEADER}"><B>{_esc(title)}</B></TD>'
            f"{_cells(flow.values[node.id])}</TR></TABLE>>")


def _matrix_table(flow: Flow, head: Head, number: int) -> str:
    matrix = flow.values[head.selector.id]
    tokens = [str(t) for t in flow.tokens]
    title = f"head {number}: {head.selector.title}"
    rows = [f'<TR><TD COLSPAN="{len(tokens) + 1}" BGCOLOR="{_HEADER}"><B>{_esc(title)}</B>'
            f"</TD></TR>"]
    if len(tokens) > MAX_MATRIX:
        rows.append(f'<TR><TD COLSPAN="{len(tokens) + 1}">{len(tokens)}x{len(tokens)} '
                    f"selection</TD></TR>")
    else:
        rows.append("<TR><TD></TD>" + "".join(f"<TD><I>{_esc(t)}</I></TD>" for t in tokens)
                    + "</TR>")
        for token, row in zip(tokens, matrix):
            cells = "".join(f'<TD BGCOLOR="{_SELECTED}"> </TD>' if v else "<TD> </TD>"
                            for v in row)
            rows.append(f"<TR><TD><I>{_esc(token)}</I></TD>{cells}</TR>")
    return ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0">' + "".join(rows)
            + "</TABLE>>")


def to_dot(flow: Flow) -> str:
    """The flow as a Graphviz digraph: layers stacked top to bottom."""
    analysis = flow.analysis
    out = ["digraph flow {",
           f'  graph [rankdir=TB, fontname="{_FONT}", labeljust=l, newrank=true];',
           f'  node [shape=plaintext, fontname="{_FONT}", fontsize=11];',
           f'  edge [fontname="{_FONT}", fontsize=9, color="#555555"];',
           f'  label=<{_esc(analysis.target.title)} on {_esc(format_example(flow.example))}>;',
           "  labelloc=t;"]
    edges: list[str] = []
    for layer in analysis.layers:
        name = "embedding" if layer.number == 0 else "attention and feed-forward"
        out.append(f"  subgraph cluster_layer{layer.number} {{")
        out.append(f'    label="layer {layer.number}: {name}"; style=rounded; color="#888888";')
        for i, head in enumerate(layer.heads, 1):
            head_id = f"head{layer.number}_{i}"
            out.append(f"    subgraph cluster_{head_id} {{")
            out.append(f'      label="head {i}"; style=dashed;')
            out.append(f"      {head_id} [label={_matrix_table(flow, head, i)}];")
            for agg in head.aggregates:
                out.append(f"      {agg.label} [label={_value_table(flow, agg)}];")
                edges.append(f"  {head_id} -> {agg.label};")
                edges += [f'  {s.label} -> {agg.label} [label="values"];'
                          for s in flow.visible(agg.values)]
            out.append("    }")
            for role, inputs in (("queries", head.queries), ("keys", head.keys)):
                edges += [f'  {s.label} -> {head_id} [label="{role}"];'
                          for node in inputs for s in flow.visible(node)]
        for node in _inputs_of(layer.number, flow) + flow.shown(layer.maps):
            out.append(f"    {node.label} [label={_value_table(flow, node)}];")
            edges += [f"  {s.label} -> {node.label};" for s in flow.sources(node)]
        out.append("  }")
    out += sorted(set(edges), key=edges.index)
    # invisible edges between consecutive layers keep them stacked top to bottom
    firsts = [_first_id(layer, flow) for layer in analysis.layers]
    present = [f for f in firsts if f is not None]
    out += [f"  {a} -> {b} [style=invis, weight=5];" for a, b in zip(present, present[1:])]
    out.append("}")
    return "\n".join(out) + "\n"


def _first_id(layer: Layer, flow: Flow) -> str | None:
    if layer.heads:
        return f"head{layer.number}_1"
    nodes = _inputs_of(layer.number, flow) + flow.shown(layer.maps)
    return nodes[0].label if nodes else None


class DrawingError(Exception):
    """Graphviz could not make a picture: `dot` is missing or failed. The message says which."""


def to_image(dot_source: str, fmt: str = "svg") -> bytes:
    """The picture in `fmt` (svg, png), made in memory by Graphviz's `dot`."""
    dot = shutil.which("dot")
    if dot is None:
        raise DrawingError("Graphviz's 'dot' is not installed")
    try:
        result = subprocess.run([dot, f"-T{fmt}"], input=dot_source.encode("utf-8"),
                                capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DrawingError(f"dot failed: {e}") from None
    if result.returncode != 0:
        raise DrawingError(f"dot failed: {result.stderr.decode(errors='replace').strip()[:200]}")
    return result.stdout


def to_svg(dot_source: str) -> str:
    """The picture as SVG text (for a notebook, which shows it inline)."""
    return to_image(dot_source, "svg").decode("utf-8")


def render(dot_source: str, stem: Path) -> tuple[list[Path], str | None]:
    """Write `stem.dot`, plus `stem.svg` and `stem.png` when Graphviz is installed.
    Returns the files written and a note when pictures could not be made."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    dot_file = stem.parent / f"{stem.name}.dot"
    dot_file.write_text(dot_source, encoding="utf-8")
    written = [dot_file]
    if shutil.which("dot") is None:
        return written, "Graphviz's 'dot' is not installed: wrote the DOT source only"
    for fmt in ("svg", "png"):
        try:
            picture = to_image(dot_source, fmt)
        except DrawingError as e:
            return written, str(e)
        target = stem.parent / f"{stem.name}.{fmt}"
        target.write_bytes(picture)
        written.append(target)
    return written, None


def file_stem(node: Node, example: Any) -> str:
    """A file name for the drawing of `node` on `example`: distinct inputs get distinct names.
    A short plain string names itself (`reverse-abc`); any other input is shown in safe
    characters and told apart by a digest of its exact value (`[1, 2]` from `[12]`, `"a.b"`
    from `"a_b"`, `[1.5, 2]` from `[1.7, 3]`)."""
    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:40]
    title = safe(node.title) or "sop"
    if isinstance(example, str) and re.fullmatch(r"[A-Za-z0-9]{1,40}", example):
        return f"{title}-{example}"
    exact = repr(example) if isinstance(example, str) else repr(list(example))
    digest = hashlib.sha1(exact.encode()).hexdigest()[:8]
    shown = safe("".join(map(str, example)))[:24]
    return f"{title}-{shown}-{digest}" if shown else f"{title}-{digest}"
