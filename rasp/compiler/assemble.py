"""The assemble pass: the plan and the residual's layout to the weights of a Model.

The embeddings write each token's and each position's tables; then, layer by layer, the heads
(heads.py) and the feed-forward block (mlps.py); the unembedding reads the target's block.
The residual at the hidden BOS position is the same on every input: it is followed from
sublayer to sublayer, since each sublayer sets its BOS rows from what BOS holds before it.
"""

from __future__ import annotations

import numpy as np

from ..errors import RaspLimitError
from . import names
from .activations import stage_at, stages
from .blocks import BOS, ONE, Encoding, Layout
from .heads import HeadWeights, build_head
from .layout import Residual
from .mlps import FeedForward, build_feedforward
from .model import Model
from .modelfile import FORMAT
from .plan import Plan, Stage, slot
from .valuesets import ERROR, representative


def assemble(plan: Plan, residual: Residual, program: str, causal: bool = False) -> Model:
    """The Model that computes the plan's target with the residual's layout; `program`
    names it in the saved configuration. `causal`: its attention is masked (the plan's
    selectors never select a later key, and BOS, position 0, stays visible to every
    query, so the weights are those of the bidirectional model)."""
    token, position = embeddings(plan, residual)
    arrays = {names.TOKEN_EMBEDDING: token, names.POSITION_EMBEDDING: position}
    bos = token[0] + position[0]  # the residual at BOS: the same on every input
    layers = []
    for depth, layer in enumerate(plan.analysis.layers):
        heads = [build_head(h, residual.layout, plan.facts, bos) for h in layer.heads]
        for h, weights in enumerate(heads):
            arrays.update(zip(names.head(depth, h), _matrices(weights)))
        bos = bos + _bos_update(heads, bos)
        specs = plan.at(Stage.FFN, depth)
        products = [residual.tables[s.feature] for s in specs if s.linear is None]
        linears = [residual.linears[s.feature] for s in specs if s.linear is not None]
        erased = [b for b in residual.layout.blocks if b.erased == slot(depth, Stage.FFN)]
        ffn = build_feedforward(products, residual.layout, bos, plan.facts.limits, depth,
                                linears, erased, plan.analysis.target)
        layers.append({"heads": len(heads), "mlp": 0 if ffn is None else len(ffn.weights),
                       # what each head and the feed-forward block compute, for readers
                       "selectors": [h.selector.title for h in layer.heads],
                       "maps": [s.title for s in specs] if ffn is not None else []})
        if ffn is not None:
            arrays.update(_mlp_arrays(depth, ffn))
            bos = bos + _feedforward_at(ffn, bos)  # 0 but where it erases: -bos there
    arrays[names.UNEMBEDDING] = unembedding(plan, residual.layout)
    config = _config(plan, residual.layout, program, layers)
    model = Model(arrays, {**config, "causal": True} if causal else config)
    _check_shape(model, plan)
    return model


def embeddings(plan: Plan, residual: Residual) -> tuple[np.ndarray, np.ndarray]:
    """embed.token (row 0 BOS, row i + 1 the vocabulary's item i) and embed.position: the
    flags, and the one-hot of every table the embeddings compute."""
    facts, layout = plan.facts, residual.layout
    token = np.zeros((len(facts.vocab) + 1, layout.width))
    position = np.zeros((facts.max_len + 1, layout.width))
    token[0, BOS] = 1.0
    token[1:, ONE] = 1.0
    for stage, table in ((Stage.TOKEN, token), (Stage.POSITION, position)):
        for spec in plan.at(stage):
            block = layout.of[spec.feature]
            for row, result in enumerate(residual.tables[spec.feature].results, 1):
                dim = None if result is ERROR else block.dim(result)
                if dim is not None:
                    table[row, dim] = 1.0
    return token, position


def unembedding(plan: Plan, layout: Layout) -> np.ndarray:
    """[d_model, n_out]: the target's block, read out as it is."""
    out = layout.node(plan.analysis.target)
    unembed = np.zeros((layout.width, out.size))
    unembed[out.start + np.arange(out.size), np.arange(out.size)] = 1.0
    return unembed


def _matrices(weights: HeadWeights) -> tuple[np.ndarray, ...]:
    """A head's matrices in the order of names.HeadNames."""
    return weights.query, weights.key, weights.value, weights.output


def _bos_update(heads: list[HeadWeights], bos: np.ndarray) -> np.ndarray:
    """What the heads add at BOS, which attends to itself alone."""
    update = np.zeros_like(bos)
    for weights in heads:
        update += (bos @ weights.value) @ weights.output
    return update


def _feedforward_at(ffn: FeedForward, x: np.ndarray) -> np.ndarray:
    """What a feed-forward block adds to the residual x."""
    for j, (w, b) in enumerate(zip(ffn.weights, ffn.biases)):
        x = (np.maximum(x, 0.0) if j else x) @ w + b
    return x


def _mlp_arrays(depth: int, ffn: FeedForward) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for j, (w, b) in enumerate(zip(ffn.weights, ffn.biases)):
        arrays.update(zip(names.mlp(depth, j), (w, b)))
    return arrays


def _config(plan: Plan, layout: Layout, program: str, layers: list[dict]) -> dict:
    """The saved configuration (docs/compiling.md's format)."""
    facts = plan.facts
    out = layout.node(plan.analysis.target)
    numerical = out.encoding is Encoding.NUMERICAL
    values = _numbers(plan) if numerical else out.values
    return {"format": FORMAT, "program": program, "vocab": facts.vocab,
            "max_len": facts.max_len, "d_model": layout.width, "layers": layers,
            "output": {"kind": "numerical" if numerical else "categorical",
                       "values": [representative(v) for v in values]},
            "layout": _live(layout, layers)}


def _live(layout: Layout, layers: list[dict]) -> list[dict]:
    """The layout's blocks, each with its live range: the stage whose residual first holds
    it (`from`) and, for a block erased after its last use, the last that does (`until`);
    the layer whose feed-forward block erases it lists it in `erases`."""
    order = stages(layers)
    described = names.unique_blocks(layout.describe())
    for entry, block in zip(described, layout.blocks):
        entry["from"] = stage_at(block.written)
        if block.erased is not None:
            entry["until"] = order[order.index(stage_at(block.erased)) - 1]
            layers[block.erased // 2].setdefault("erases", []).append(entry["name"])
    return described


def _numbers(plan: Plan) -> list:
    """A numerical output's values, which tell the decoder which numbers are ints (a
    numerical block keeps none); none where they cannot be enumerated (means of numbers
    beyond 2^53 / max_len): the output then decodes floats."""
    try:
        return plan.facts.domain(plan.analysis.target)
    except RaspLimitError:
        return []


def _check_shape(model: Model, plan: Plan) -> None:
    """The compiled model has the analysis's layers and heads, and the arrays the format
    names for them: a compiler bug otherwise."""
    analysis = plan.analysis
    assert len(model.config["layers"]) - 1 == analysis.depth, "layers differ from analysis"
    assert model.heads_per_layer == analysis.heads_per_layer, "heads differ from analysis"
    assert set(model.arrays) == set(names.expected(model.config["layers"])), "arrays differ"
