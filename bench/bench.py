"""Speed of rasp against hand-written numpy (our floor) and tracr's RASP evaluator.

    python bench/bench.py            # the full table (a few minutes)
    python bench/bench.py --quick    # smaller sizes, fewer repeats
    python bench/bench.py --long     # 10^4 to 10^6 tokens, against numpy solutions
    python bench/bench.py --fixed    # the fixed cost of one evaluation at n = 8

Everything is timed in this one run, in CPU time of this process (start-up excepted), and the
ratios compare times from the same run (these machines are shared and noisy). tracr is
optional: `bench/run.sh` installs it into a separate environment (bench/.venv), and tracr's
columns are blank where it is missing. The original interpreter (tech-srl/RASP) is not run.

The numpy floor computes each task with the same selection matrices as the RASP program,
but written directly: the comparison broadcasts, a count or a product, and the gather.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rasp import Interpreter  # noqa: E402
from rasp.commands import prepare_process  # noqa: E402
from rasp.engine import evaluate, input_array  # noqa: E402
from rasp.values import prepare_input  # noqa: E402

PROGRAMS = {
    "sort": ("set example [1]\ntokens = tokens_int; x = sort(tokens, tokens);", "ints"),
    "histogram": ("x = selector_width(select(tokens, tokens, ==));", "letters"),
    "reverse": ('load "paper_examples"; x = reverse;', "letters"),
    "dyck1": ('load "paper_examples"; x = dyck1_ptf;', "parens1"),
    "dyck2": ('load "paper_examples"; x = dyck2_ptf;', "parens2"),
}


def make_input(kind: str, n: int, rng: random.Random):
    if kind == "ints":
        return [rng.randrange(10 * n) for _ in range(n)]
    if kind == "letters":
        return "".join(rng.choice("abcdefghij") for _ in range(n))
    return "".join(rng.choice("()" if kind == "parens1" else "(){}") for _ in range(n))


# ---------------------------------------------------------------- the numpy floor
# Each task as the RASP program computes it (the same selectors, the same aggregates, the
# library's selector_width with position 0 standing in for a BOS token), written directly.

def np_selector_width(sel):
    n = sel.shape[-1]
    first = np.zeros(n, dtype=bool)
    first[0] = True
    with_first, and_first = sel | first, sel & first
    share = np.count_nonzero(with_first & first, axis=1) / np.count_nonzero(with_first, axis=1)
    return np.rint(1 / share - 1 + and_first.any(axis=1)).astype(np.int64)


def np_sort(xs):
    keys = np.asarray(xs)
    idx = np.arange(len(keys))
    before = (keys[None, :] < keys[:, None]) | ((keys[None, :] == keys[:, None])
                                               & (idx[None, :] < idx[:, None]))
    target = np_selector_width(before)
    take = target[None, :] == idx[:, None]
    return keys[np.argmax(take, axis=1)]


def np_histogram(text):
    codes = np.frombuffer(text.encode(), dtype=np.uint8)
    return np_selector_width(codes[None, :] == codes[:, None])


def np_reverse(text):
    tokens = np.array(list(text), dtype=object)
    idx = np.arange(len(tokens))
    length = round(1 / np.mean(idx == 0))
    take = idx[None, :] == (length - 1 - idx)[:, None]
    return tokens[np.argmax(take, axis=1)]


def _prefix_counts(prefix, flags):
    return np.rint((np.arange(len(flags)) + 1) * (prefix @ flags) / prefix.sum(1)).astype(int)


def np_dyck1(text):
    codes = np.frombuffer(text.encode(), dtype=np.uint8)
    idx = np.arange(len(codes))
    prefix = (idx[None, :] <= idx[:, None]).astype(np.float64)
    opened = _prefix_counts(prefix, (codes == 40) * 1.0)
    depth = opened - _prefix_counts(prefix, (codes == 41) * 1.0)
    failed = prefix @ (depth < 0) > 0
    return np.where(failed, "F", np.where(depth == 0, "T", "P"))


def np_dyck2(text):
    codes = np.frombuffer(text.encode(), dtype=np.uint8)
    idx = np.arange(len(codes))
    opening, closing = np.isin(codes, (40, 123)), np.isin(codes, (41, 125))
    prefix = idx[None, :] <= idx[:, None]
    prefix_f = prefix.astype(np.float64)
    depth = _prefix_counts(prefix_f, opening * 1.0) - _prefix_counts(prefix_f, closing * 1.0)
    level = depth + closing
    same_level = level[None, :] == level[:, None]
    nth = np_selector_width(same_level & prefix)
    partner = opening[None, :] & same_level & (nth[None, :] == (nth - 1)[:, None])
    has = partner.any(axis=1)
    partner_code = np.where(has, codes[np.argmax(partner, axis=1)], 0)
    pairs = {(40, 41), (123, 125)}
    matched = np.array([(int(a), int(b)) in pairs for a, b in zip(partner_code, codes)])
    bad = (closing & ~matched) | (depth < 0)
    failed = prefix_f @ bad > 0
    return np.where(failed, "F", np.where(depth == 0, "T", "P"))


FLOORS = {"sort": np_sort, "histogram": np_histogram, "reverse": np_reverse,
          "dyck1": np_dyck1, "dyck2": np_dyck2}


# ---------------------------------------------------------------- numpy solutions
# Each task solved directly in numpy, as one would without RASP (O(n log n) at most), from the
# Python input to the output array: what the long-sequence table compares rasp with.

def _codes(text):
    return np.frombuffer(text.encode(), dtype=np.uint8)


def fast_sort(xs):
    return np.sort(np.array(xs, dtype=np.int64), kind="stable")


def fast_histogram(text):
    codes = _codes(text)
    return np.bincount(codes, minlength=256)[codes]


def fast_reverse(text):
    return _codes(text)[::-1].copy()


def _depth(codes, opening, closing):
    return np.cumsum(opening.astype(np.int64) - closing)


def _ptf(failed, depth):
    return np.where(failed, "F", np.where(depth == 0, "T", "P"))


def fast_dyck1(text):
    codes = _codes(text)
    depth = _depth(codes, codes == 40, codes == 41)
    return _ptf(np.maximum.accumulate(depth < 0), depth)


def fast_dyck2(text):
    """A closer's partner is the position before it at the same level (depth before it
    closes), if that one opens: the previous of its level, in a stable sort by level."""
    codes = _codes(text)
    opening, closing = np.isin(codes, (40, 123)), np.isin(codes, (41, 125))
    depth = _depth(codes, opening, closing)
    level = depth + closing
    order = np.argsort(level, kind="stable")
    previous = np.full(len(codes), -1)
    same = level[order][1:] == level[order][:-1]
    previous[order[1:][same]] = order[:-1][same]
    partner = np.where(previous >= 0, codes[np.maximum(previous, 0)], 0)
    partner = np.where((previous >= 0) & opening[np.maximum(previous, 0)], partner, 0)
    matched = ((partner == 40) & (codes == 41)) | ((partner == 123) & (codes == 125))
    bad = (closing & ~matched) | (depth < 0)
    return _ptf(np.maximum.accumulate(bad), depth)


def fast_most_frequent(text):
    """After the BOS: the distinct tokens, most frequent first (ties: first seen first),
    then the BOS as filler."""
    codes = _codes(text[1:])
    values, first, counts = np.unique(codes, return_index=True, return_counts=True)
    ranked = values[np.lexsort((first, -counts))]
    out = np.full(len(text), "§", dtype="<U1")
    out[1:1 + len(ranked)] = ranked.view("S1").astype("<U1")
    return out


# The paper's sort_by_most_freq pushes repeats behind first occurrences by a penalty of 300,
# less than the counts of long inputs: here the penalty is the length.
MOST_FREQUENT = """load "paper_examples";
def bos_width(sel) {
    return round(1 / aggregate(sel or select(indices, 0, ==), indicator(indices == 0))) - 1;
}
def sort_bos(seq, key) {
    before = select(key, key, <) or (select(key, key, ==) and select(indices, indices, <));
    rank = -1 if indices == 0 else bos_width(before);
    return aggregate(select(rank, indices - 1, ==) or
                     (select(indices, 0, ==) and select(indices, indices, ==)), seq);
}
repeat = bos_width(select(tokens_str, tokens_str, ==) and select(indices, indices, <)) > 0;
x = sort_bos("§" if repeat else tokens_str, indicator(repeat) * length - hist_bos);
"""
LONG_PROGRAMS = {**PROGRAMS, "most-frequent": (MOST_FREQUENT, "bos letters")}
FAST = {"sort": fast_sort, "histogram": fast_histogram, "reverse": fast_reverse,
        "dyck1": fast_dyck1, "dyck2": fast_dyck2, "most-frequent": fast_most_frequent}


def _as_text(values) -> list[str]:
    if isinstance(values, np.ndarray) and values.dtype == np.uint8:
        return [chr(v) for v in values.tolist()]
    return [str(v) for v in values.tolist()]


def long_sequences(sizes, repeats):
    """rasp on long inputs, input conversion included, against the numpy solution."""
    rng = random.Random(3)
    print("\n| task | n | rasp | numpy solution | rasp / numpy |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for task, (setup, kind) in LONG_PROGRAMS.items():
        it = Interpreter()
        it.run(setup)
        node = it.value("x")
        for n in sizes:
            if kind == "bos letters":
                example = "§" + make_input("letters", n - 1, rng)
            else:
                example = make_input(kind, n, rng)

            def ours(example=example, node=node):
                return evaluate(node, input_array([prepare_input(example)]), {})
            assert _as_text(ours()) == _as_text(FAST[task](example)), \
                f"the numpy solution of {task} disagrees with rasp at n={n}"
            took = median_time(ours, repeats if n < 10**6 else 1, 60)
            floor = median_time(lambda: FAST[task](example), max(repeats, 5), 10)  # noqa: B023
            print(f"| {task} | {n:,} | {fmt(took)} | {fmt(floor)} | {took / floor:.0f} |",
                  flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of this process: {peak:.0f} MB")


# ---------------------------------------------------------------- tracr

def load_tracr():
    """tracr's RASP module and its library of programs, or None where it is not installed."""
    spec = importlib.util.find_spec("tracr")
    if spec is None or spec.submodule_search_locations is None:
        return None
    from tracr.rasp import rasp
    path = Path(list(spec.submodule_search_locations)[0]) / "compiler" / "lib.py"
    lib_spec = importlib.util.spec_from_file_location("tracr_lib", path)  # skips jax imports
    lib = importlib.util.module_from_spec(lib_spec)
    lib_spec.loader.exec_module(lib)
    return rasp, lib


def tracr_programs(tracr, n):
    """tracr's library programs for our tasks. make_sort makes keys unique as
    `key + min_key * i / max_seq_len`: with min_key 0 repeated keys stay equal and select
    nothing (tracr gives None there), so min_key is 1, less than the gap of distinct ints."""
    rasp, lib = tracr
    return {
        "sort": lib.make_sort(rasp.tokens, rasp.tokens, max_seq_len=n, min_key=1),
        "histogram": lib.make_hist(),
        "reverse": lib.make_reverse(rasp.tokens),
        "dyck1": lib.make_shuffle_dyck(pairs=["()"]),
        "dyck2": lib.make_shuffle_dyck(pairs=["()", "{}"]),
    }


def tracr_expected(task: str, example, ours: list) -> list:
    """What tracr's program must give: our output for the same task; for Dyck, shuffle-Dyck
    (each kind of bracket balanced on its own), computed directly, at every position."""
    if task not in ("dyck1", "dyck2"):
        return ours
    pairs = ["()"] if task == "dyck1" else ["()", "{}"]
    balanced = True
    for opener, closer in pairs:
        depth = 0
        for c in example:
            depth += (c == opener) - (c == closer)
            balanced = balanced and depth >= 0
        balanced = balanced and depth == 0
    return [balanced] * len(example)


def same_values(a: list, b: list) -> bool:
    """Equal position by position, numbers by value (tracr gives 3.0 where we give 3)."""
    def norm(v):
        return float(v) if isinstance(v, (bool, int, float)) else v
    return len(a) == len(b) and all(norm(x) == norm(y) for x, y in zip(a, b))


# ---------------------------------------------------------------- timing

def median_time(fn, repeats: int, budget: float, clock=time.process_time) -> float:
    """The median of `repeats` calls, in CPU time of this process unless `clock` says
    otherwise: on these shared cores wall time measures the queue as much as the work."""
    times = []
    start = time.perf_counter()
    for _ in range(repeats):
        t = clock()
        fn()
        times.append(clock() - t)
        if time.perf_counter() - start > budget:
            break
    return statistics.median(times)


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def single_inputs(sizes, repeats, tracr, tracr_max):
    rng = random.Random(1)
    print("| task | n | rasp | numpy floor | rasp / floor | tracr | tracr / rasp |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for task, (setup, kind) in PROGRAMS.items():
        it = Interpreter()
        it.run(setup)
        node = it.value("x")
        for n in sizes:
            example = make_input(kind, n, rng)
            inputs = input_array([prepare_input(example)])
            output = evaluate(node, inputs, {}).tolist()
            same = [str(v) for v in output] == [str(v) for v in FLOORS[task](example).tolist()]
            assert same, f"the numpy floor of {task} disagrees with rasp at n={n}"
            ours = median_time(lambda: evaluate(node, inputs, {}), repeats, 20)  # noqa: B023
            floor = median_time(lambda: FLOORS[task](example), repeats, 20)  # noqa: B023
            theirs = None
            if tracr is not None and n <= tracr_max:
                program = tracr_programs(tracr, n)[task]
                tokens = list(example) if kind != "ints" else example
                assert same_values(tracr[0].evaluate(program, tokens),
                                   tracr_expected(task, example, output)), \
                    f"tracr's {task} gives a wrong output at n={n}"
                theirs = median_time(lambda: tracr[0].evaluate(program, tokens), 3, 60)  # noqa: B023
            ratio = "-" if not theirs else (f"{theirs / ours:.0f}x" if theirs >= 10 * ours
                                             else f"{theirs / ours:.1f}x")
            print(f"| {task} | {n} | {fmt(ours)} | {fmt(floor)} | {ours / floor:.1f} | "
                  f"{fmt(theirs)} | {ratio} |", flush=True)


def batches(count: int, n: int, repeats: int):
    rng = random.Random(2)
    print(f"\n| batch of {count} inputs of length {n} | rasp, whole batch | per input |")
    print("| --- | ---: | ---: |")
    for task, (setup, kind) in PROGRAMS.items():
        it = Interpreter()
        it.run(setup)
        inputs = [make_input(kind, n, rng) for _ in range(count)]
        outputs = it.evaluate_batch("x", inputs)
        for example, output in zip(inputs, outputs):
            assert [str(v) for v in output] == [str(v) for v in FLOORS[task](example).tolist()], \
                f"the numpy floor of {task} disagrees with rasp's batch on {example!r}"
        took = median_time(lambda: it.evaluate_batch("x", inputs), repeats, 60)  # noqa: B023
        print(f"| {task} | {fmt(took)} | {took / count * 1e6:.1f} us |", flush=True)


def start_up(repeats: int):
    def command(code: str):
        subprocess.run([sys.executable, "-m", "rasp", "-c", code], check=True,
                       capture_output=True, cwd=ROOT)
    print("\n| start-up | median |")
    print("| --- | ---: |")
    took = median_time(lambda: command('1;'), repeats, 30, time.perf_counter)  # a child
    print(f"| `rasp -c '1;'` (wall time) | {fmt(took)} |")
    print(f"| `Interpreter()` (parses and runs the library) | "
          f"{fmt(median_time(Interpreter, repeats * 4, 10))} |")
    load = 'load "paper_examples";'
    took = median_time(lambda: Interpreter().run(load), repeats, 10)
    print(f"| `Interpreter()` then `{load}` | {fmt(took)} |")


# the expressions of the fixed-cost table, each with what it must give on an input
FIXED = {
    "sort(tokens, tokens)": sorted,
    "hist_nobos": lambda text: [text.count(c) for c in text],
    "dyck2_ptf": lambda text: fast_dyck2(text).tolist(),
}


def fixed_cost(rounds: int = 3, calls: int = 400) -> None:
    """`it.evaluate(expression, x)` at n = 8 with paper_examples loaded: the same input again
    and again (its values cached), and new inputs (nothing cached). Best of `rounds`. Every
    output is checked, after it is timed."""
    rng = random.Random(5)
    it = Interpreter()
    it.run('load "paper_examples";')
    print("\n| expression | graph nodes | same input | new inputs |")
    print("| --- | ---: | ---: | ---: |")
    for expr, expected in FIXED.items():
        fresh = ["".join(rng.choice("(){}ab") for _ in range(8)) for _ in range(rounds * calls)]
        nodes = _count_nodes(it.value(expr))
        it.evaluate(expr, fresh[0])
        best = {"same": float("inf"), "new": float("inf")}
        for r in range(rounds):
            for kind, inputs in (("same", [fresh[0]] * calls),
                                 ("new", fresh[r * calls:(r + 1) * calls])):
                outputs = []
                start = time.process_time()
                for x in inputs:
                    outputs.append(it.evaluate(expr, x))
                best[kind] = min(best[kind], (time.process_time() - start) / calls)
                for x, output in zip(inputs, outputs):
                    assert output == expected(x), f"{expr} gives {output} on {x!r}"
        print(f"| `{expr}` | {nodes} | {fmt(best['same'])} | {fmt(best['new'])} |")


def _count_nodes(node) -> int:
    seen, todo = set(), [node]
    while todo:
        n = todo.pop()
        if n.id not in seen:
            seen.add(n.id)
            todo.extend(n.inputs)
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--as-library", action="store_true",
                        help="time rasp as a program that imports it gets it, without the "
                             "process settings of the `rasp` command (commands.prepare_process)")
    parser.add_argument("--long", action="store_true",
                        help="only the long-sequence table, 10^4 to 10^6 tokens")
    parser.add_argument("--fixed", action="store_true",
                        help="only the fixed cost of one evaluation at n = 8")
    args = parser.parse_args()
    if not args.as_library:
        prepare_process()  # what the `rasp` command sets for itself: the allocator, mainly
    print(f"(process settings of the `rasp` command: {'off' if args.as_library else 'on'})\n")
    if args.long:
        long_sequences([10**4, 10**5, 10**6], 3)
        return
    if args.fixed:
        fixed_cost()
        return
    tracr = load_tracr()
    if tracr is None:
        print("(tracr is not installed here: run bench/run.sh for its columns)\n")
    print("(the original interpreter, tech-srl/RASP, is not timed: it is not installed here)\n")
    if args.quick:
        single_inputs([10, 100, 500], 5, tracr, 500)
        batches(1000, 32, 3)
    else:
        single_inputs([10, 100, 500, 2000, 10000], 7, tracr, 2000)
        batches(10000, 32, 3)
    start_up(5)


if __name__ == "__main__":
    main()
