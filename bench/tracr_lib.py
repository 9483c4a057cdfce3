"""tracr's library programs, imported (rasp.compat.tracr) and compiled by both compilers.

    python bench/tracr_lib.py [--lengths 10 50] [--ours-only 100] [--inputs 200]
                              [--tracr-inputs 30] [--tracr-minutes 30] [--json FILE]

For each program of `tracr.compiler.lib` we can express and each max_len: the compile time,
the parameters, the residual's width (d_model), the layers and heads, and the share of random
inputs (lengths 1..max_len, tokens from the program's vocabulary) on which the compiled model
equals its own evaluator: ours against our interpreter, tracr's against tracr's evaluator.
Numbers equal within 1e-3 count as equal; positions where tracr's evaluator gives None
(nothing selected) are not compared, and inputs on which an evaluator raises are drawn again;
tracr's inputs are padded to max_len (its pad token is masked), so that jax compiles its
forward pass once. Needs the `tracr` extra (`pip install tracr-pypi`, with jax on CPU).
tracr's layers count its attention+MLP blocks; heads are the most in one layer. A tracr
compile that runs past --tracr-minutes is stopped and shown as not finished.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import resource
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# tracr's and our forward passes are many small products: one BLAS thread is fastest here
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
              "XLA_FLAGS"):
    os.environ.setdefault(_name, "1" if _name != "XLA_FLAGS" else
                          "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

from rasp import Interpreter, RaspError  # noqa: E402
from rasp.compat.tracr import from_tracr  # noqa: E402
from rasp.files import write_atomic  # noqa: E402


def library(max_len: int) -> list[tuple[str, Any, list]]:
    """tracr's library programs (name, tracr expression, vocabulary), built for max_len."""
    from tracr.compiler import lib
    from tracr.rasp import rasp

    letters, parens = ["a", "b", "c"], ["(", ")"]
    return [
        ("make_length", lib.make_length(), letters),
        ("make_reverse", lib.make_reverse(rasp.tokens), letters),
        ("make_hist", lib.make_hist(), letters),
        ("make_sort_unique", lib.make_sort_unique(rasp.tokens, rasp.tokens), [1, 2, 3, 4, 5]),
        ("make_sort", lib.make_sort(rasp.tokens, rasp.tokens, max_seq_len=max_len, min_key=1),
         [1, 2, 3, 4, 5]),
        ("make_sort_freq", lib.make_sort_freq(max_seq_len=max_len), letters),
        ("make_frac_prevs", lib.make_frac_prevs(rasp.tokens == "x"), ["x", "y"]),
        ("make_pair_balance", lib.make_pair_balance(rasp.tokens, "(", ")"), [*parens, "a"]),
        ("make_shuffle_dyck", lib.make_shuffle_dyck(["()"]), parens),
        ("make_shuffle_dyck2", lib.make_shuffle_dyck2(), [*parens, "{", "}"]),
        ("shift_by", lib.shift_by(1, rasp.tokens), letters),
        ("detect_pattern", lib.detect_pattern(rasp.tokens, "abc"), letters),
        ("make_count", lib.make_count(rasp.tokens, "a"), letters),
        ("make_count_less_freq", lib.make_count_less_freq(2), letters),
        ("make_nary_sequencemap",
         lib.make_nary_sequencemap(lambda x, y: f"{x}{y}", rasp.tokens, rasp.tokens), letters),
    ]


def same(a: Any, b: Any) -> bool:
    """Equal as Python values; numbers within 1e-3 (tracr's numerical MLPs are approximate)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            not (isinstance(a, str) or isinstance(b, str)):
        return math.isclose(float(a), float(b), abs_tol=1e-3)
    return bool(a == b)


def agrees(model_out: list, reference: list) -> bool:
    return all(r is None or same(m, r) for m, r in zip(model_out, reference))


def inputs(vocab: list, max_len: int, count: int, valid: Callable[[list], bool],
           seed: int = 0) -> list[list]:
    """`count` random inputs of lengths 1..max_len on which `valid` holds."""
    rng = random.Random(seed)
    found: list[list] = []
    for _ in range(count * 20):
        if len(found) == count:
            break
        tokens = [rng.choice(vocab) for _ in range(rng.randint(1, max_len))]
        if valid(tokens):
            found.append(tokens)
    return found


def ours(expr: Any, vocab: list, max_len: int, count: int, memory_gb: float) -> dict:
    it = Interpreter()
    try:
        node = from_tracr(expr)
    except RaspError as e:
        return {"not imported": e.message}
    try:
        start = time.perf_counter()
        with memory_limit(memory_gb):
            compiled = it.compile(node, vocab, max_len)
        seconds = time.perf_counter() - start
    except RaspError as e:
        return {"refused": e.message}
    except MemoryError:
        return {"refused": f"the compiler needs more than {memory_gb:g} GB of memory "
                           f"(--memory)"}
    model = compiled.model

    def reference(tokens: list) -> list | None:
        try:
            return it.evaluate(node, tokens)
        except RaspError:
            return None
    cases = inputs(vocab, max_len, count, lambda t: reference(t) is not None)
    right = sum(agrees(model.forward(t), reference(t) or []) for t in cases)
    return {"seconds": seconds, "parameters": model.parameters,
            "d_model": model.config["d_model"], "layers": len(model.config["layers"]) - 1,
            "heads": max(model.heads_per_layer, default=0),
            "inputs": len(cases), "right": right}


@contextlib.contextmanager
def memory_limit(gb: float) -> Iterator[None]:
    """Our compiler's memory, bounded (its limits bound tables, not the model's size): on a
    shared machine a program too large becomes a refusal, not the machine's whole memory."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (int(gb * 2 ** 30), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


class Unfinished(BaseException):
    """The time limit passed (a BaseException: tracr's code must not catch it)."""


@contextlib.contextmanager
def time_limit(minutes: float | None) -> Iterator[None]:
    """The block, stopped by Unfinished after `minutes` (None: never)."""
    def stop(signum: int, frame: Any) -> None:
        raise Unfinished
    if minutes is None:
        yield
        return
    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, minutes * 60)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def tracr(expr: Any, vocab: list, max_len: int, count: int, minutes: float | None) -> dict:
    import numpy as np
    from tracr.compiler import compiling

    start = time.perf_counter()
    try:
        with time_limit(minutes):
            model = compiling.compile_rasp_to_model(expr, vocab=set(vocab),
                                                    max_seq_len=max_len,
                                                    compiler_bos="BOS", compiler_pad="PAD")
    except Unfinished:
        return {"unfinished": minutes}
    except Exception as e:  # tracr's own refusals are its exceptions of every kind
        return {"refused": f"{type(e).__name__}: {e}"[:120]}
    seconds = time.perf_counter() - start
    parameters = sum(int(np.size(v)) for layer in model.params.values()
                     for v in layer.values())

    def reference(tokens: list) -> list | None:
        try:
            return list(expr(tokens))
        except Exception:
            return None
    cases = inputs(vocab, max_len, count, lambda t: reference(t) is not None)
    # every input padded to max_len: jax compiles tracr's forward pass once per shape
    right = sum(agrees(model.apply(["BOS", *t, *["PAD"] * (max_len - len(t))])
                       .decoded[1:len(t) + 1], reference(t) or []) for t in cases)
    return {"seconds": seconds, "parameters": parameters,
            "d_model": len(model.residual_labels), "layers": model.model_config.num_layers,
            "heads": model.model_config.num_heads,
            "inputs": len(cases), "right": right}


def cell(result: dict | None) -> list[str]:
    if result is None:
        return [""] * 5
    if "refused" in result:
        return ["refused (below)", *[""] * 4]
    if "unfinished" in result:
        return [f"not finished in {result['unfinished']:g} min", *[""] * 4]
    share = f"{100 * result['right'] / max(result['inputs'], 1):.1f} % of {result['inputs']}"
    return [f"{result['seconds']:.2f}", f"{result['parameters']:,}", f"{result['d_model']:,}",
            f"{result['layers']}/{result['heads']}", share]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="*", default=[10, 50])
    parser.add_argument("--ours-only", type=int, nargs="*", default=[100])
    parser.add_argument("--inputs", type=int, default=200, help="random inputs, ours")
    parser.add_argument("--tracr-inputs", type=int, default=30, help="random inputs, tracr's")
    parser.add_argument("--tracr-minutes", type=float,
                        help="stop a tracr compile after this long (shown as not finished)")
    parser.add_argument("--only", help="one program, by its name in tracr's library")
    parser.add_argument("--memory", type=float, default=8.0,
                        help="GB of address space our compiler may use (beyond: refused)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    print("| program | max_len | ours: compile s | parameters | d_model | layers/heads | model = "
          "interpreter | tracr: compile s | parameters | d_model | layers/heads | "
          "model = evaluator |")
    print("| --- " * 12 + "|")
    rows, refused = [], {}
    for max_len in [*args.lengths, *args.ours_only]:
        for name, expr, vocab in library(max_len):
            if args.only and name != args.only:
                continue
            ours_result = ours(expr, vocab, max_len, args.inputs, args.memory)
            if "not imported" in ours_result:
                refused[name] = ours_result["not imported"]
                continue
            theirs = None if max_len in args.ours_only else \
                tracr(expr, vocab, max_len, args.tracr_inputs, args.tracr_minutes)
            rows.append({"program": name, "max_len": max_len, "ours": ours_result,
                         "tracr": theirs})
            for who, result in (("ours", ours_result), ("tracr", theirs)):
                if result is not None and "refused" in result:
                    refused[f"{name} ({who}, max_len {max_len})"] = result["refused"]
            print(f"| {name} | {max_len} | " + " | ".join(cell(ours_result) + cell(theirs))
                  + " |", flush=True)
            if args.json:  # after every row: a long run stopped early keeps what it measured
                write_atomic(Path(args.json), json.dumps(rows, indent=1))
    for name, why in refused.items():
        print(f"\nnot imported or refused: {name}: {why.splitlines()[0]}")


if __name__ == "__main__":
    main()
