"""Causal RASP (issue 22): the semantics and the prefix property, "reads the future", causal
compiling and generation, with one clear error for each bad input.

The element-by-element check of causal mode against the reference evaluator is in
test_differential.py (test_causal_interpreter_agrees_with_the_causal_reference); random
programs compiled causal are in compiler/test_compile_random.py."""

from __future__ import annotations

import io
import itertools

import pytest
from hypothesis import event, given, settings
from test_differential import Failed, _attempt, same

from rasp import Interpreter, RaspError
from rasp.causal import reads_future
from rasp.commands import main
from rasp.compiler.verify import prefix_check, verify
from rasp.graph import Selector, SOp

from program_strategies import Case, cases

CAUSAL_LIBRARY = {  # programs whose selectors never select a later key
    "prefix_sum": "aggregate(select(indices, indices, <=), tokens_int)",
    "frac_prevs": 'aggregate(select(indices, indices, <=), indicator(tokens == "a"), 0)',
    "causal_histogram": "selector_width(select(tokens, tokens, ==) and "
                        "select(indices, indices, <=))",
    "previous": 'aggregate(select(indices, indices - 1, ==), tokens, "^")',
    "first": "aggregate(select(indices, 0, ==), tokens)",
}


def session(causal: bool = False, *loads: str) -> Interpreter:
    it = Interpreter(warn=lambda text: None, causal=causal)
    it.run("".join(f'load "{name}";' for name in loads))
    for name, expression in CAUSAL_LIBRARY.items():
        it.run(f"{name} = {expression};")
    return it


# ---------------------------------------------------------------- the semantics

def test_length_selector_width_and_aggregates_are_prefix_quantities():
    it = session(True)
    assert it.evaluate("length", "abcd") == [1, 2, 3, 4]
    assert it.evaluate("selector_width(full_s)", "abc") == [1, 2, 3]
    assert it.evaluate("aggregate(full_s, tokens_int)", [2, 4, 6]) == [2, 3.0, 4.0]
    assert it.evaluate("full_s", "abc") == [[True, False, False], [True, True, False],
                                            [True, True, True]]
    # `not` is applied before the restriction: a query never sees a later key
    assert it.evaluate("not select(indices, indices, ==)", "abc") == [
        [False, False, False], [True, False, False], [True, True, False]]


def test_the_mode_is_a_statement_and_an_argument():
    it = Interpreter(warn=lambda text: None)
    it.run("n = length;")
    assert it.evaluate("n", "abc") == [3, 3, 3]
    it.run("set causal on;")
    assert it.causal and it.evaluate("n", "abc") == [1, 2, 3]
    it.run("set causal off;")
    assert not it.causal and it.evaluate("n", "abc") == [3, 3, 3]
    it.run("causal = 2;")  # `causal` stays an ordinary name
    assert it.value("causal") == 2


def test_rasp_causal_runs_a_program_in_causal_mode():
    out = io.StringIO()
    assert main(["--causal", "-c", 'length("abc");'], stdout=out, stderr=io.StringIO()) == 0
    assert "[1, 2, 3]" in out.getvalue()


def _prefix_outcomes(it: Interpreter, name: str, example: list) -> list[tuple]:
    """(whole[:i+1], value on example[:i+1]) for every i, where the whole succeeds."""
    whole = _attempt(RaspError, it.evaluate, name, example)
    if isinstance(whole, Failed):
        return []
    pairs = []
    for i in range(len(example)):
        alone = _attempt(RaspError, it.evaluate, name, example[:i + 1])
        if isinstance(it.value(name), Selector) and not isinstance(alone, Failed):
            pairs.append(([row[:i + 1] for row in whole[:i + 1]], alone))
        else:
            pairs.append((whole[:i + 1], alone))
    return pairs


@given(cases())
def test_the_prefix_property_on_random_programs(case: Case):
    """In causal mode the values at positions 0..i on x are those on x[:i+1]."""
    it = Interpreter(warn=lambda text: None, causal=True)
    try:
        it.run(case.source, "<generated>")
    except RaspError:
        return
    for name in case.names:
        if not isinstance(it.value(name), (SOp, Selector)):
            continue
        for example in case.inputs:
            items = list(example) if isinstance(example, (str, list, tuple)) else []
            for whole, alone in _prefix_outcomes(it, name, items):
                assert same(whole, alone), (case.source, name, example, whole, alone)


@given(cases())
def test_causal_mode_equals_the_default_where_no_position_reads_the_future(case: Case):
    default = Interpreter(warn=lambda text: None)
    causal = Interpreter(warn=lambda text: None, causal=True)
    try:
        default.run(case.source, "<generated>")
        causal.run(case.source, "<generated>")
    except RaspError:
        return
    for name in case.names:
        node = default.value(name)
        if not isinstance(node, SOp) or reads_future(node):
            continue
        event("an s-op that reads no later position")
        for example in case.inputs:
            assert same(_attempt(RaspError, default.evaluate, name, example),
                        _attempt(RaspError, causal.evaluate, name, example)), (
                case.source, name, example)


@pytest.mark.parametrize("name", [*CAUSAL_LIBRARY, "count_next", "copy_next", "sort_next",
                                  "add_next"])
def test_causal_programs_compute_the_same_in_both_modes(name):
    default, causal = session(False, "decoding"), session(True, "decoding")
    assert reads_future(default.value(name)) == []
    for example in ["a", "ab:", "cab:ab", "ba:a:b", "21+43=64", [3, 1, 2], [5, 5, 0]]:
        if name in ("prefix_sum", "count_next") and isinstance(example, str):
            continue
        assert same(_attempt(RaspError, default.evaluate, name, example),
                    _attempt(RaspError, causal.evaluate, name, example)), example


# ---------------------------------------------------------------- reads the future

@pytest.mark.parametrize("file, name, sop, selector, line", [
    ("reverse", "reverse", "reverse", "reverse_of/mirror", 11),
    ("histogram", "histogram", "histogram", "_same_token", 23),
    ("sort", "sorted_tokens", "sorted_tokens", None, None),
])
def test_reads_the_future_names_the_selector(file, name, sop, selector, line):
    it = session(False, file)
    reads = reads_future(it.value(name))
    assert reads and reads[0].sop.title == sop
    if selector is not None:
        assert reads[0].selector.title == selector
        assert (reads[0].file, reads[0].span.line) == (f"{file}.rasp", line)


def test_sort_reads_the_future_through_its_comparison_of_keys():
    it = session(False)
    it.run("s = sort(tokens, tokens);")
    reads = {r.sop.title: r.selector.title for r in reads_future(it.value("s"))}
    assert reads["s"] == "sort/select(target, indices, ==)"
    assert reads["sort/target"] == "sort/select(key, key, <)"


def test_length_reads_the_future_and_prefix_programs_do_not():
    it = session(False, "cumulative", "counting")
    assert [r.selector.title for r in reads_future(it.value("length"))] == ["full_s"]
    for name in [*CAUSAL_LIBRARY, "cumulative_sum(tokens_int)",
                 'fraction_so_far(tokens == "a")']:
        assert reads_future(it.value(name)) == [], name


def test_analyze_reports_it_in_text_and_json():
    out = io.StringIO()
    assert main(["analyze", "reverse", "reverse"], stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue().splitlines()[-1] == (
        "  reads the future: 'reverse' through selector 'reverse_of/mirror' at "
        "reverse.rasp:11:14 (and 1 more named s-op)")
    out = io.StringIO()
    assert main(["analyze", "cumulative", "cumulative_sum(tokens_int)", "--json"],
                stdout=out, stderr=io.StringIO()) == 0
    assert '"reads_future": []' in out.getvalue()


# ---------------------------------------------------------------- compiling

@pytest.mark.parametrize("name, vocab, max_len", [
    ("frac_prevs", "ab", 5), ("causal_histogram", "abc", 4), ("previous", "ab", 5),
    ("first", "abc", 4), ("count_next", [0, 1, 2, 3], 4), ("copy_next", "ab:", 5),
])
def test_causal_compiling_is_exact_on_every_input(name, vocab, max_len):
    it = session(True, "decoding")
    compiled = it.compile(name, list(vocab), max_len)
    assert compiled.model.config["causal"] is True
    result = verify(compiled.model, compiled.target, exhaustive=10_000)
    assert result.checked == sum(len(vocab) ** n for n in range(1, max_len + 1)) - result.raised
    assert result.ok and result.prefixes is not None and result.prefixes_ok
    reference = verify(compiled.model, compiled.target, exhaustive=10_000, compact=False)
    assert reference.ok  # the mask is in both forward passes


def test_a_default_model_is_unmasked_and_fails_the_prefix_check():
    it = session(False)
    model = it.compile("frac_prevs", ["a", "b"], 4, causal=False).model
    assert "causal" not in model.config and not model.causal
    it.run('share = aggregate(full_s, indicator(tokens == "a"));')
    whole = it.compile("share", ["a", "b"], 4).model
    assert prefix_check(whole, [["a", "b", "b", "a"]]) == [1, 0]


@pytest.mark.parametrize("how", ["api", "statement", "command"])
def test_a_program_that_reads_the_future_is_refused(how):
    if how == "command":
        err = io.StringIO()
        assert main(["compile", "reverse", "reverse", "--vocab", "abc", "--max-len", "4",
                     "--causal"], stdout=io.StringIO(), stderr=err) == 70
        message = err.getvalue()
        assert "reverse.rasp:11:14: error: a causal compile needs a program whose " \
               "positions never read later ones, but 'reverse' does, through selector " \
               "'reverse_of/mirror'" in message
        return
    it = session(True, "histogram")
    with pytest.raises(RaspError) as e:
        if how == "api":
            it.compile("histogram", list("ab"), 4)
        else:
            it.run('compile(histogram, "ab", 4);')
    assert "but 'histogram' does, through selector '_same_token'" in e.value.message
    assert (e.value.span.source.name.endswith("histogram.rasp"), e.value.span.line) == (
        True, 23)


# ---------------------------------------------------------------- generation

def test_generation_appends_the_value_at_the_last_position():
    it = session(True, "decoding")
    assert it.generate("count_next", [3], 5) == [3, 1, 2, 3, 0, 1]
    assert it.generate("count_next", [3], 9, until=0) == [3, 1, 2, 3, 0]
    assert it.generate("copy_next", "ab:", 9, until=":") == list("ab:ab:")
    assert it.generate("sort_next", "dbe:", 9, until=":") == list("dbe:bde:")
    assert it.generate("add_next", "99+99=", 3) == list("99+99=891")
    assert it.generate("count_next", [3], 0) == [3]


@pytest.mark.parametrize("name, vocab, max_len, prompt", [
    ("count_next", [0, 1, 2, 3], 5, [3]), ("copy_next", "ab:", 6, "ab:"),
])
def test_generation_on_the_compiled_model_equals_the_interpreter(name, vocab, max_len,
                                                                prompt):
    it = session(True, "decoding")
    model = it.compile(name, list(vocab), max_len).model
    for start in itertools.chain([prompt], ([t] for t in vocab)):
        steps = max_len + 1 - len(start)
        assert model.generate(start, steps) == it.generate(name, start, steps, vocab=vocab)


def test_the_generate_statement_and_command():
    printed: list[str] = []
    it = Interpreter(out=printed.append, causal=True)
    it.run('load "decoding"; generate(copy_next, "ab:", 3); generate(count_next, [2], 3, 0);')
    assert printed == ['\t generated: "ab:" + "ab:"', "\t generated: [2] + [1, 2, 0]"]
    out = io.StringIO()
    assert main(["generate", "decoding", "add_next", "--prompt", "12+34=", "--steps", "3",
                 "--causal"], stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue() == "1 2 + 3 4 = | 4 6 0\n"
    out = io.StringIO()
    assert main(["generate", "decoding", "count_next", "--prompt", "[2]", "--until", "0",
                 "--json"], stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue() == '{"prompt": [2], "generated": [1, 2, 0]}\n'


def test_an_output_that_is_not_a_token_is_refused_at_the_generation():
    it = Interpreter(warn=lambda text: None, causal=True)
    with pytest.raises(RaspError) as e:
        it.run('half = aggregate(full_s, indicator(tokens == "a"));\ngenerate(half, "ab", 2);')
    assert e.value.message.startswith("step 1: the value at the last position of ['a', 'b']")
    assert (e.value.span.line, e.value.span.column) == (2, 10)
    it.run("n = indices + 5;")
    with pytest.raises(RaspError, match="is 7, which is not in the vocabulary"):
        it.generate("n", [1, 2, 3], 2, vocab=[1, 2, 3, 4, 5, 6])
    model = it.compile("indices + 1", [0, 1, 2], 3).model
    assert model.generate([0], 2) == [0, 1, 2]
    with pytest.raises(RaspError, match="is 3, which is not in the vocabulary"):
        model.generate([0, 1], 2)


def test_a_prompt_longer_than_max_len_and_negative_steps_are_refused():
    it = session(True, "decoding")
    model = it.compile("count_next", [0, 1, 2, 3], 4).model
    with pytest.raises(RaspError, match="the prompt has 5 tokens, more than max_len 4$"):
        model.generate([3, 1, 2, 3, 0], 1)
    with pytest.raises(RaspError, match="reads inputs of up to 5 tokens, more than max_len 4"):
        model.generate([3], 5)
    for run in (lambda: model.generate([3], -1), lambda: it.generate("count_next", [3], -1)):
        with pytest.raises(RaspError) as e:
            run()
        assert e.value.message == "generate's steps must be at least 0, got -1"
    with pytest.raises(RaspError) as e:
        it.run("generate(count_next, [3], -2);")
    assert e.value.span.column == 27
    err = io.StringIO()
    assert main(["generate", "decoding", "count_next", "--prompt", "[3]", "--steps", "-1"],
                stdout=io.StringIO(), stderr=err) == 64
    assert "--steps: must be at least 0" in err.getvalue()


@settings(max_examples=20, deadline=None)
@given(cases())
def test_generation_is_evaluation_at_the_last_position(case: Case):
    it = Interpreter(warn=lambda text: None, causal=True)
    try:
        it.run(case.source, "<generated>")
    except RaspError:
        return
    for name in case.names:
        example = case.inputs[0]
        if not isinstance(it.value(name), SOp) or not example:
            continue
        try:
            out = it.generate(name, example, 1)
        except RaspError:
            continue
        assert same(out[-1], it.evaluate(name, example)[-1])
