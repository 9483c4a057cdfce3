"""The RASP compiler: an s-op, a vocabulary and a maximum length in, the weights of a
transformer encoder out (numpy, float64), exact on every input within those bounds or
refused with the reason. See docs/compiling.md.

Pipeline, one module per phase: valuesets (what each s-op can hold), assemble (the plan and
the residual layout), heads (attention), mlps (feed-forward), model (the file format and the
forward pass), verify (the model against the interpreter).
"""

from .assemble import compile_sop
from .model import FORMAT, Model, reference_forward
from .valuesets import Limits

__all__ = ["FORMAT", "Limits", "Model", "compile_sop", "reference_forward"]
