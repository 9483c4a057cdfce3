"""rasp.compat.tracr: tracr's programs converted into our graph. Without tracr, on hand-built
stand-ins of its classes (the importer reads classes by name); with tracr installed (the
`tracr` extra), on every program of tracr's library against tracr's own evaluator."""

from __future__ import annotations

import enum
import importlib.util
import random
import subprocess
import sys
from pathlib import Path

import pytest

from rasp import Interpreter, RaspError
from rasp.compat.tracr import from_tracr

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- stand-ins of tracr's classes


class Encoding(enum.Enum):
    CATEGORICAL = "categorical"
    NUMERICAL = "numerical"


class Comparison(enum.Enum):
    EQ = "=="
    LT = "<"
    LEQ = "<="
    GT = ">"
    GEQ = ">="
    NEQ = "!="
    TRUE = "True"
    FALSE = "False"


class RASPExpr:
    def __init__(self, label: str = "") -> None:
        self.label = label
        self.annotations: dict = {}

    def named(self, label: str):
        self.label = label
        return self


class SOp(RASPExpr):
    def __init__(self, label: str = "") -> None:
        super().__init__(label)
        self.annotations = {"encoding": Encoding.CATEGORICAL}


class Selector(RASPExpr):
    pass


class TokensType(SOp):
    pass


class IndicesType(SOp):
    pass


class LengthType(SOp):
    pass


class Map(SOp):
    def __init__(self, f, inner):
        super().__init__()
        self.f, self.inner = f, inner


class SequenceMap(SOp):
    def __init__(self, f, fst, snd):
        super().__init__()
        self.f, self.fst, self.snd = f, fst, snd


class LinearSequenceMap(SequenceMap):
    def __init__(self, fst, snd, a, b):
        super().__init__(lambda x, y: a * x + b * y, fst, snd)
        self.fst_fac, self.snd_fac = a, b


class Full(SOp):
    def __init__(self, fill):
        super().__init__()
        self.fill = fill


class ConstantSOp(SOp):
    def __init__(self, value):
        super().__init__()
        self.value = value


class Select(Selector):
    def __init__(self, keys, queries, predicate):
        super().__init__()
        self.keys, self.queries, self.predicate = keys, queries, predicate


class ConstantSelector(Selector):
    def __init__(self, value):
        super().__init__("constant_selector")
        self.value = value


class SelectorWidth(SOp):
    def __init__(self, selector):
        super().__init__()
        self.selector = selector


class SelectorAnd(Selector):
    def __init__(self, fst, snd):
        super().__init__()
        self.fst, self.snd = fst, snd


class SelectorNot(Selector):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner


class Aggregate(SOp):
    def __init__(self, selector, sop, default=None):
        super().__init__()
        self.selector, self.sop, self.default = selector, sop, default


def numerical(sop):
    sop.annotations = {"encoding": Encoding.NUMERICAL}
    return sop


tokens, indices, length = TokensType("tokens"), IndicesType("indices"), LengthType("length")


def stand_in_reverse():
    """tracr's make_reverse, as its library writes it."""
    opp_idx = SequenceMap(lambda x, y: x - y, length, indices).named("opp_idx")
    opp_idx = Map(lambda x: x - 1, opp_idx).named("opp_idx-1")
    flip = Select(indices, opp_idx, Comparison.EQ).named("reverse_selector")
    return Aggregate(flip, tokens).named("reverse")


# ---------------------------------------------------------------- stand-ins


def test_reverse_converts_and_keeps_tokens_as_they_are():
    it = Interpreter()
    reverse = from_tracr(stand_in_reverse())
    assert reverse.name == "reverse"
    assert it.evaluate(reverse, [1, 2, 3]) == [3, 2, 1]  # ints stay ints, as in tracr
    assert it.evaluate(reverse, "abc") == ["c", "b", "a"]
    compiled = it.compile(reverse, [1, 2, 3], 5).checked()
    assert compiled.refusal() is None
    assert [len(layer.heads) for layer in it.analyze(reverse).layers] == [0, 1, 1]


def test_selector_width_and_combinations():
    it = Interpreter()
    hist = from_tracr(SelectorWidth(Select(tokens, tokens, Comparison.EQ)).named("hist"))
    assert it.evaluate(hist, "abac") == [2, 1, 2, 1]
    earlier_same = SelectorAnd(Select(tokens, tokens, Comparison.EQ),
                               SelectorNot(Select(indices, indices, Comparison.GEQ)))
    assert it.evaluate(from_tracr(SelectorWidth(earlier_same)), "abaa") == [0, 0, 1, 2]
    every = SelectorWidth(Select(tokens, tokens, Comparison.TRUE))
    none = SelectorWidth(Select(tokens, tokens, Comparison.FALSE))
    assert it.evaluate(from_tracr(every), "abc") == [3, 3, 3]
    assert it.evaluate(from_tracr(none), "abc") == [0, 0, 0]


def test_numerical_aggregates_average_bools_as_tracr_does():
    is_x = Map(lambda t: t == "x", tokens)
    prevs = Select(indices, indices, Comparison.LEQ)
    frac = from_tracr(numerical(Aggregate(prevs, numerical(is_x), default=0)))
    it = Interpreter()
    assert it.evaluate(frac, "xyxy") == [1, 0.5, 2 / 3, 0.5]
    assert frac.annotations["encoding"] == "numerical"
    assert it.compile(frac, ["x", "y"], 5).checked().refusal() is None


def test_none_default_becomes_zero():
    nothing = Aggregate(Select(indices, indices, Comparison.LT), numerical(Map(float, indices)))
    assert Interpreter().evaluate(from_tracr(numerical(nothing)), "abc") == [0, 0.0, 0.5]


def test_constants_linear_maps_and_shared_subexpressions():
    it = Interpreter()
    plus = LinearSequenceMap(indices, Full(10), 2, 1)
    assert it.evaluate(from_tracr(plus), "abc") == [10, 12, 14]
    assert from_tracr(plus).annotations["linear"] == (2, 1)  # for the compiler
    assert it.evaluate(from_tracr(ConstantSOp([7, 8, 9])), "abc") == [7, 8, 9]
    shared = Map(lambda x: x + 1, indices)
    both = from_tracr(SequenceMap(lambda a, b: a * b, shared, shared))
    assert both.inputs[0].id == both.inputs[1].id


def test_an_unsupported_construct_names_itself_at_the_call():
    shift = Select(indices, indices, lambda k, q: q == k + 1).named("shift_select")
    with pytest.raises(RaspError, match="tracr's Select 'shift_select' compares with the "
                                        "Python function 'lambda'") as caught:
        from_tracr(Aggregate(shift, tokens))
    assert caught.value.span.source.name == __file__
    with pytest.raises(RaspError, match="tracr's ConstantSelector 'constant_selector' has no "
                                        "counterpart"):
        from_tracr(SelectorWidth(ConstantSelector([[True]])))
    with pytest.raises(RaspError, match="tracr's int has no counterpart"):
        from_tracr(3)


def test_a_map_that_raises_names_the_function_where_it_is_defined():
    def first_letter(token):
        return token[0]

    it = Interpreter()
    node = from_tracr(Map(first_letter, tokens))
    with pytest.raises(RaspError, match="'first_letter' raised TypeError on 3") as caught:
        it.evaluate(node, [3])
    assert caught.value.span.line == first_letter.__code__.co_firstlineno


def test_the_importer_never_imports_tracr():
    code = ("import sys; from rasp.compat.tracr import from_tracr; "
            "from rasp.dsl import tokens; assert 'tracr' not in sys.modules, 'imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


# ---------------------------------------------------------------- tracr's own library


def _bench():
    spec = importlib.util.spec_from_file_location("tracr_lib", ROOT / "bench" / "tracr_lib.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_a_tracr_compile_past_its_time_is_stopped_and_shown_as_not_finished():
    bench = _bench()
    with pytest.raises(bench.Unfinished), bench.time_limit(0.001):  # 60 ms
        while True:
            pass
    assert bench.cell({"unfinished": 30.0}) == ["not finished in 30 min", "", "", "", ""]


# the programs whose selects compare with Python functions: named as not importable
LAMBDA_SELECTS = {"shift_by", "detect_pattern", "make_count", "make_count_less_freq"}


def test_tracr_library_imports_and_agrees_with_tracrs_evaluator():
    pytest.importorskip("tracr")
    bench = _bench()
    rng = random.Random(0)
    not_imported = set()
    for name, expr, vocab in bench.library(5):
        try:
            node = from_tracr(expr)
        except RaspError as e:
            assert "compares with the Python function" in e.message
            not_imported.add(name)
            continue
        it = Interpreter()
        compared = 0
        for _ in range(30):
            tokens_ = [rng.choice(vocab) for _ in range(rng.randint(1, 5))]
            try:
                theirs = list(expr(tokens_))
            except Exception:  # tracr raises (a select on None): nothing to compare
                continue
            try:
                ours = it.evaluate(node, tokens_)
            except RaspError as e:
                assert name == "make_nary_sequencemap" and "RASP values are" in e.message
                continue
            assert bench.agrees(ours, theirs), (name, tokens_, ours, theirs)
            compared += 1
        if name != "make_nary_sequencemap":
            assert compared >= 10, name
        try:
            compiled = it.compile(node, vocab, 5).checked()
        except RaspError as e:  # refused with a reason: positioned, and not a crash
            assert e.span is not None and name == "make_nary_sequencemap", (name, e.message)
            continue
        assert compiled.refusal() is None, name
    assert not_imported == LAMBDA_SELECTS
