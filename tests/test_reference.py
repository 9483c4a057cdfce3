"""Programs run on the original interpreter, with the values and analyses it printed.

`../shared/spec/conformance.json` is the project's public conformance sample;
`reference/original_cases.json` holds 479 more cases measured on the original (see its
README). Every case must match, except the few where the original has a defect that the
spec tells us not to reproduce: those are listed in DEVIATIONS with what we do instead, and
checked to do exactly that.
"""

from __future__ import annotations

import re

import pytest

from rasp import Interpreter

from reference_cases import HERE, load, run_case

CONFORMANCE = HERE.parent.parent / "shared" / "spec" / "conformance.json"
ORIGINAL = HERE / "reference" / "original_cases.json"

# name -> (why we differ, what we print instead)
DEVIATIONS = {
    "agg_select_space_err#0": ("whitespace before '(' in select ( is allowed",
                               "\t =  [0, 1, 2] (ints)"),
    "sel_err_space#0": ("whitespace before '(' in select ( is allowed", None),
    "agg_space_is_var_err#0": ("aggregate (...) is aggregate, not a call of a variable",
                               "\t =  [1.0]*3 (floats)"),
    "range_space_is_var_err#0": ("range (...) is range, not a call of a variable",
                                 "\t =  [0, 1] (ints)"),
    "err_neq_operator#0": ("'!=' is accepted in expressions", "\t =  [F, T] (bools)"),
    "idx_expr#0": ("the original crashes indexing a bracketed expression", "\t =  [3]*3 (ints)"),
    "idx_paren_list_err#0": ("the original crashes indexing a bracketed expression",
                             "\t =  [1, 2] (ints)"),
    "list_concat_index#0": ("the original crashes indexing a bracketed expression",
                            "\t =  [1, 2, 3] (ints)"),
    "list_repeat_index#0": ("the original crashes indexing a bracketed expression",
                            "\t =  [7]*3 (ints)"),
    "str_atom_ops_index#0": ("the original crashes indexing a bracketed expression",
                             "\t =  [a, b, a, b] (strings)"),
    "lib_sort_floats#0": ("the original tests values built inside functions on the running "
                          "example instead of the input", "\t =  [0.5, 1.0, 2.5] (floats)"),
    "fnbody_test_eval_err#0": ("the original tests values built inside functions on the "
                               "running example instead of the input", "\t =  [2]*3 (ints)"),
    "quirk_out_var#0": ("'out' is not overwritten by the input of an application",
                        "\t =  [1, 3, 5] (ints)"),
    "quirk_out_after_assign#0": ("'out' holds the right side of the last assignment",
                                 "\t =  [a?, b?] (strings)"),
    "pr_lib_function": ("library functions print as 'library function'",
                        "     library function: shift(seq, n, filler)"),
    "pr_nested_def_fn": ("a nested function prints the function that defined it",
                         "     outer function: inner(b)"),
    "pr_dict_with_sop": ("unnamed s-ops are labelled with their source text", None),
}


def _ids(cases):
    return [c["name"] for c in cases]


CONFORMANCE_CASES = load(CONFORMANCE) if CONFORMANCE.exists() else []
ORIGINAL_CASES = load(ORIGINAL)


@pytest.mark.skipif(not CONFORMANCE_CASES, reason="shared/spec not beside the repository")
@pytest.mark.parametrize("case", CONFORMANCE_CASES, ids=_ids(CONFORMANCE_CASES))
def test_conformance_value(case):
    ok, got = run_case(case)
    assert ok, f"expected {case['expected']!r}, got {got!r}"


@pytest.mark.parametrize("case", ORIGINAL_CASES, ids=_ids(ORIGINAL_CASES))
def test_original_value(case):
    ok, got = run_case(case)
    if case["name"] in DEVIATIONS:
        _, ours = DEVIATIONS[case["name"]]
        assert not ok, "a listed deviation now matches the original: remove it from the list"
        if ours is not None:
            assert got.rstrip("\n") == ours
        return
    assert ok, f"expected {case['expected']!r}, got {got!r}"


def _analysed(cases):
    return [c for c in cases if "layers" in c]


@pytest.mark.parametrize("case", _analysed(CONFORMANCE_CASES + ORIGINAL_CASES),
                         ids=_ids(_analysed(CONFORMANCE_CASES + ORIGINAL_CASES)))
def test_layers_and_heads(case):
    *setup, last = case["program"].strip("\n").split("\n")
    it = Interpreter(warn=lambda text: None)
    it.run("\n".join(setup) + "\n")
    for end in (m.start() for m in re.finditer(r"\)\(", last)):  # where `(EXPR)(` ends
        try:
            report = it.analyze(last[1:end])
            break
        except Exception:
            continue
    else:
        pytest.fail(f"no analysable expression in {last!r}")
    assert (report.depth, report.heads_per_layer) == (case["layers"], case["heads_per_layer"])


def test_deviations_are_real_cases():
    names = {c["name"] for c in ORIGINAL_CASES}
    assert set(DEVIATIONS) <= names
