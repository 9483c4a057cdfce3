"""The compiler's one window on the core: the graph nodes, their evaluation and the analysis.

Everything else in the compiler imports these names from here, so that a change in where the
core keeps them is a change of this file alone.
"""

from __future__ import annotations

from ..analysis import (
    Analysis,
    Head,
    Layer,
    analyze,
    graph_below,
    heads_per_layer_text,
    selects_of,
)
from ..engine import evaluate, input_array
from ..graph import (
    Aggregate,
    Combine,
    Constant,
    Indices,
    Map,
    Node,
    Select,
    Selector,
    SOp,
    Tokens,
    plain,
)

__all__ = ["Aggregate", "Analysis", "Combine", "Constant", "Head", "Indices", "Layer", "Map",
           "Node", "SOp", "Select", "Selector", "Tokens", "analyze", "evaluate",
           "graph_below", "heads_per_layer_text", "input_array", "plain", "selects_of"]
