"""The plan: which features the residual holds, and where the model computes each.

It follows `analyze`: layer l's attention sublayer has one head per analysis head, and its
feed-forward block computes the maps the analysis puts in layer l (fused into tables of what
they are computed from) plus the joint values layer l + 1's heads read. Maps of depth 0 are
folded into the token or position embedding when they read only tokens or only indices; the
others go in an embedding-stage block, layer 0, which has no heads. A feature is planned when
something reads it: the target, a head (one side of a conjunct), or a table of a later layer.

A map that is affine in numbers (linear.py) is computed by a linear block and held as one
number, unless a head compares it or copies it (they read one-hot blocks); inside a table of
its own layer it is one numerical leaf, computed by the block that reads it, instead of the
combinations of what it is computed from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from ..errors import RaspLimitError
from .blocks import Feature
from .graph import Aggregate, Analysis, Constant, Indices, Map, Node, Select, SOp, Tokens
from .heads import Reading, conjuncts, side_feature
from .linear import OUTPUT_ERROR, Affine, affine_of, error_bound, functions
from .valuesets import ERROR, Facts, is_number, selector_nodes


class Stage(IntEnum):
    """Where a feature is computed; within one depth, the model computes them in this order."""

    TOKEN = 0  # the token embedding
    POSITION = 1  # the position embedding
    HEAD = 2  # an attention head of layer `depth`
    FFN = 3  # the feed-forward block of layer `depth`


def slot(depth: int, stage: Stage) -> int:
    """The sublayer that computes at `stage` of layer `depth`, in the order the model runs
    them: 0 the embeddings, 2 l layer l's heads, 2 l + 1 its feed-forward block."""
    if stage in (Stage.TOKEN, Stage.POSITION):
        return 0
    return 2 * depth + (stage is Stage.FFN)


@dataclass(frozen=True)
class Spec:
    """One feature of the plan: the s-ops it holds the value of, where it is computed, and
    (for a table: an embedding or a feed-forward block) the s-ops it is computed from."""

    feature: Feature
    nodes: list[SOp]
    stage: Stage
    depth: int
    leaves: list[SOp]
    linear: Affine | None = None  # a map computed by a linear block, held as one number

    @property
    def title(self) -> str:
        """What messages and labels call it: the s-op's title, or the tuple of a joint
        feature's."""
        return self._join([n.title for n in self.nodes])

    @property
    def name(self) -> str:
        """The block's name: as the title, each s-op's unabbreviated."""
        return self._join([n.full_title for n in self.nodes])

    def _join(self, titles: list[str]) -> str:
        return "(" + ", ".join(titles) + ")" if self.feature.joint else titles[0]

    @property
    def slot(self) -> int:
        return slot(self.depth, self.stage)


@dataclass(frozen=True)
class Plan:
    """The plan pass's result. `readers`: who reads each feature, a Reading for a head and
    None for anything else (the target, a table)."""

    analysis: Analysis
    facts: Facts
    specs: dict[Feature, Spec]  # in the order they were planned
    readers: dict[Feature, list[Reading | None]]
    # by node id: the maps computed as affine functions, how far the model's number may be
    # from the interpreter's, and why an affine map is held as it is
    linear: dict[int, Affine] = field(default_factory=dict)
    errors: dict[int, float] = field(default_factory=dict)
    why: dict[int, str] = field(default_factory=dict)

    def numeric(self, node: SOp) -> bool:
        """Whether `node` is held as one number (an aggregate that averages numbers, or an
        affine map of numbers)."""
        return node.id in self.linear or (isinstance(node, Aggregate) and
                                          self.facts.numeric(node))

    def at(self, stage: Stage, depth: int | None = None) -> list[Spec]:
        """The features computed at `stage` (of layer `depth`), in the plan's order."""
        return [s for s in self.specs.values()
                if s.stage is stage and (depth is None or s.depth == depth)]


def plan_features(analysis: Analysis, facts: Facts) -> Plan:
    """The features the heads of every layer read, and the target's, with all they need."""
    planner = _Planner(analysis, facts)
    for layer in analysis.layers[1:]:
        for head in layer.heads:
            for part in conjuncts(head.selector):
                for side, nodes in enumerate(selector_nodes(part)):
                    planner.side(nodes, Reading(part, side))
    planner.require(analysis.target)
    linear = {i: a for i, a in planner.affine.items() if a is not None}
    return Plan(analysis, facts, planner.specs, planner.readers, linear, planner.errors,
                planner.why)


class _Planner:
    def __init__(self, analysis: Analysis, facts: Facts):
        self.depth_of = analysis.depth_of
        self.facts = facts
        self.specs: dict[Feature, Spec] = {}
        self.readers: dict[Feature, list[Reading | None]] = {}
        self.affine: dict[int, Affine | None] = {}
        self.errors: dict[int, float] = {}
        self.why: dict[int, str] = {}  # an affine map's encoding, and why
        # what heads read of each s-op: the selects comparing it, the aggregates of it
        self.compared = {i for n in analysis.nodes if isinstance(n, Select)
                         for i in (n.keys.id, n.queries.id)}
        self.aggregated: dict[int, list[Aggregate]] = {}
        for n in analysis.nodes:
            if isinstance(n, Aggregate):
                self.aggregated.setdefault(n.values.id, []).append(n)

    def side(self, nodes: list[SOp], reading: Reading) -> None:
        """What one side of a conjunct reads: its s-op's block, or a joint feature."""
        live = [n for n in nodes if not isinstance(n, Constant)]
        feature = side_feature(nodes, self.facts)
        if feature is None:
            for n in live:
                self.require(n, reading)
        else:
            self.readers.setdefault(feature, []).append(reading)
            self.computed(feature, live, max(self.depth_of[n.id] for n in live))

    def require(self, node: SOp, reader: Reading | None = None) -> None:
        """Make `node`'s value a block of the residual."""
        feature = Feature.of(node)
        if isinstance(node, Constant):
            return
        self.readers.setdefault(feature, []).append(reader)
        if feature in self.specs:
            return
        depth = self.depth_of[node.id]
        if isinstance(node, Tokens):
            self.specs[feature] = Spec(feature, [node], Stage.TOKEN, 0, [node])
        elif isinstance(node, Indices):
            self.specs[feature] = Spec(feature, [node], Stage.POSITION, 0, [node])
        elif isinstance(node, Aggregate):
            self.specs[feature] = Spec(feature, [node], Stage.HEAD, depth, [])
            self.require(node.values)
        elif (affine := self.linear(node)) is not None:
            sources = affine.sources
            self.specs[feature] = Spec(feature, [node], Stage.FFN, depth, sources, affine)
            for leaf in sources:
                self.require(leaf)
        else:
            assert isinstance(node, Map), node
            self.computed(feature, [node], depth)

    def linear(self, node: SOp) -> Affine | None:
        """`node`'s affine form where a linear block computes it (see linear.py), else None:
        a map of numbers (two or more s-ops, or one held as a number), read by no head as
        one-hot, whose number the model holds within OUTPUT_ERROR of the interpreter's."""
        if node.id not in self.affine:
            self.affine[node.id] = self._linear(node)
        return self.affine[node.id]

    def _linear(self, node: SOp) -> Affine | None:
        if not isinstance(node, Map):
            return None
        depth = self.depth_of[node.id]
        affine = affine_of(node, self.depth_of, depth)
        if affine is None or not affine.terms:
            return None
        sources = affine.sources
        if depth == 0 and (all(isinstance(s, Tokens) for s in sources) or
                           all(isinstance(s, Indices) for s in sources)):
            return None  # an embedding's table holds it, at no cost
        held = [self.linear(s) is not None or
                (isinstance(s, Aggregate) and self.facts.numeric(s)) for s in sources]
        if len(sources) < 2 and not any(held):
            return None  # a table of one one-hot s-op is as small
        read = [affine.leaves[i] for i in sorted(affine.spread)]  # cancelled ones too
        number = [self.linear(s) is not None or
                  (isinstance(s, Aggregate) and self.facts.numeric(s)) for s in read]
        try:
            values = [self.facts.domain(s) for s in read]
        except RaspLimitError:  # too many to list: a table, which lists them by position
            return None
        if not all(h or all(is_number(v) for v in vs) for h, vs in zip(number, values)):
            return None  # not numbers: a table
        why = self._one_hot(node)
        bound = 0.0
        if why is None:
            largest = {s.id: max((abs(float(v)) for v in vs), default=0.0)
                       for s, vs in zip(read, values)}
            integral = all(float(v).is_integer() for vs in values for v in vs)
            bound = error_bound(affine, largest, self.errors, integral)
            if bound > OUTPUT_ERROR:
                why = "affine, but float64 could round it by more than 1e-12: a table"
            elif functions(node, self.depth_of, depth) and \
                    not self._agrees(node, affine, bound):
                why = "a function said to be affine that is not, or not checkably: a table"
        if why is not None:
            self.why[node.id] = why
            return None
        self.errors[node.id] = bound
        self.why[node.id] = "affine in " + ("averages" if any(
            isinstance(s, Aggregate) and h for s, h in zip(sources, held)) else "numbers") + \
            ": a linear block"
        self.facts.by_position.add(node.id)  # its values at each position, as tables need
        return affine

    def _one_hot(self, node: Map) -> str | None:
        """Why an affine map of numbers is still held one-hot, by a table (None: it is not)."""
        if node.id in self.compared:
            return "affine, but a head compares it: a table"
        if not all(self.facts.numeric(a) for a in self.aggregated.get(node.id, [])):
            return "affine, but a head copies it: a table"
        return None

    def _agrees(self, node: SOp, affine: Affine, bound: float) -> bool:
        """Whether the interpreter's value of `node` is its affine form's, within `bound`,
        on every reachable combination of the form's sources (a Python function says it is
        affine: checked, where the combinations are few enough to list)."""
        sources = affine.sources
        try:
            combos = self.facts.combos(sources, node)
        except RaspLimitError:
            return False
        (results,) = self.facts.tabulate([node], sources, combos)
        for combo, result in zip(combos, results):
            value = affine.const + sum(affine.terms[s.id] * float(v)
                                       for s, v in zip(sources, combo))
            if result is not ERROR and not (is_number(result) and
                                            abs(float(result) - value) <= bound):
                return False
        return True

    def computed(self, feature: Feature, nodes: list[SOp], depth: int) -> None:
        """Plan a table: the value of `nodes` from the s-ops below their maps of `depth`."""
        if feature in self.specs:
            return
        leaves: dict[int, SOp] = {}
        for n in nodes:
            below = (map_leaves(n, self.depth_of, depth, self.linear)
                     if isinstance(n, Map) and self.depth_of[n.id] == depth else [n])
            leaves.update((leaf.id, leaf) for leaf in below)
        ordered = sorted(leaves.values(), key=lambda n: n.id)
        stage = Stage.FFN
        if depth == 0 and all(isinstance(leaf, Tokens) for leaf in ordered):
            stage = Stage.TOKEN
        elif depth == 0 and ordered and all(isinstance(leaf, Indices) for leaf in ordered):
            stage = Stage.POSITION
        self.specs[feature] = Spec(feature, nodes, stage, depth, ordered)
        if stage is Stage.FFN:
            for leaf in ordered:
                affine = self.linear(leaf) if self.depth_of[leaf.id] == depth else None
                for needed in affine.sources if affine is not None else [leaf]:
                    self.require(needed)  # an affine leaf: the block computes it


def map_leaves(node: SOp, depth_of: Mapping[int, int], depth: int,
               linear: Callable[[SOp], Affine | None] = lambda n: None) -> list[SOp]:
    """What a chain of maps is computed from: the nearest s-ops below `node` that are not maps
    of `depth` (or are, but affine: the block computes their number), constants left out:
    they are in the chain."""
    found: dict[int, SOp] = {}
    stack: list[Node] = list(node.inputs) if isinstance(node, Map) else [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Constant):
            continue
        if isinstance(n, Map) and depth_of[n.id] == depth and linear(n) is None:
            stack.extend(n.inputs)
        else:
            assert isinstance(n, SOp)
            found[n.id] = n
    return sorted(found.values(), key=lambda n: n.id)
