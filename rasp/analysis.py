"""How many layers and attention heads a transformer needs for an s-op (reference §12).

Each node has the original interpreter's minimum depth (`depths`): inputs and constants 0,
maps the max of their inputs, a select one more than its keys and queries, a combined selector
the max of its parts, an aggregate max(values + 1, selector). Scheduling is greedy, as early
as possible: each s-op the target depends on (including the keys and queries of the selectors
on the way) sits at its depth. Layer d holds

* one attention head per distinct selector (by node id) used by an aggregate of depth d (one
  selector serving several aggregates of a layer is one head; two textually equal `select`s
  are two heads, as in the original), and
* a feed-forward block holding every map of depth d: chains of maps share it.

Maps of depth 0 (work on tokens and indices alone) are the embedding, "layer 0". The number
of layers is the target's depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np

from . import ops
from .engine import evaluate, input_array
from .errors import RaspError
from .graph import (
    Aggregate,
    Constant,
    Map,
    Node,
    Select,
    Selector,
    SOp,
    Tokens,
    plain,
    selects_of,
)

N = TypeVar("N", bound=Node)

__all__ = ["Analysis", "Layer", "Head", "analyze", "check", "depths", "graph_below",
           "heads_per_layer_text", "selects_of"]


@dataclass
class Head:
    selector: Selector
    aggregates: list[Aggregate] = field(default_factory=list)

    @property
    def queries(self) -> list[SOp]:
        return _unique(s.queries for s in selects_of(self.selector))

    @property
    def keys(self) -> list[SOp]:
        return _unique(s.keys for s in selects_of(self.selector))


def _unique(nodes) -> list:
    return list({n.id: n for n in nodes}.values())


@dataclass
class Layer:
    number: int
    heads: list[Head] = field(default_factory=list)
    maps: list[Map] = field(default_factory=list)


@dataclass
class Analysis:
    target: SOp
    layers: list[Layer]  # layer 0 (the embedding's maps) first
    nodes: list[Node] = field(default_factory=list)  # the whole graph below the target
    depth_of: dict[int, int] = field(default_factory=dict)  # node id -> its depth
    warnings: list[str] = field(default_factory=list)  # what check() found on an example
    minor: set[int] = field(default_factory=set)  # ids of nodes reports and drawings skip

    def __post_init__(self) -> None:
        """Constants, and maps that are unnamed, used once and feed another map (the pieces
        of `(indices + 1) * x`), are minor: the original's drawing hides them too."""
        uses: dict[int, list[Node]] = {}
        for node in self.nodes:
            for source in node.inputs:
                uses.setdefault(source.id, []).append(node)
        for node in self.nodes:
            users = uses.get(node.id, [])
            piece = (isinstance(node, Map) and node.name is None and len(users) == 1
                     and isinstance(users[0], Map))
            if (isinstance(node, Constant) or piece) and node is not self.target:
                self.minor.add(node.id)

    def shown(self, nodes: Sequence[N]) -> list[N]:
        return [n for n in nodes if n.id not in self.minor]

    @property
    def depth(self) -> int:
        return self.depth_of[self.target.id]

    @property
    def heads_per_layer(self) -> list[int]:
        return [len(layer.heads) for layer in self.layers[1:]]

    @property
    def max_heads(self) -> int:
        return max(self.heads_per_layer, default=0)

    @property
    def total_heads(self) -> int:
        return sum(self.heads_per_layer)

    def to_json(self) -> dict:
        return {"name": self.target.title, "layers": self.depth,
                "heads_per_layer": self.heads_per_layer, "max_heads": self.max_heads,
                "total_heads": self.total_heads,
                "detail": [{"layer": layer.number,
                            "heads": [{"selector": h.selector.title,
                                       "aggregates": [a.title for a in h.aggregates]}
                                      for h in layer.heads],
                            "feed_forward": [m.title for m in layer.maps]}
                           for layer in self.layers],
                "warnings": self.warnings}

    def report(self) -> str:
        """The text report: the counts, then each layer's heads and maps. A deep analysis is
        summarised: runs of layers with as many heads are counted (`1x197`), and past
        REPORTED_LAYERS only the first and last layers are listed (to_json has them all)."""
        heads = heads_per_layer_text(self.heads_per_layer)
        lines = [f"{self.target.title}: {self.depth} layer{'s' if self.depth != 1 else ''}, "
                 f"heads per layer {heads} (max {self.max_heads}, total {self.total_heads})"]
        layers: list[Layer | None] = list(self.layers)
        if len(layers) > REPORTED_LAYERS + 1:  # layer 0, the embedding, is not counted
            first, last = REPORTED_LAYERS * 2 // 3 + 1, REPORTED_LAYERS // 3
            skipped = len(layers) - first - last
            layers = [*layers[:first], None, *layers[-last:]]
        for layer in layers:
            if layer is None:
                lines.append(f"  ... {skipped} more layers (--json, to_json(): all of them)")
                continue
            maps = ", ".join(m.title for m in self.shown(layer.maps))
            if layer.number == 0:
                if maps:
                    lines.append("  embedding: " + maps)
                continue
            lines.append(f"  layer {layer.number}:")
            for i, head in enumerate(layer.heads, 1):
                served = ", ".join(a.title for a in head.aggregates)
                lines.append(f"    head {i}: {head.selector.title}  ->  {served}")
            if maps:
                lines.append("    feed-forward: " + maps)
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


REPORTED_LAYERS = 30  # layers a text report lists, at most


def heads_per_layer_text(heads: Sequence[int]) -> str:
    """The heads of each layer, as every "heads per layer" line writes them: `1/2/1`; with
    more than 16 layers, runs counted: `2/1x197/2`; `-` with no layers."""
    if not heads:
        return "-"
    if len(heads) <= 16:
        return "/".join(map(str, heads))
    runs: list[list[int]] = []
    for h in heads:
        if runs and runs[-1][0] == h:
            runs[-1][1] += 1
        else:
            runs.append([h, 1])
    return "/".join(f"{h}x{n}" if n > 1 else str(h) for h, n in runs)


def graph_below(target: Node) -> list[Node]:
    """Every node the target depends on, itself included, in creation order (one copy of
    each: annotated copies of a node share its id)."""
    seen: dict[int, Node] = {}
    stack: list[Node] = [target]
    while stack:
        node = stack.pop()
        if node.id not in seen:
            seen[node.id] = node
            stack.extend(node.inputs)
    return sorted(seen.values(), key=lambda n: n.id)


def depths(nodes: list[Node]) -> dict[int, int]:
    """The depth of each node, by id; `nodes` in creation order (inputs before users)."""
    depth: dict[int, int] = {}
    for node in nodes:
        below = [depth[i.id] for i in node.inputs]
        if isinstance(node, Select):
            depth[node.id] = max(below) + 1
        elif isinstance(node, Aggregate):
            selector, values = below
            depth[node.id] = max(values + 1, selector)
        else:  # inputs, constants, maps, combined selectors
            depth[node.id] = max(below, default=0)
    return depth


def analyze(target: SOp) -> Analysis:
    target = plain(target)  # rasp.dsl's nodes, as the analysis compares them: plain ones
    nodes = graph_below(target)
    depth = depths(nodes)
    layers = [Layer(d) for d in range(depth[target.id] + 1)]
    for sop in (n for n in nodes if isinstance(n, SOp)):
        layer = layers[depth[sop.id]]
        if isinstance(sop, Aggregate):
            head = next((h for h in layer.heads if h.selector.id == sop.selector.id), None)
            if head is None:
                head = Head(sop.selector)
                layer.heads.append(head)
            head.aggregates.append(sop)
        elif isinstance(sop, Map):
            layer.maps.append(sop)
    return Analysis(target, layers, nodes, depth)


def check(analysis: Analysis, tokens: list, example: str) -> Analysis:
    """The analysis with the problems the program shows on an example input (`warnings`),
    each with the layer where it sits: aggregates that would average non-numbers, and the
    node where evaluation fails."""
    cache: dict[int, np.ndarray] = {}
    findings: list[str] = []
    inputs = input_array([tokens])
    averaging: set[int] = set()
    for layer in analysis.layers:
        for head in layer.heads:
            for agg in head.aggregates:
                try:
                    selection = evaluate(agg.selector, inputs, cache)
                    values = evaluate(agg.values, inputs, cache)
                except RaspError:
                    continue  # reported below, where the evaluation fails
                kind = ops.seq_type(values)
                if kind not in ("ints", "floats") and np.any(selection.sum(axis=1) >= 2):
                    averaging.add(agg.id)
                    findings.append(f"layer {layer.number}: '{agg.title}' would average "
                                    f"{kind}: on {example} a query of '{head.selector.title}' "
                                    f"selects several positions")
    try:
        evaluate(analysis.target, inputs, cache)
    except RaspError as e:
        node = getattr(e, "node", None)
        if node is not None and node.id not in averaging:
            hint = ("; `set example` to an input it can read" if isinstance(node, Tokens)
                    else "")
            findings.append(f"layer {analysis.depth_of[node.id]}: '{node.title}' fails on "
                            f"{example}: {e.message}{hint}")
    return replace(analysis, warnings=findings, minor=set())  # (minor: made again)
