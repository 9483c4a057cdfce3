"""Random programs (the differential tests' generator): every s-op they define is compiled
for a small vocabulary and max_len 4, and either refused with a RaspError or equal to the
interpreter on every input. Any other exception is a compiler bug."""

from __future__ import annotations

import os
from collections.abc import Iterator

from hypothesis import event, given, settings
from hypothesis.strategies import booleans

from rasp import Interpreter, RaspError
from rasp.compiler.graph import SOp
from rasp.compiler.verify import verify

from program_strategies import Case, cases

MAX_LEN = 4
EXAMPLES = int(os.environ.get("RASP_COMPILE_EXAMPLES", "200"))


def vocabulary(case: Case) -> list | None:
    """Up to three distinct tokens of the case's first input."""
    first = case.inputs[0]
    items = list(first) if isinstance(first, (str, list, tuple)) else []
    found: dict = {}
    for t in items:
        if isinstance(t, (str, int, float, bool)):
            found.setdefault((type(t), t), t)
    return list(found.values())[:3] or None


def compiled_sops(case: Case, max_len: int = MAX_LEN, causal: bool = False,
                  reuse: bool = False) -> Iterator:
    """(the vocabulary, the Compiled) of every s-op the case's program defines that compiles
    (refusals are counted as events); nothing when the program fails or has no vocabulary.
    `reuse`: compiled with residual dimensions reused (kept where that pays)."""
    it = Interpreter(warn=lambda text: None, causal=causal)
    try:
        it.run(case.source, "<generated>")
    except RaspError:
        return
    vocab = vocabulary(case)
    if vocab is None:
        return
    for name in case.names:
        if not isinstance(it.value(name), SOp):
            continue
        try:
            yield vocab, it.compile(name, vocab, max_len, reuse=reuse)
        except RaspError:
            event("refused")


@settings(max_examples=EXAMPLES, deadline=None)
@given(cases(), booleans())
def test_random_programs_compile_exactly_or_are_refused(case, reuse):
    """About half the programs are compiled with --reuse-residual."""
    for vocab, c in compiled_sops(case, reuse=reuse):
        result = verify(c.model, c.target, exhaustive=400)
        event("compiled" if result.checked else "the interpreter raises on every input")
        if reuse and c.saving.pays:
            event("compiled with reuse, kept")
        assert result.checked == 0 or result.ok, (case.source, vocab, result.report())


@settings(max_examples=EXAMPLES // 4, deadline=None)
@given(cases())
def test_random_programs_compile_causal_exactly_or_are_refused(case):
    """Causal compiling: refused (most random programs read the future), or equal to the
    causal interpreter on every input, with the prefix check passed."""
    for vocab, c in compiled_sops(case, causal=True):
        assert c.model.causal
        result = verify(c.model, c.target, exhaustive=400)
        event("compiled causal" if result.checked else "the interpreter raises on every input")
        assert result.checked == 0 or (result.ok and result.prefixes_ok), (
            case.source, vocab, result.report())
