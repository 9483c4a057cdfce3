"""How many layers and attention heads a transformer needs for an s-op (reference §12).

Every graph node carries the original interpreter's minimum depth (values.py): inputs and
constants 0, maps the max of their inputs, a select one more than its keys and queries, an
aggregate max(values + 1, selector). Scheduling is greedy, as early as possible: each s-op the
target depends on (including the keys and queries of the selectors on the way) sits at its
depth. Layer d holds

* one attention head per distinct selector object used by an aggregate of depth d (one
  selector serving several aggregates of a layer is one head; two textually equal `select`s
  are two heads, as in the original), and
* a feed-forward block holding every map of depth d: chains of maps share it.

Maps of depth 0 (work on tokens and indices alone) are the embedding, "layer 0". The number
of layers is the target's depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .values import Aggregate, Map, Node, Selector, SOp

__all__ = ["Analysis", "Layer", "Head", "analyze"]


@dataclass
class Head:
    selector: Selector
    aggregates: list[Aggregate] = field(default_factory=list)


@dataclass
class Layer:
    number: int
    heads: list[Head] = field(default_factory=list)
    maps: list[Map] = field(default_factory=list)


@dataclass
class Analysis:
    target: SOp
    layers: list[Layer]  # layer 0 (the embedding's maps) first

    @property
    def depth(self) -> int:
        return self.target.depth

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
                           for layer in self.layers]}

    def report(self) -> str:
        heads = "/".join(map(str, self.heads_per_layer)) or "-"
        lines = [f"{self.target.title}: {self.depth} layer{'s' if self.depth != 1 else ''}, "
                 f"heads per layer {heads} (max {self.max_heads}, total {self.total_heads})"]
        for layer in self.layers:
            if layer.number == 0:
                if layer.maps:
                    lines.append("  embedding: " + ", ".join(m.title for m in layer.maps))
                continue
            lines.append(f"  layer {layer.number}:")
            for i, head in enumerate(layer.heads, 1):
                served = ", ".join(a.title for a in head.aggregates)
                lines.append(f"    head {i}: {head.selector.title}  ->  {served}")
            if layer.maps:
                lines.append("    feed-forward: " + ", ".join(m.title for m in layer.maps))
        return "\n".join(lines)


def _sops_below(target: SOp) -> list[SOp]:
    """Every s-op the target depends on, itself included, in creation order."""
    seen: dict[int, Node] = {}
    stack: list[Node] = [target]
    while stack:
        node = stack.pop()
        if node.id not in seen:
            seen[node.id] = node
            stack.extend(node.inputs)
    return sorted((n for n in seen.values() if isinstance(n, SOp)), key=lambda n: n.id)


def analyze(target: SOp) -> Analysis:
    layers = [Layer(d) for d in range(target.depth + 1)]
    for sop in _sops_below(target):
        layer = layers[sop.depth]
        if isinstance(sop, Aggregate):
            head = next((h for h in layer.heads if h.selector is sop.selector), None)
            if head is None:
                head = Head(sop.selector)
                layer.heads.append(head)
            head.aggregates.append(sop)
        elif isinstance(sop, Map):
            layer.maps.append(sop)
    return Analysis(target, layers)
