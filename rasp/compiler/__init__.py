"""The RASP compiler: an s-op, a vocabulary and a maximum length in, the weights of a
transformer encoder out (numpy, float64), exact on every input within those bounds or
refused with the reason. See docs/compiling.md.

One module per phase: graph (the compiler's only window on the core graph), valuesets (what
each s-op can hold), assemble (the plan, following the analysis, and the residual layout),
layout (the residual's blocks), heads (attention), mlps (feed-forward blocks), model (the
file format and the forward pass), verify (the model against the interpreter), and cli
(`rasp compile`, a front end).
"""

from .assemble import check_max_len, check_vocab
from .compiling import Compiled, build, compile_sop
from .model import FORMAT, Model, reference_forward
from .valuesets import Limits
from .verify import Verification, verify

__all__ = ["FORMAT", "Compiled", "Limits", "Model", "Verification", "build", "check_max_len",
           "check_vocab", "compile_sop", "reference_forward", "verify"]
