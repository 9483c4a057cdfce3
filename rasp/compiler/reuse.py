"""Residual dimensions reused after an s-op's last use (`rasp compile --reuse-residual`).

In the plain layout every block owns its dimensions for the whole model. With reuse, a block
is live from the sublayer that writes it (plan.slot) to the feed-forward block of the layer
that reads it last, which may erase it: that block reads the residual after the layer's
heads, so it can erase what they read last as well as what its own tables read. The layout
pass (blocks.Layout) gives a later block the freed dimensions from the next sublayer on, first
fit in the order the model computes the blocks, and the dimensions taken are erased (only
those: erasing the others would cost units for nothing). The flags and the target (the
unembedding reads it) are never erased.

Erasing costs hidden units (mlps.build_feedforward: one or two per dimension) while reuse
saves dimensions of d_model, so the compiler keeps the reused layout only where the dense
parameter count, computed from the arrays' shapes (`parameters`), is smaller.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import names
from .blocks import Feature, Layout
from .graph import Constant
from .heads import conjuncts, side_feature
from .mlps import erasing_signs
from .model import Model
from .plan import Plan, Stage, slot
from .valuesets import selector_nodes


def erasures(plan: Plan) -> dict[Feature, int]:
    """The feed-forward block (its sublayer) that erases each feature after its last use."""
    last: dict[Feature, int] = {}

    def read(feature: Feature, at: int) -> None:
        last[feature] = max(last.get(feature, at), at)

    for number, layer in enumerate(plan.analysis.layers):
        at = slot(number, Stage.HEAD)
        for head in layer.heads:  # what heads.build_head reads
            for part in conjuncts(head.selector):
                for nodes in selector_nodes(part):
                    live = [n for n in nodes if not isinstance(n, Constant)]
                    feature = side_feature(nodes, plan.facts)
                    if feature is not None or live:
                        read(feature or Feature.of(live[0]), at)
            for aggregate in head.aggregates:
                if not isinstance(aggregate.values, Constant):
                    read(Feature.of(aggregate.values), at)
    depth_of = plan.analysis.depth_of
    for spec in plan.at(Stage.FFN):  # what layout._form and layout._table read
        leaves = spec.leaves
        if spec.linear is None:  # an affine leaf of the table's own layer: its sources
            leaves = [s for leaf in spec.leaves for s in (
                plan.linear[leaf.id].sources if leaf.id in plan.linear and
                depth_of[leaf.id] == spec.depth else [leaf])]
        for leaf in leaves:
            read(Feature.of(leaf), spec.slot)
    last.pop(Feature.of(plan.analysis.target), None)
    return {feature: at | 1 for feature, at in last.items()}  # a head's: its layer's block


def parameters(model: Model, d_model: int, erasing: dict[int, int]) -> int:
    """The dense parameter count of `model`'s arrays with `d_model` dimensions and the
    `erasing` units of each layer (by layer; negative: taken away) added to each hidden
    layer of its feed-forward block (mlps.build_feedforward passes them through the second)."""
    arrays, config = model.arrays, model.config
    rows = len(config["vocab"]) + 1 + config["max_len"] + 1 + arrays[names.UNEMBEDDING].shape[1]
    count = 0
    for number, layer in enumerate(config["layers"]):
        for h in range(layer["heads"]):
            head = names.head(number, h)
            rows += 2 * arrays[head.query].shape[1] + 2 * arrays[head.value].shape[1]
        hidden = [arrays[names.mlp(number, j).weight].shape[1] for j in range(layer["mlp"] - 1)]
        added = erasing.get(number, 0)
        if added:
            hidden = [h + added for h in hidden] if layer["mlp"] else [added]
        if hidden == [0]:  # nothing but erasing units, taken away: no block
            continue
        if layer["mlp"] or added:
            sizes = [d_model, *hidden, d_model]
            count += sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    return rows * d_model + count


def weigh(model: Model, layout: Layout) -> Saving:
    """A model of a reused layout against the model of the plain one, which holds every block
    once, after the others, and has no erasing units."""
    erasing: dict[int, int] = {}
    for block in layout.blocks:
        if block.erased is not None:
            layer = block.erased // 2
            erasing[layer] = erasing.get(layer, 0) - len(block.wiped) * len(erasing_signs(block))
    plain = sum(block.size for block in layout.blocks)
    return Saving(layout.width, plain, model.parameters, parameters(model, plain, erasing))


@dataclass(frozen=True)
class Saving:
    """The reused layout against the plain one: d_model and dense parameters of each."""

    d_model: int
    plain_d_model: int
    parameters: int
    plain_parameters: int

    @property
    def pays(self) -> bool:
        return self.parameters < self.plain_parameters

    def line(self) -> str:
        """The summary's line: what reuse gave, or why the model does without it."""
        if self.pays:
            return (f"  residual reused: d_model {self.d_model} ({self.plain_d_model} without "
                    f"reuse), {self.parameters:,} parameters ({self.plain_parameters:,} "
                    f"without)")
        return (f"  reuse would not shrink this model: d_model {self.d_model} and "
                f"{self.parameters:,} parameters with it, {self.plain_d_model} and "
                f"{self.plain_parameters:,} without")
