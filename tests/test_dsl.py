"""rasp.dsl: programs built in Python are the programs written in RASP: the same values,
analysis and compiled model; Python's operators build s-ops and selectors; maps of Python
functions are evaluated and compiled exactly, and their mistakes are positioned in Python."""

from __future__ import annotations

import random

import pytest

from rasp import Interpreter, RaspError, dsl
from rasp.dsl import aggregate, indicator, indices, length, select, selector_width, tokens
from rasp.graph import Combine, Constant, Map, Select, plain


def reverse_of(seq):
    mirror = select(indices, length - 1 - indices, "==")
    return aggregate(mirror, seq)


def sort_stable(seq, key):
    before = select(key, key, "<") | (select(key, key, "==") & select(indices, indices, "<"))
    target = selector_width(before)
    return aggregate(select(target, indices, "=="), seq)


def dyck1():
    so_far = select(indices, indices, "<=")
    step = indicator(tokens == "(") - indicator(tokens == ")")
    depth = round((indices + 1) * aggregate(so_far, step))
    failed = aggregate(so_far, indicator(depth < 0)) > 0
    return dsl.where(failed, "F", dsl.where(depth == 0, "T", "P"))


# (the example file and its s-op, the same program built in Python, the vocabulary)
PROGRAMS = [
    ("reverse", "reverse", lambda: reverse_of(tokens), "abc"),
    ("histogram", "histogram", lambda: selector_width(select(tokens, tokens, "==")), "abc"),
    ("sort", "sorted_tokens", lambda: sort_stable(tokens, tokens), "abc"),
    ("dyck", "dyck1", dyck1, "()"),
]


def _session(example: str) -> Interpreter:
    it = Interpreter()
    it.run(f'load "{example}";')
    return it


def _inputs(vocab: str, count: int = 40, longest: int = 6) -> list[str]:
    rng = random.Random(0)
    return ["".join(rng.choice(vocab) for _ in range(rng.randint(1, longest)))
            for _ in range(count)]


def _shape(analysis) -> list[tuple[int, int]]:
    return [(len(layer.heads), len(layer.maps)) for layer in analysis.layers]


@pytest.mark.parametrize("example, name, build, vocab", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_library_programs_built_in_python_equal_the_parsed_ones(example, name, build, vocab):
    it = _session(example)
    sop = build()
    for text in _inputs(vocab):
        assert it.evaluate(sop, text) == it.evaluate(name, text), text
    assert _shape(it.analyze(sop)) == _shape(it.analyze(name))
    ours, theirs = it.compile(sop, vocab, 6), it.compile(name, vocab, 6)
    assert ours.lines()[0].split(": ", 1)[1] == theirs.lines()[0].split(": ", 1)[1]
    assert ours.refusal() is None and ours.checked().refusal() is None


def test_library_functions_are_the_prelude_node_for_node():
    it = Interpreter()
    prelude = it.value("selector_width(select(tokens, tokens, ==))")
    ours = selector_width(select(tokens, tokens, "=="))
    assert _kinds(ours) == _kinds(prelude)
    assert _kinds(length) == _kinds(it.value("length"))


def _kinds(node) -> list[str]:
    """The graph below a node, as the kinds and operations it is made of, in a fixed order."""
    out, stack, seen = [], [node], set()
    while stack:
        n = stack.pop()
        if n.id in seen:
            continue
        seen.add(n.id)
        extra = getattr(n, "op", "") or getattr(getattr(n, "operation", None), "symbol", "")
        out.append(f"{type(plain(n)).__name__}{extra}{getattr(n, 'value', '')}")
        stack.extend(n.inputs)
    return out


# ---------------------------------------------------------------- operators


def test_comparisons_build_s_ops_never_bools():
    built = tokens == "a"
    assert isinstance(built, Map) and built.operation.symbol == "=="
    assert isinstance(built.inputs[1], Constant) and built.inputs[1].value == "a"
    assert Interpreter().evaluate(built, "abca") == [True, False, False, True]
    with pytest.raises(RaspError, match="has no truth value"):
        bool(tokens == "a")
    with pytest.raises(RaspError, match="no truth value") as caught:
        if select(tokens, tokens, "=="):
            pass
    assert caught.value.span.source.name == __file__


def test_operators_follow_pythons_precedence_and_reflect():
    it = Interpreter()
    assert it.evaluate(1 + indices * 2, "abc") == [1, 3, 5]  # * before +
    assert it.evaluate((tokens == "a") | (indices == 2), "abc") == [True, False, True]
    assert it.evaluate(~(indices < 1) & (indices < 2), "abc") == [False, True, False]
    assert it.evaluate(10 - indices, "ab") == [10, 9]
    assert it.evaluate(2 ** indices, "abc") == [1, 2, 4]  # RASP's ^
    assert it.evaluate(-indices, "ab") == [0, -1]
    assert it.evaluate(round(indices / 2), "abcd") == [0, 0, 1, 2]


def test_selector_operators_combine_selectors():
    both = select(indices, indices, "<=") & ~select(indices, indices, "==")
    assert isinstance(both, Combine) and both.op == "and"
    assert Interpreter().evaluate(both, "abc") == [[False] * 3, [True, False, False],
                                                   [True, True, False]]
    with pytest.raises(RaspError, match="combines a selector with a selector"):
        select(indices, indices, "==") & indices


def test_tracr_spellings():
    flip = dsl.Select(indices, length - indices - 1, dsl.Comparison.EQ)
    assert isinstance(flip, Select) and flip.op == "=="
    it = Interpreter()
    assert it.evaluate(dsl.Aggregate(flip, tokens), "abc") == ["c", "b", "a"]
    assert it.evaluate(dsl.SelectorWidth(dsl.Select(tokens, tokens, dsl.Comparison.TRUE)),
                       "ab") == [2, 2]
    assert it.evaluate(dsl.SelectorWidth(dsl.Select(tokens, tokens, dsl.Comparison.FALSE)),
                       "ab") == [0, 0]
    assert dsl.numerical(indices).annotations["encoding"] == "numerical"
    assert it.evaluate(dsl.Full(3), "ab") == [3, 3]


# ---------------------------------------------------------------- Python maps


def test_python_maps_are_evaluated_and_compiled_exactly():
    def shout(x):
        return x.upper() + "!"

    loud = dsl.Map(shout, tokens)
    summed = dsl.SequenceMap(lambda a, b: a * 10 + b, dsl.tokens_int, indices)
    it = Interpreter()
    assert it.evaluate(loud, "ab") == ["A!", "B!"]
    assert loud.title == "shout(tokens)"
    assert it.evaluate(summed, [3, 4]) == [30, 41]
    for sop, vocab in ((loud, "ab"), (summed, [1, 2, 3])):
        compiled = it.compile(sop, vocab, 4).checked()
        assert compiled.refusal() is None


def test_a_python_map_that_raises_is_one_positioned_error_naming_the_function():
    def parity(x):
        return {"a": 0, "b": 1}[x]

    odd = dsl.Map(parity, tokens); line = _line()  # noqa: E702 (the line of the call)
    it = Interpreter()
    with pytest.raises(RaspError) as caught:
        it.evaluate(odd, "abc")
    error = caught.value
    assert "the Python function 'parity' raised KeyError on 'c'" in error.message
    assert error.span.source.name == __file__ and error.span.line == line
    with pytest.raises(RaspError, match="'parity' raised KeyError on 'c'") as refused:
        it.compile(odd, "abc", 3)
    assert refused.value.span.line == line
    assert it.compile(odd, "ab", 3).refusal() is None  # on the values it can be given


def _line() -> int:
    import inspect
    return inspect.currentframe().f_back.f_lineno  # type: ignore[union-attr]


def test_a_map_returning_a_non_atom_is_an_error():
    def pair(a, b):
        return (a, b)

    with pytest.raises(RaspError, match=r"'pair' returned \('a', 0\) on 'a', 0.*bools, ints"):
        Interpreter().evaluate(dsl.SequenceMap(pair, tokens, indices), "ab")


def test_a_non_deterministic_function_is_refused():
    rng = random.Random(1)
    noisy = dsl.Map(lambda x: rng.random(), tokens)
    with pytest.raises(RaspError, match="'lambda' is not deterministic") as caught:
        Interpreter().compile(noisy, "ab", 3)
    assert caught.value.span.source.name == __file__
    by_position = dsl.Map(lambda i: rng.randint(0, 9), indices)  # no tokens read
    with pytest.raises(RaspError, match="'lambda' is not deterministic"):
        Interpreter().compile(by_position, "ab", 3)
    assert Interpreter().compile(dsl.Map(lambda i: i % 2, indices), "ab", 3) \
        .checked().refusal() is None


def test_building_mistakes_are_positioned_at_the_python_call():
    with pytest.raises(RaspError, match="aggregate expects a selector first") as caught:
        aggregate(tokens, tokens)
    assert caught.value.span.source.name == __file__
    with pytest.raises(RaspError, match="select compares with one of"):
        select(tokens, tokens, "~")
    with pytest.raises(RaspError, match="needs s-ops or atoms"):
        tokens + [1, 2]
    with pytest.raises(RaspError, match="a map needs a Python function"):
        dsl.Map(3, tokens)


# ---------------------------------------------------------------- sessions and RASP text


def test_nodes_from_two_sessions_and_python_mix():
    first, second = _session("sort"), Interpreter()
    parsed = first.value("sorted_tokens")
    mixed = dsl.lift(parsed) + "!"
    assert second.evaluate(mixed, "cab") == ["a!", "b!", "c!"]
    assert second.evaluate(reverse_of(parsed), "cab") == ["c", "b", "a"]
    assert dsl.lift(parsed).id == parsed.id


def test_long_inputs_are_planned_for_nodes_too():
    it = Interpreter()
    text = "".join(random.Random(2).choice("abc") for _ in range(600))  # planned aggregates
    assert it.apply(sort_stable(tokens, tokens), text).tolist() == sorted(text)


def test_batches_of_a_node():
    assert Interpreter().evaluate_batch(reverse_of(tokens), ["ab", "cde", "fg"]) == \
        [["b", "a"], ["e", "d", "c"], ["g", "f"]]


def test_a_bound_node_is_named_in_rasp_text():
    it = Interpreter(draw_dir=None)
    it.bind("rev", reverse_of(tokens))
    assert it.run('rev("abc");').strip() == "=  [c, b, a] (strings)"
    assert "layer 2" in it.run('draw(rev, "abc");')
    with pytest.raises(RaspError, match="reserved name 'length'"):
        it.bind("length", indices)


@pytest.mark.parametrize("example, name, build, vocab", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_to_source_writes_rasp_that_computes_the_same(example, name, build, vocab):
    sop = build()
    text = dsl.to_source(sop, "program")
    it = Interpreter()
    it.run(text)
    for word in _inputs(vocab, 10):
        assert it.evaluate("program", word) == it.evaluate(sop, word)


def test_to_source_refuses_a_python_function():
    with pytest.raises(RaspError, match="applies the Python function 'upper'"):
        dsl.to_source(dsl.Map(str.upper, tokens))


def test_a_bound_python_program_makes_a_dataset():
    from rasp.train import make_dataset

    it = Interpreter()
    loud = dsl.Map(str.upper, reverse_of(tokens))
    it.bind("loud_reverse", loud)
    data = make_dataset(it, "loud_reverse", alphabet="abc", lengths=(1, 4), n_train=20,
                        n_val=5, n_test=5)
    assert data.classes == ["A", "B", "C"]
    assert [h.key for h in data.program.heads] == ["L1H1", "L2H1"]  # length, the mirror


def test_to_source_refuses_what_rasp_text_cannot_write():
    with pytest.raises(RaspError, match="cannot write the value 'say \"hi\"'"):
        dsl.to_source(tokens + 'say "hi"')
