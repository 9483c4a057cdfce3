"""The compiler's one window on the core: the graph nodes, their evaluation and the analysis.

Everything else in the compiler imports these names from here, so that a change in where the
core keeps them (values.py today) is a change of this file alone.
"""

from __future__ import annotations

from ..analysis import Analysis, Head, Layer, analyze, graph_below, selects_of
from ..values import (
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
    evaluate,
    input_array,
)

__all__ = ["Aggregate", "Analysis", "Combine", "Constant", "Head", "Indices", "Layer", "Map",
           "Node", "SOp", "Select", "Selector", "Tokens", "analyze", "evaluate", "graph_below",
           "input_array", "selects_of"]
