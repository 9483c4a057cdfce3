"""The example library (examples/*.rasp) against the analyzer and against Python.

* Every example starts with a comment whose figure lines, `#   EXPR: L layers, heads H`
  (optionally followed by `(original's EXPR: L layers, heads H)`), state what the analyzer
  reports for EXPR once the file is loaded: these tests keep them true.
* Every task is run on random inputs (hypothesis) and compared with a plain Python
  reference of the task, written here.
* docs/examples.md indexes the examples: its tables of expressions, inputs, outputs and
  figures, and its comparison with the original's programs, are checked too.

The fixed inputs of each example are in examples/NAME.out (tests/test_golden.py).
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rasp import Interpreter
from rasp.display import format_sequence

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.rasp"))
NO_FIGURES = {"tour"}  # a guided script, not a task
ORIGINAL_FILES = ("paper_examples", "long_addition")  # what "original's" names refer to
BOS = "§"

FIGURES = re.compile(
    r"#\s+(?P<expr>.+?): (?P<layers>\d+) layers?, (?:heads (?P<heads>\d+(?:/\d+)*)|no heads)"
    r"(?:\s+\(original's (?P<oexpr>.+?): (?P<olayers>\d+) layers?, "
    r"(?:heads (?P<oheads>\d+(?:/\d+)*)|no heads)\))?")

# A hundred random inputs per task keep this file to seconds; set RASP_HYPOTHESIS_EXAMPLES
# to try more.
CHECK = settings(max_examples=int(os.environ.get("RASP_HYPOTHESIS_EXAMPLES", "100")),
                 deadline=None)


# ----------------------------------------------------------------- interpreters

@functools.cache
def loaded(*names: str) -> Interpreter:
    """A quiet interpreter that has loaded the named example files."""
    it = Interpreter(warn=lambda text: None)
    it.run("".join(f'load "{name}";' for name in names))
    return it


@functools.cache
def _node(names: tuple[str, ...], expression: str):
    return loaded(*names).value(expression)


def run(name: str | tuple[str, ...], expression: str, example) -> list:
    """The value of `expression` on `example`, after loading the example file(s)."""
    names = (name,) if isinstance(name, str) else name
    return loaded(*names).apply(_node(names, expression), example).tolist()


# ----------------------------------------------------------------- header figures

def header(path: Path) -> list[str]:
    """The comment lines at the top of a file."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def figure_lines(path: Path) -> list[tuple[str, int, list[int], re.Match]]:
    out = []
    for line in header(path):
        m = FIGURES.fullmatch(line.rstrip())
        if m:
            out.append((m["expr"], int(m["layers"]), _heads(m["heads"]), m))
    return out


def _heads(text: str | None) -> list[int]:
    return [int(h) for h in text.split("/")] if text else []


FIGURE_CASES = [(path.stem, expr, layers, heads, m)
                for path in EXAMPLE_FILES for expr, layers, heads, m in figure_lines(path)]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_starts_with_an_explanation_and_its_figures(path):
    lines = header(path)
    prose = [line for line in lines if not FIGURES.fullmatch(line.rstrip())]
    assert sum(len(line) > 20 for line in prose) >= 2, "no explanation at the top"
    if path.stem not in NO_FIGURES:
        assert figure_lines(path), "no `#   EXPR: L layers, heads H` lines in the header"
        marker = [i for i, line in enumerate(lines) if "Layers and heads" in line]
        assert marker, "no 'Layers and heads' line in the header"
        # every indented line after it is a figure line, so that none escapes the checks
        for line in lines[marker[0] + 1:]:
            if line.startswith("#   "):
                assert FIGURES.fullmatch(line.rstrip()), f"not a figure line: {line!r}"


@pytest.mark.parametrize("name, expr, layers, heads, match", FIGURE_CASES,
                         ids=[f"{c[0]}: {c[1]}" for c in FIGURE_CASES])
def test_header_figures_are_the_analyzers(name, expr, layers, heads, match):
    report = loaded(name).analyze(expr)
    assert (report.depth, report.heads_per_layer) == (layers, heads)
    if match["oexpr"]:
        original = loaded(*ORIGINAL_FILES).analyze(match["oexpr"])
        stated = (int(match["olayers"]), _heads(match["oheads"]))
        assert (original.depth, original.heads_per_layer) == stated


def test_figure_lines_are_recognised():
    m = FIGURES.fullmatch('#   f(tokens, "a"): 1 layer, heads 2  '
                          "(original's g: 10 layers, heads 1/2/3)")
    assert (m["expr"], m["layers"], m["heads"], m["oexpr"], m["oheads"]) == (
        'f(tokens, "a")', "1", "2", "g", "1/2/3")
    m = FIGURES.fullmatch("#   x: 0 layers, no heads")
    assert (m["expr"], m["layers"], m["heads"]) == ("x", "0", None)
    assert FIGURES.fullmatch("#   x: two layers, heads 1/1") is None


def test_example_files_load_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    it = Interpreter()
    it.run('load "sort";')
    assert it.evaluate("sorted_tokens", "banana") == list("aaabnn")


def test_example_files_export_distinct_names():
    """Loading every family file into one session loses nothing."""
    seen: dict[str, str] = {}
    for path in EXAMPLE_FILES:
        if path.stem in NO_FIGURES or path.stem in ORIGINAL_FILES:
            continue
        it = Interpreter(warn=lambda text: None)
        before = it.names()
        it.run(f'load "{path.stem}";')
        for name in it.names() - before:
            assert name not in seen, f"{name} is exported by {seen.get(name)} and {path.name}"
            seen[name] = path.name


# ----------------------------------------------------------------- Python references

def histogram(s):
    counts = Counter(s)
    return [counts[c] for c in s]


def double_histogram(s):
    counts = Counter(s)
    tokens_per_count = Counter(counts.values())
    return [tokens_per_count[counts[c]] for c in s]


def by_frequency(s, filler):
    counts = Counter(s)
    distinct = sorted(dict.fromkeys(s), key=lambda c: -counts[c])  # stable: first seen first
    return distinct + [filler] * (len(s) - len(distinct))


def dyck(s, pairs):
    """T/P/F per prefix: balanced, could still balance, cannot balance."""
    closer_of = {p[0]: p[1] for p in pairs}
    closers = {p[1] for p in pairs}
    stack, failed, out = [], False, []
    for c in s:
        if not failed and c in closer_of:
            stack.append(closer_of[c])
        elif not failed and c in closers:
            if stack and stack[-1] == c:
                stack.pop()
            else:
                failed = True
        out.append("F" if failed else "T" if not stack else "P")
    return out


def shuffle_dyck(s, pairs):
    """T/P/F per prefix, each kind of bracket balanced on its own."""
    depth = dict.fromkeys(pairs, 0)
    failed, out = False, []
    for c in s:
        for p in pairs:
            depth[p] += (c == p[0]) - (c == p[1])
            failed = failed or depth[p] < 0
        out.append("F" if failed else "T" if not any(depth.values()) else "P")
    return out


def prefix_means(xs):
    return [sum(xs[:i + 1]) / (i + 1) for i in range(len(xs))]


def addition(a, b):
    n = len(a) + 1 + len(b)
    return [int(d) for d in str(int(a) + int(b)).rjust(n, "0")]


def first_best(xs, better):
    best = 0
    for i, x in enumerate(xs):
        if better(x, xs[best]):
            best = i
    return best


# ----------------------------------------------------------------- strategies

def text(alphabet="abcde", min_size=1, max_size=12):
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size)


def ints(min_value=-20, max_value=20, min_size=1, max_size=12, unique=False):
    return st.lists(st.integers(min_value, max_value), min_size=min_size,
                    max_size=max_size, unique=unique)


brackets = text("(){}[]", max_size=14)
# mostly well-nested inputs, so that T and P are as common as F
nested = st.recursive(st.just(""), lambda inner: st.builds(
    lambda pair, a, b: pair[0] + a + pair[1] + b, st.sampled_from(["()", "{}", "[]"]),
    inner, inner), max_leaves=6)
dyck_inputs = st.one_of(
    brackets,
    st.builds(lambda s, cut: s[:max(1, len(s) - cut)] or "(", nested, st.integers(0, 3)),
    st.builds(lambda s, i, c: (s[:i] + c + s[i + 1:]) or c, nested, st.integers(0, 12),
              st.sampled_from(list("(){}[]"))))
digits = st.text(alphabet="0123456789", min_size=1, max_size=6)


def close(got, expected):
    return got == pytest.approx(expected, abs=1e-9)


# ----------------------------------------------------------------- the tasks

@CHECK
@given(text())
def test_reverse(s):
    assert run("reverse", "reverse", s) == list(s[::-1])
    assert run("paper_examples", "reverse", s) == list(s[::-1])


@CHECK
@given(ints())
def test_reverse_of_numbers(xs):
    assert run("reverse", "reverse_of(tokens_int)", xs) == xs[::-1]


@CHECK
@given(text())
def test_histograms(s):
    assert run("histogram", "histogram", s) == histogram(s)
    assert run("histogram", "histogram_bos", BOS + s) == [0] + histogram(s)
    assert run("paper_examples", "hist_nobos", s) == histogram(s)
    assert run("paper_examples", "hist_bos", BOS + s) == [0] + histogram(s)


@CHECK
@given(text("abcdef", max_size=14))
def test_double_histograms(s):
    assert run("histogram", "double_histogram", s) == double_histogram(s)
    assert run("histogram", "double_histogram_bos", BOS + s) == [0] + double_histogram(s)
    assert run("paper_examples", "hist2_bos", BOS + s) == [0] + double_histogram(s)


@CHECK
@given(st.lists(st.sampled_from("abcdefghijklmnop"), min_size=1, max_size=12, unique=True))
def test_sort_unique(chars):
    s = "".join(chars)
    assert run("sort", "sort_unique(tokens, tokens)", s) == sorted(s)


@CHECK
@given(ints(unique=True))
def test_sort_unique_numbers(xs):
    assert run("sort", "sort_unique(tokens_int, tokens_int)", xs) == sorted(xs)
    # the indices in the order of their keys: an argsort
    assert run("sort", "sort_unique(indices, tokens_int)", xs) == sorted(
        range(len(xs)), key=xs.__getitem__)


@CHECK
@given(text("abcd"))
def test_sort_stable(s):
    assert run("sort", "sorted_tokens", s) == sorted(s)
    assert run("sort", "sort_stable_bos(tokens, tokens)", BOS + s) == [BOS] + sorted(s)
    assert run("paper_examples", "sort_bos", BOS + s) == [BOS] + sorted(s)


@CHECK
@given(ints(-3, 3))
def test_sort_stable_keeps_the_order_of_equal_keys(xs):
    argsort = sorted(range(len(xs)), key=xs.__getitem__)  # Python's sort is stable
    assert run("sort", "sort_stable(indices, tokens_int)", xs) == argsort
    assert run("sort", "sort_stable_bos(indices, tokens_int)", [0] + xs) == [0] + [
        i + 1 for i in argsort]


@CHECK
@given(text("abcde", max_size=14))
def test_most_frequent(s):
    assert run("most_frequent", "most_frequent", s) == by_frequency(s, "-")
    assert run("most_frequent", "most_frequent_bos", BOS + s) == [BOS] + by_frequency(s, BOS)
    assert run("paper_examples", "sort_by_most_freq", BOS + s) == [BOS] + by_frequency(s, BOS)


@CHECK
@given(dyck_inputs)
def test_dyck(s):
    one = "".join(c for c in s if c in "()") or "("
    assert run("dyck", "dyck1", one) == dyck(one, ["()"])
    assert run("paper_examples", "dyck1_ptf", one) == dyck(one, ["()"])
    two = "".join(c for c in s if c in "(){}") or "{"
    assert run("dyck", "dyck2", two) == dyck(two, ["()", "{}"])
    assert run("paper_examples", "dyck2_ptf", two) == dyck(two, ["()", "{}"])
    assert run("dyck", "dyck3", s) == dyck(s, ["()", "{}", "[]"])
    assert run("paper_examples", "dyck3_ptf", s) == dyck(s, ["()", "{}", "[]"])


@CHECK
@given(text("<>ab(x", max_size=14))
def test_dyck_k_of_any_pairs_ignores_other_characters(s):
    pairs = ["<>", "ab"]
    assert run("dyck", 'dyck_k(["<>", "ab"])', s) == dyck(s, pairs)


def test_dyck_on_every_short_input():
    """Exhaustive over the inputs of up to 6 brackets of two kinds."""
    for n in range(1, 7):
        for chars in itertools.product("(){}", repeat=n):
            s = "".join(chars)
            assert run("dyck", "dyck2", s) == dyck(s, ["()", "{}"]), s


@CHECK
@given(text("ab"))
def test_counting(s):
    n, count_a = len(s), s.count("a")
    assert run("counting", "length", s) == [n] * n
    assert run("counting", "length_by_width", s) == [n] * n
    assert run("counting", 'count(tokens, "a")', s) == [count_a] * n
    assert run("counting", 'count_by_width(tokens, "a")', s) == [count_a] * n
    so_far = [s[:i + 1].count("a") for i in range(n)]
    assert run("counting", 'count_so_far(tokens, "a")', s) == so_far
    assert close(run("counting", 'fraction_so_far(tokens == "a")', s),
                 [c / (i + 1) for i, c in enumerate(so_far)])


@CHECK
@given(text(), st.integers(0, 14))
def test_shift_and_rotate(s, k):
    n = len(s)
    for expression, expected in [
            (f'shift(tokens, {k}, "_")', ["_"] * min(k, n) + list(s[:max(0, n - k)])),
            (f'shift_left(tokens, {k}, "_")', list(s[k:]) + ["_"] * min(k, n)),
            (f"rotate(tokens, {k})", [s[(i - k) % n] for i in range(n)])]:
        assert run("shift", expression, s) == expected, expression


@CHECK
@given(text("(){}x", max_size=14))
def test_balance(s):
    assert close(run("balance", 'pair_balance(tokens, "(", ")")', s),
                 prefix_means([(c == "(") - (c == ")") for c in s]))
    expected = shuffle_dyck(s, ["()", "{}"])
    assert run("balance", 'shuffle_dyck_ptf(["()", "{}"])', s) == expected
    assert run("balance", "shuffle_dyck2", s) == [expected[-1] == "T"] * len(s)


@CHECK
@given(text("(){}x", max_size=14))
def test_balance_as_tracr_writes_it(s):
    assert close(run("affine", 'share_so_far(tokens, "(")', s),
                 prefix_means([c == "(" for c in s]))
    assert close(run("affine", 'pair_balance_tracr(tokens, "(", ")")', s),
                 prefix_means([(c == "(") - (c == ")") for c in s]))
    balanced = shuffle_dyck(s, ["()", "{}"])[-1] == "T"
    assert run("affine", 'shuffle_dyck_tracr(["()", "{}"])', s) == [balanced] * len(s)


@CHECK
@given(ints(), st.integers(1, 5))
def test_sum_before(xs, k):
    assert run("affine", f"sum_before(tokens_int, {k})", xs) == \
        [sum(xs[max(0, i - k):i]) for i in range(len(xs))]


@CHECK
@given(text("abc", max_size=14), st.lists(st.sampled_from("abc"), min_size=1, max_size=4))
def test_detect_pattern(s, pattern):
    m = len(pattern)
    expected = [i >= m - 1 and list(s[i - m + 1:i + 1]) == pattern for i in range(len(s))]
    got = run("pattern", f"detect_pattern(tokens, {pattern!r})".replace("'", '"'), s)
    assert got == expected


@CHECK
@given(ints(-50, 50))
def test_cumulative(xs):
    assert run("cumulative", "cumulative_sum(tokens_int)", xs) == list(itertools.accumulate(xs))
    assert close(run("cumulative", "running_mean(tokens_int)", xs), prefix_means(xs))


@CHECK
@given(st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=12))
def test_cumulative_floats(xs):
    expected = list(itertools.accumulate(xs))
    got = run("cumulative", "cumulative_sum_float(tokens_float)", xs)
    assert got == pytest.approx(expected, abs=1e-6)


@CHECK
@given(ints(-5, 5))
def test_extremes_of_numbers(xs):
    n = len(xs)
    assert run("extremes", "maximum(tokens_int)", xs) == [max(xs)] * n
    assert run("extremes", "minimum(tokens_int)", xs) == [min(xs)] * n
    assert run("extremes", "argmax(tokens_int)", xs) == [xs.index(max(xs))] * n
    assert run("extremes", "argmin(tokens_int)", xs) == [xs.index(min(xs))] * n


@CHECK
@given(text("abcz"))
def test_extremes_of_strings(s):
    n = len(s)
    assert run("extremes", "maximum(tokens)", s) == [max(s)] * n
    assert run("extremes", "argmin(tokens)", s) == [first_best(s, lambda a, b: a < b)] * n


@CHECK
@given(st.integers(1, 6), text(min_size=0, max_size=5), st.sets(st.sampled_from("abcde")),
       st.integers(1, 4), st.data())
def test_decoding_rules_generate_counts_copies_sorts_and_sums(n, s, letters, width, data):
    it = loaded("decoding")
    assert it.generate("count_next", [n], 9, until=0) == [n, *range(1, n + 1), 0]
    assert "".join(it.generate("copy_next", s + ":", 9, until=":")) == f"{s}:{s}:"
    prompt = "".join(data.draw(st.permutations(sorted(letters)))) + ":"
    assert "".join(it.generate("sort_next", prompt, 9, until=":")) == \
        prompt + "".join(sorted(letters)) + ":"
    a, b = (data.draw(st.integers(0, 10 ** width - 1)) for _ in range(2))
    digits_of = lambda x, k: str(x).zfill(k)[::-1]  # noqa: E731 (least significant first)
    prompt = f"{digits_of(a, width)}+{digits_of(b, width)}="
    assert "".join(it.generate("add_next", prompt, width + 1)) == \
        prompt + digits_of(a + b, width + 1)


@CHECK
@given(digits, digits)
def test_addition(a, b):
    expected = addition(a, b)
    assert run("addition", "addition", f"{a}+{b}") == expected
    assert run("long_addition", "longsum", f"{a}+{b}") == expected


@CHECK
@given(st.integers(1, 5), st.integers(1, 5))
def test_addition_with_long_carries(len_a, len_b):
    """All nines plus one: a carry through every column."""
    a, b = "9" * len_a, "0" * (len_b - 1) + "1"
    assert run("addition", "addition", f"{a}+{b}") == addition(a, b)
    assert run("long_addition", "longsum", f"{a}+{b}") == addition(a, b)


# ----------------------------------------------------------------- docs/examples.md

INDEX = ROOT / "docs" / "examples.md"
ROW_HEAD = "| expression | input | output | layers | heads |"
COMPARISON_HEAD = "| file | ours | layers | heads | original's | layers | heads |"


def _tables(head: str) -> list[tuple[str | None, list[str]]]:
    """The rows (as lists of cells, backticks removed) of every table of docs/examples.md
    with this header line, each with the `NAME.rasp` of the section it is in."""
    rows, section, inside = [], None, False
    for line in INDEX.read_text(encoding="utf-8").splitlines():
        heading = re.fullmatch(r"## (\w+)\.rasp", line)
        if heading:
            section = heading[1]
        if line.strip() == head:
            inside = True
        elif inside and line.startswith("|"):
            cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("- :"):
                rows.append((section, cells))
        else:
            inside = False
    return rows


def _figures(layers: str, heads: str) -> tuple[int, list[int]]:
    return int(layers), [] if heads == "-" else _heads(heads)


INDEX_ROWS = [(name, *cells) for name, cells in _tables(ROW_HEAD)]
COMPARISON_ROWS = [tuple(cells) for _, cells in _tables(COMPARISON_HEAD)]


def test_the_index_has_a_table_for_every_example():
    assert {row[0] for row in INDEX_ROWS} == {p.stem for p in EXAMPLE_FILES} - NO_FIGURES
    assert len(COMPARISON_ROWS) >= 10


@pytest.mark.parametrize("name, expr, example, output, layers, heads", INDEX_ROWS,
                         ids=[f"{r[0]}: {r[1]} {r[2]}" for r in INDEX_ROWS])
def test_index_row(name, expr, example, output, layers, heads):
    it = loaded(name)
    assert format_sequence(it.apply(_node((name,), expr), it.value(example))) == output
    report = it.analyze(expr)
    assert (report.depth, report.heads_per_layer) == _figures(layers, heads)


@pytest.mark.parametrize("file, ours, layers, heads, original, olayers, oheads",
                         COMPARISON_ROWS, ids=[r[1] for r in COMPARISON_ROWS])
def test_comparison_with_the_original(file, ours, layers, heads, original, olayers, oheads):
    report = loaded(file.removesuffix(".rasp")).analyze(ours)
    assert (report.depth, report.heads_per_layer) == _figures(layers, heads)
    report = loaded(*ORIGINAL_FILES).analyze(original)
    assert (report.depth, report.heads_per_layer) == _figures(olayers, oheads)


def test_the_index_states_every_header_figure():
    stated = {(r[0], r[1]): _figures(r[4], r[5]) for r in INDEX_ROWS}
    for name, expr, layers, heads, _ in FIGURE_CASES:
        assert stated.get((name, expr)) == (layers, heads), f"{name}.rasp: {expr}"


def test_the_index_sample_file_states_its_figures():
    """The file shown under "Writing your own" follows the rules it describes."""
    text = INDEX.read_text(encoding="utf-8")
    sample = text.split("```rasp\n", 1)[1].split("```", 1)[0]
    it = Interpreter(warn=lambda text: None)
    it.run(sample)
    lines = [FIGURES.fullmatch(line) for line in sample.splitlines()]
    figures = [m for m in lines if m]
    assert figures
    for m in figures:
        report = it.analyze(m["expr"])
        assert (report.depth, report.heads_per_layer) == (int(m["layers"]), _heads(m["heads"]))
