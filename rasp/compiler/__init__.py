"""The RASP compiler: an s-op, a vocabulary and a maximum length in, the weights of a
transformer encoder out (numpy, float64), exact on every input within those bounds or
refused with the reason. See docs/compiling.md.

compiling.py lists the passes in order, one module each: bounds (what may be compiled),
valuesets (what each s-op can hold), plan (which features the residual holds and where each
is computed), layout (their tables and blocks; with reuse, dimensions freed after an s-op's
last use: reuse.py), assemble (the weights: heads for attention, mlps for the feed-forward
blocks). Beside them: graph (the compiler's only window on the core), blocks (the residual's
named types), names (the format's array names), model (the file format and the forward
pass), sparse (the forward pass at the cost of the nonzero weights, which the model runs),
verify (the model against the interpreter), and cli (`rasp compile`, a front end).
"""

from .bounds import check_max_len, check_vocab
from .compiling import Compiled, build, compile_sop
from .model import Model, reference_forward
from .modelfile import FORMAT
from .valuesets import Limits
from .verify import Verification, verify

__all__ = ["FORMAT", "Compiled", "Limits", "Model", "Verification", "build", "check_max_len",
           "check_vocab", "compile_sop", "reference_forward", "verify"]
