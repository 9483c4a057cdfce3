"""The layout pass: every planned feature's table and block of the residual.

Features are laid out in the order the model computes them (by depth, then stage), so that what
a table reads has its block already: a feed-forward table is collapsed to what the model sees
of its leaves (their blocks), and a head's block holds the classes its source block copies.
A feature only heads read keeps one value per class of values they tell apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .blocks import Encoding, Feature, Layout, value_key
from .graph import Aggregate
from .heads import head_classes
from .mlps import Product
from .plan import Plan, Spec, Stage
from .valuesets import ERROR, Either, is_number, refusal, unique


@dataclass(frozen=True)
class Residual:
    """The layout pass's result: the blocks, and the table of every feature an embedding or a
    feed-forward block computes (its value on each combination of its leaves' values)."""

    layout: Layout
    tables: dict[Feature, Product]


def lay_out(plan: Plan) -> Residual:
    """Compute every feature's table and give it a block, in the order the model computes
    them."""
    layout = Layout()
    tables: dict[Feature, Product] = {}
    for spec in sorted(plan.specs.values(),
                       key=lambda s: (s.depth, s.stage, s.nodes[0].id)):
        if spec.stage is Stage.HEAD:
            _head_block(plan, spec, layout)
            continue
        product = _table(plan, spec, layout)
        limit = plan.facts.limits.max_values
        if len(product.values) > limit:
            raise refusal(spec.nodes[0], f"the value set of '{spec.title}' has "
                                         f"{len(product.values):,} values (limit "
                                         f"--max-values {limit:,})")
        block = layout.add(spec.feature, spec.title, Encoding.CATEGORICAL, product.values)
        if product.members:  # the values a trace of the model can tell apart: the classes
            block.members = [product.members.get(value_key(v), [v]) for v in product.values]
        tables[spec.feature] = product
    return Residual(layout, tables)


def _head_block(plan: Plan, spec: Spec, layout: Layout) -> None:
    """An aggregate's block: one number, or one-hot over what it can copy."""
    agg = spec.nodes[0]
    assert isinstance(agg, Aggregate)
    if plan.numeric(agg):
        layout.add(spec.feature, spec.title, Encoding.NUMERICAL)
        return
    values = list(plan.facts.domain(agg))
    source = layout.of.get(Feature.of(agg.values))
    if source is not None:  # copies of classes the model cannot split
        values += [v for v in source.values if isinstance(v, Either)]
    layout.add(spec.feature, spec.title, Encoding.CATEGORICAL, values)


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
