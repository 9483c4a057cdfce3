"""The compile pipeline: the passes in order, their result, and `build` (compile, then check
against the interpreter).

`compile_sop` runs one pass a line, each in its own module: the bounds (bounds.py), the
analysis (the core's `analyze`), the value sets (valuesets.py, computed as the later passes
ask for them), the plan (plan.py), the layout (layout.py) and the weights (assemble.py, with
heads.py and mlps.py). `Compiled` carries the model with what made it (the target s-op, the
time taken) and, once checked, the verification; the front ends (`rasp compile`, the
`compile` statement, the notebook) render it and refuse a model that disagrees with the one
message `refusal()` gives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import RaspValueError, split_lines
from .assemble import assemble
from .bounds import check_bounds
from .graph import SOp, analyze, plain, reads_future, refusal
from .layout import lay_out
from .model import Model
from .plan import plan_features
from .reuse import Saving, weigh
from .valuesets import Facts, Limits
from .verify import Verification, verify

DISAGREES = ("the model disagrees with the interpreter: a bug in the compiler; please report "
             "it (the model was not saved)")


@dataclass(frozen=True)
class Compiled:
    """A compiled s-op: the model, its target, the compile time, and the check once made."""

    model: Model
    target: SOp
    seconds: float
    verification: Verification | None = None
    saving: Saving | None = None  # asked to reuse the residual: what it gave

    def summary(self) -> str:
        reuse = "" if self.saving is None else self.saving.line() + "\n"
        return f"{self.model.summary()}\n{reuse}  compiled in {self.seconds:.2f} s"

    def verify(self, sample: int | None = None, dtype: str = "float64",
               announce: Callable[[str], None] | None = None) -> Verification:
        """The model against the interpreter on every length (`sample` K: at most K
        structured and K random inputs per length, instead of every input of a length with
        few and up to verify.STRUCTURED and verify.RANDOM of the others; `dtype` "float32":
        the forward pass in float32; `announce`: given the plan before the check runs, and
        a long check's estimated time once its first lengths are timed)."""
        return verify(self.model, self.target, sample=sample, dtype=dtype, announce=announce)

    def checked(self, sample: int | None = None,
                announce: Callable[[str], None] | None = None) -> Compiled:
        """This result with its verification (`sample` 0: none)."""
        return self if sample == 0 else \
            replace(self, verification=self.verify(sample, announce=announce))

    def lines(self) -> list[str]:
        """What the front ends print: the summary, then the check's plan and report."""
        check = [] if self.verification is None else self.verification.lines()
        return [*split_lines(self.summary()), *check]

    @property
    def agrees(self) -> bool:
        """False only when inputs were checked and some disagreed (or, in a causal model,
        some prefix did)."""
        v = self.verification
        return v is None or ((not v.checked or v.ok) and v.prefixes_ok)

    def refusal(self) -> RaspValueError | None:
        """The error that refuses a model that disagrees (None when it agrees)."""
        return None if self.agrees else RaspValueError(DISAGREES)


def compile_sop(target: SOp, vocab: Sequence[Any], max_len: int, name: str | None = None,
                limits: Limits | None = None, causal: bool = False,
                reuse: bool = False) -> Compiled:
    """Compile an s-op into a transformer that computes it on every input of tokens from
    `vocab` of length 1..max_len; a RaspError says why when that cannot be done exactly.
    `causal`: a decoder, whose attention sees only positions up to the query's, for a
    program that never reads later positions (else refused, at the selector that does):
    its values are then the same in both modes, and so are its value sets. `reuse`: residual
    dimensions reused after each s-op's last use, where that makes fewer parameters
    (reuse.py; `Compiled.saving` says what it gave)."""
    start = time.perf_counter()
    target = plain(target)  # rasp.dsl's nodes, as the passes compare them: plain ones
    vocab = check_bounds(target, vocab, max_len)
    if causal:
        reads = reads_future(target, max_len)
        if reads:
            raise refusal(reads, "a causal compile")
    analysis = analyze(target)
    facts = Facts(vocab, max_len, limits or Limits())  # value sets, as the passes ask
    plan = plan_features(analysis, facts)
    residual = lay_out(plan, reuse)
    model = assemble(plan, residual, name or target.title, causal)
    saving = weigh(model, residual.layout) if reuse else None
    if saving is not None and saving.parameters > saving.plain_parameters:  # erasing costs
        model = assemble(plan, lay_out(plan), name or target.title, causal)
    return Compiled(model, target, time.perf_counter() - start, saving=saving)


def build(target: SOp, vocab: Sequence[Any], max_len: int, name: str | None = None,
          limits: Limits | None = None, sample: int | None = None,
          causal: bool = False, reuse: bool = False) -> Compiled:
    """`compile_sop`, then the check against the interpreter (`sample` 0: no check)."""
    return compile_sop(target, vocab, max_len, name, limits, causal, reuse).checked(sample)
