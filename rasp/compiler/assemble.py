"""From an s-op to a Model: plan the features, lay out the residual, build every sublayer.

The plan follows `analyze`: layer l's attention sublayer has one head per analysis head, and
its feed-forward block computes the maps the analysis puts in layer l (fused into tables of
what they are computed from) plus the joint values layer l + 1's heads read. Maps of depth 0
are folded into the token or position embedding when they read only tokens or only indices;
the others go in an embedding-stage block, layer 0, which has no heads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import RaspTypeError, RaspValueError
from . import names
from .graph import Aggregate, Analysis, Constant, Indices, Map, Selector, SOp, Tokens, analyze
from .graph import depth as depth_of
from .heads import HeadWeights, build_head, conjuncts, head_classes, side_feature
from .layout import BOS, ONE, Layout, value_key
from .mlps import FeedForward, Product, build_feedforward
from .model import FORMAT, Model
from .valuesets import (
    ERROR,
    Either,
    Facts,
    Limits,
    is_number,
    key,
    map_leaves,
    refusal,
    representative,
    selector_nodes,
    unique,
)


@dataclass
class Spec:
    """Where a feature is computed: "token" or "position" (the embedding), "head" (an
    attention head writes it) or "ffn" (the feed-forward block of layer `depth`)."""

    feature: Any
    nodes: list[SOp]
    stage: str
    depth: int
    leaves: list[SOp] = field(default_factory=list)
    product: Product | None = None


class Plan:
    def __init__(self, analysis: Analysis, facts: Facts):
        self.analysis = analysis
        self.facts = facts
        self.specs: dict[Any, Spec] = {}
        # who reads each feature: (conjunct, side) for a head, None for anything else
        self.readers: dict[Any, list[tuple[Selector, int] | None]] = {}
        for layer in analysis.layers[1:]:
            for head in layer.heads:
                for part in conjuncts(head.selector):
                    for which, side in enumerate(selector_nodes(part)):
                        self._side(side, part, which)
        self.require(analysis.target)

    def _side(self, nodes: list[SOp], part: Selector, which: int) -> None:
        live = [n for n in nodes if not isinstance(n, Constant)]
        feature = side_feature(nodes, self.facts)
        if feature is None:
            for n in live:
                self.require(n, (part, which))
        else:
            self.readers.setdefault(feature, []).append((part, which))
            self._computed(feature, live, max(depth_of(n) for n in live))

    def require(self, node: SOp, reader: tuple[Selector, int] | None = None) -> None:
        """Make `node`'s value a block of the residual."""
        feature = ("node", node.id)
        if isinstance(node, Constant):
            return
        self.readers.setdefault(feature, []).append(reader)
        if feature in self.specs:
            return
        if isinstance(node, Tokens):
            self.specs[feature] = Spec(feature, [node], "token", 0, [node])
        elif isinstance(node, Indices):
            self.specs[feature] = Spec(feature, [node], "position", 0, [node])
        elif isinstance(node, Aggregate):
            self.specs[feature] = Spec(feature, [node], "head", depth_of(node))
            self.require(node.values)
        else:
            assert isinstance(node, Map), node
            self._computed(feature, [node], depth_of(node))

    def _computed(self, feature: Any, nodes: list[SOp], depth: int) -> None:
        if feature in self.specs:
            return
        leaves: dict[int, SOp] = {}
        for n in nodes:
            below = map_leaves(n, depth) if isinstance(n, Map) and depth_of(n) == depth else [n]
            leaves.update((leaf.id, leaf) for leaf in below)
        spec = Spec(feature, nodes, "ffn", depth, sorted(leaves.values(), key=lambda n: n.id))
        if depth == 0 and all(isinstance(leaf, Tokens) for leaf in spec.leaves):
            spec.stage = "token"
        elif depth == 0 and spec.leaves and all(isinstance(leaf, Indices)
                                                for leaf in spec.leaves):
            spec.stage = "position"
        self.specs[feature] = spec
        if spec.stage == "ffn":
            for leaf in spec.leaves:
                self.require(leaf)

    def numeric(self, node: SOp) -> bool:
        return isinstance(node, Aggregate) and self.facts.numeric(node)


def _name(spec: Spec) -> str:
    if spec.feature[0] == "joint":
        return "(" + ", ".join(n.title for n in spec.nodes) + ")"
    return spec.nodes[0].title


def _tabulate(plan: Plan, spec: Spec, combos: list[tuple]) -> Product:
    """The feature's value on each combination of its leaves' values."""
    tables = plan.facts.tabulate(spec.nodes, spec.leaves, combos)
    if spec.feature[0] == "joint":
        # heads compare numbers by value: a joint value holds them as floats where exact
        columns = [[_by_value(v) for v in t] for t in tables]
        results = [ERROR if any(v is ERROR for v in row) else tuple(row)
                   for row in zip(*columns)]
    else:
        (results,) = tables
    return Product(spec.feature, _name(spec), spec.nodes[0], spec.leaves, combos, results)


def _by_value(v: Any) -> Any:
    if is_number(v) and float(v) == v:
        return float(v)
    return v


def _classes(plan: Plan, spec: Spec, product: Product) -> None:
    """A feature only heads read needs only the classes of values they tell apart: its
    results become one representative value per class (fewer dimensions, fewer steps)."""
    readings = plan.readers.get(spec.feature, [])
    if not readings or any(r is None for r in readings):
        return
    values = list(dict.fromkeys(value_key(r) for r in product.results if r is not ERROR))
    typed = {value_key(r): r for r in product.results if r is not ERROR}
    classes = head_classes(spec.nodes, [typed[k] for k in values], spec.feature[0] == "joint",
                           [r for r in readings if r is not None], plan.facts)
    if len(set(classes)) == len(values):
        return
    first: dict[int, Any] = {}
    for k, c in zip(values, classes):
        first.setdefault(c, typed[k])
    chosen = {k: first[c] for k, c in zip(values, classes)}
    product.results = [r if r is ERROR else chosen[value_key(r)] for r in product.results]


def _lay_out(plan: Plan) -> Layout:
    """Compute every feature's table and give it a block, in the order the model computes
    them (what a table reads has its block already)."""
    facts = plan.facts
    layout = Layout()
    order = {"token": 0, "position": 1, "head": 2, "ffn": 3}
    for spec in sorted(plan.specs.values(),
                       key=lambda s: (s.depth, order[s.stage], s.nodes[0].id)):
        name = _name(spec)
        if spec.stage == "head":
            agg = spec.nodes[0]
            assert isinstance(agg, Aggregate)
            if plan.numeric(agg):
                layout.add(spec.feature, name, "numerical")
                continue
            values = list(facts.domain(agg))
            source = layout.of.get(("node", agg.values.id))
            if source is not None:  # copies of classes the model cannot split
                values += [v for v in source.values if isinstance(v, Either)]
            layout.add(spec.feature, name, "categorical", values)
            continue
        if spec.stage == "token":
            per_leaf = [facts.token_values(leaf) for leaf in spec.leaves]  # type: ignore
            combos = [tuple(col[i] for col in per_leaf) for i in range(len(facts.vocab))]
        elif spec.stage == "position":
            combos = [(p,) for p in range(facts.max_len)]
        else:
            combos = facts.combos(spec.leaves, spec.nodes[0])
        if spec.stage != "ffn" and spec.feature[0] == "node" and spec.nodes == spec.leaves:
            # tokens or indices themselves (a joint feature of several is tabulated: tuples)
            product = Product(spec.feature, name, spec.nodes[0], spec.leaves, combos,
                              [c[0] for c in combos])
        else:
            product = _tabulate(plan, spec, combos)
        _classes(plan, spec, product)
        if spec.stage == "ffn":
            product.collapse([None if plan.numeric(leaf) else layout.of[("node", leaf.id)]
                              for leaf in spec.leaves])
        else:  # the embedding: one row per token or position, no collapsing
            product.values = unique(product.results) if spec.feature[0] == "node" else \
                list({value_key(r): r for r in product.results if r is not ERROR}.values())
        spec.product = product
        limit = facts.limits.max_values
        if len(product.values) > limit:
            raise refusal(spec.nodes[0], f"the value set of '{name}' has "
                                         f"{len(product.values):,} values (limit "
                                         f"--max-values {limit:,})")
        layout.add(spec.feature, name, "categorical", product.values)
    return layout


def _embeddings(plan: Plan, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    facts = plan.facts
    token = np.zeros((len(facts.vocab) + 1, layout.width))
    position = np.zeros((facts.max_len + 1, layout.width))
    token[0, BOS] = 1.0
    token[1:, ONE] = 1.0
    for spec in plan.specs.values():
        if spec.stage not in ("token", "position"):
            continue
        assert spec.product is not None
        table = token if spec.stage == "token" else position
        block = layout.of[spec.feature]
        for row, result in enumerate(spec.product.results, 1):
            dim = None if result is ERROR else block.dim(result)
            if dim is not None:
                table[row, dim] = 1.0
    return token, position


def compile_model(target: SOp, vocab: Sequence[Any], max_len: int, name: str | None = None,
                  limits: Limits | None = None) -> Model:
    """The model of an s-op on every input of tokens from `vocab` of length 1..max_len; a
    RaspError says why when that cannot be done exactly."""
    limits = limits or Limits()
    vocab = check_vocab(vocab)
    check_max_len(max_len)
    if not isinstance(target, SOp):
        raise RaspTypeError("compile expects an s-op")
    if isinstance(target, Constant):
        raise refusal(target, f"'{target.title}' is a constant: there is nothing to compile")
    analysis = analyze(target)
    facts = Facts(vocab, max_len, limits)
    plan = Plan(analysis, facts)
    layout = _lay_out(plan)
    token, position = _embeddings(plan, layout)
    arrays = {names.TOKEN_EMBEDDING: token, names.POSITION_EMBEDDING: position}
    bos = token[0] + position[0]  # the residual at BOS: the same on every input
    layers = []
    for depth, layer in enumerate(analysis.layers):
        heads: list[HeadWeights] = [build_head(h, layout, facts, bos) for h in layer.heads]
        update = np.zeros_like(bos)
        for h, weights in enumerate(heads):
            matrices = (weights.query, weights.key, weights.value, weights.output)
            arrays.update(zip(names.head(depth, h), matrices))
            update += (bos @ weights.value) @ weights.output  # BOS attends to itself
        bos = bos + update
        products = [s.product for s in plan.specs.values()
                    if s.stage == "ffn" and s.depth == depth and s.product is not None]
        ffn = build_feedforward(products, layout, bos, limits, depth)
        layers.append({"heads": len(heads), "mlp": 0 if ffn is None else len(ffn.weights)})
        if ffn is not None:
            _store(arrays, depth, ffn)
    out = layout.of[("node", target.id)]
    unembed = np.zeros((layout.width, out.size))
    unembed[out.start + np.arange(out.size), np.arange(out.size)] = 1.0
    arrays[names.UNEMBEDDING] = unembed
    numerical = out.encoding == "numerical"
    config = {"format": FORMAT, "program": name or target.title, "vocab": vocab,
              "max_len": max_len, "d_model": layout.width, "layers": layers,
              "output": {"kind": "numerical" if numerical else "categorical",
                         "values": [] if numerical else [representative(v)
                                                         for v in out.values]},
              "layout": layout.describe()}
    model = Model(arrays, config)
    _check_shape(model, analysis)
    return model


def _store(arrays: dict[str, np.ndarray], depth: int, ffn: FeedForward) -> None:
    for j, (w, b) in enumerate(zip(ffn.weights, ffn.biases)):
        arrays.update(zip(names.mlp(depth, j), (w, b)))


def _check_shape(model: Model, analysis: Analysis) -> None:
    """The compiled model has the analysis's layers and heads: a compiler bug otherwise."""
    assert len(model.config["layers"]) - 1 == analysis.depth, "layers differ from analysis"
    assert model.heads_per_layer == analysis.heads_per_layer, "heads differ from analysis"


def check_vocab(vocab: Sequence[Any]) -> list:
    """The tokens as a list: atoms, at least one, none twice."""
    items = list(vocab)
    if not items:
        raise RaspValueError("the vocabulary is empty")
    for t in items:
        if not isinstance(t, (str, int, float, bool)):
            raise RaspValueError(f"vocabulary items must be atoms, got {t!r}")
    if len({key(t) for t in items}) != len(items):
        raise RaspValueError(f"the vocabulary {items!r} repeats a token")
    return items


def check_max_len(max_len: Any) -> None:
    if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 1:
        raise RaspValueError(f"max_len must be a positive integer, got {max_len!r}")
