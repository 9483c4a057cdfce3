"""The layout pass: every planned feature's table and block of the residual.

Features are laid out in the order the model computes them (by depth, then stage), so that what
a table reads has its block already: a feed-forward table is collapsed to what the model sees
of its leaves (their blocks), and a head's block holds the classes its source block copies.
A feature only heads read keeps one value per class of values they tell apart. An affine map
(plan.py, linear.py) has no table: one number, the form its block computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import RaspLimitError
from .blocks import Encoding, Feature, Layout, value_key
from .graph import Aggregate, SOp
from .heads import head_classes
from .mlps import Form, Linear, Product
from .plan import Plan, Spec, Stage
from .reuse import erasures
from .valuesets import ERROR, Either, is_number, refusal, representative, unique


@dataclass(frozen=True)
class Residual:
    """The layout pass's result: the blocks, and the table of every feature an embedding or a
    feed-forward block computes (its value on each combination of its leaves' values)."""

    layout: Layout
    tables: dict[Feature, Product]
    linears: dict[Feature, Linear]


def lay_out(plan: Plan, reuse: bool = False) -> Residual:
    """Compute every feature's table and give it a block, in the order the model computes
    them; `reuse`: each block erased after its last use, its dimensions given to later
    blocks (reuse.py)."""
    layout = Layout(erasures(plan) if reuse else None)
    tables: dict[Feature, Product] = {}
    linears: dict[Feature, Linear] = {}
    for spec in sorted(plan.specs.values(),
                       key=lambda s: (s.depth, s.stage, s.nodes[0].id)):
        if spec.stage is Stage.HEAD:
            _head_block(plan, spec, layout)
            continue
        if spec.linear is not None:
            linears[spec.feature] = _linear(plan, spec, layout)
            continue
        product = _table(plan, spec, layout)
        limit = plan.facts.limits.max_values
        if len(product.values) > limit:
            raise refusal(spec.nodes[0], f"the value set of '{spec.title}' has "
                                         f"{len(product.values):,} values (limit "
                                         f"--max-values {limit:,})")
        block = layout.add(spec.feature, spec.name, Encoding.CATEGORICAL, product.values,
                           _why(plan, spec), spec.slot)
        if product.members:  # the values a trace of the model can tell apart: the classes
            block.members = [product.members.get(value_key(v), [v]) for v in product.values]
        tables[spec.feature] = product
    return Residual(layout, tables, linears)


def _linear(plan: Plan, spec: Spec, layout: Layout) -> Linear:
    """An affine map's block (one number) and the form that computes it."""
    node = spec.nodes[0]
    form = _form(plan, node, layout)
    try:
        values = [float(v) for v in plan.facts.domain(node)]
        sign = 1 if min(values) >= 0 else -1 if max(values) <= 0 else 0
    except (RaspLimitError, ValueError):  # too many values to list, or none
        sign = 0
    layout.add(spec.feature, spec.name, Encoding.NUMERICAL, why=plan.why[node.id],
               written=spec.slot)
    return Linear(spec.feature, spec.title, node, form, sign)


def _form(plan: Plan, node: SOp, layout: Layout) -> Form:
    """An affine map's number from the blocks of what it is computed from: a number's block
    times its coefficient, a one-hot block's dimensions times their values'."""
    affine = plan.linear[node.id]
    weights: dict[int, float] = {}
    scale = abs(affine.const)
    for leaf in affine.sources:
        c = affine.terms[leaf.id]
        block = layout.node(leaf)
        if block.encoding is Encoding.NUMERICAL:
            dims = {block.start: 1.0}
        else:
            dims = {block.start + i: float(representative(v)) for i, v in enumerate(block.values)}
        for d, v in dims.items():
            weights[d] = weights.get(d, 0.0) + c * v
        scale += abs(c) * max((abs(float(v)) for v in plan.facts.domain(leaf)), default=0.0)
    return Form(weights, affine.const, scale, plan.errors[node.id])


def _leaf_form(plan: Plan, spec: Spec, leaf: SOp, layout: Layout) -> Form | None:
    """How a table's block reads a leaf: None for a one-hot block; a number's block; or an
    affine map of the table's own layer, computed in the block itself."""
    if not plan.numeric(leaf):
        return None
    if leaf.id in plan.linear and plan.analysis.depth_of[leaf.id] == spec.depth:
        return _form(plan, leaf, layout)
    largest = max((abs(float(v)) for v in plan.facts.domain(leaf)), default=0.0)
    return Form({layout.node(leaf).start: 1.0}, 0.0, largest, plan.errors.get(leaf.id, 0.0))


def _head_block(plan: Plan, spec: Spec, layout: Layout) -> None:
    """An aggregate's block: one number, or one-hot over what it can copy."""
    agg = spec.nodes[0]
    assert isinstance(agg, Aggregate)
    if plan.numeric(agg):
        layout.add(spec.feature, spec.name, Encoding.NUMERICAL, why="an average of numbers",
                   written=spec.slot)
        return
    values = list(plan.facts.domain(agg))
    source = layout.of.get(Feature.of(agg.values))
    if source is not None:  # copies of classes the model cannot split
        values += [v for v in source.values if isinstance(v, Either)]
    layout.add(spec.feature, spec.name, Encoding.CATEGORICAL, values,
               "a copy: its head never averages it", spec.slot)


def _why(plan: Plan, spec: Spec) -> str:
    """Why a table's feature is one-hot."""
    if spec.feature.joint:
        return "the values a head compares together"
    node = spec.nodes[0]
    if spec.stage is Stage.TOKEN:
        return "the input" if spec.leaves == spec.nodes else "a table of the tokens"
    if spec.stage is Stage.POSITION:
        return "the positions" if spec.leaves == spec.nodes else "a table of the positions"
    affine = [leaf.title for leaf in spec.leaves if leaf.id in plan.linear and
              plan.analysis.depth_of[leaf.id] == spec.depth]
    if affine:  # numbers the block computes from the residual, each in its step units
        return f"a table of {', '.join(affine)}: affine numbers its block computes"
    return plan.why.get(node.id, "a table")


def _table(plan: Plan, spec: Spec, layout: Layout) -> Product:
    """The feature's table, its values set: an embedding has one row per token or position,
    a feed-forward table is collapsed to what the model sees of its leaves."""
    facts = plan.facts
    if spec.stage is Stage.TOKEN:
        per_leaf = [facts.token_values(leaf) for leaf in spec.leaves]  # type: ignore
        combos = [tuple(col[i] for col in per_leaf) for i in range(len(facts.vocab))]
    elif spec.stage is Stage.POSITION:
        combos = [(p,) for p in range(facts.max_len)]
    else:
        combos = facts.combos(spec.leaves, spec.nodes[0])
    if spec.stage is not Stage.FFN and not spec.feature.joint and spec.nodes == spec.leaves:
        # tokens or indices themselves (a joint feature of several is tabulated: tuples)
        product = Product(spec.feature, spec.title, spec.nodes[0], spec.leaves, combos,
                          [c[0] for c in combos])
    else:
        product = _tabulate(plan, spec, combos)
    _classes(plan, spec, product)
    if spec.stage is Stage.FFN:
        product.collapse([None if plan.numeric(leaf) else layout.node(leaf)
                          for leaf in spec.leaves])
        product.forms = [_leaf_form(plan, spec, leaf, layout) for leaf in spec.leaves]
    else:  # the embedding: one row per token or position, no collapsing
        product.values = unique(product.results) if not spec.feature.joint else \
            list({value_key(r): r for r in product.results if r is not ERROR}.values())
    return product


def _tabulate(plan: Plan, spec: Spec, combos: list[tuple]) -> Product:
    """The feature's value on each combination of its leaves' values."""
    tables = plan.facts.tabulate(spec.nodes, spec.leaves, combos)
    if spec.feature.joint:
        # heads compare numbers by value: a joint value holds them as floats where exact
        columns = [[_by_value(v) for v in t] for t in tables]
        results = [ERROR if any(v is ERROR for v in row) else tuple(row)
                   for row in zip(*columns)]
    else:
        (results,) = tables
    return Product(spec.feature, spec.title, spec.nodes[0], spec.leaves, combos, results)


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
    classes = head_classes(spec.nodes, [typed[k] for k in values], spec.feature.joint,
                           [r for r in readings if r is not None], plan.facts)
    if len(set(classes)) == len(values):
        return
    first: dict[int, Any] = {}
    for k, c in zip(values, classes):
        first.setdefault(c, typed[k])
    chosen = {k: first[c] for k, c in zip(values, classes)}
    for k, c in zip(values, classes):
        product.members.setdefault(value_key(first[c]), []).append(typed[k])
    product.results = [r if r is ERROR else chosen[value_key(r)] for r in product.results]
