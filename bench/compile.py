"""Compile time, parameters and agreement of the compiler on the benchmark programs.

    python bench/compile.py [--lengths 16 50 100] [--sample K] [--json FILE]
    python bench/compile.py --forward 1000 [--reference] [--lengths 16 50 100]

For each program and max_len N: the compile time (best of --repeat), the parameters (every
float of the .npz, and how many are nonzero), the layers and heads, and the agreement with the
interpreter: every input of lengths 1..N where there are few, else at most K structured inputs
(each token repeated, sorted, reversed, alternating) and K random ones, on lengths 1..8, every 10th
and the last two (all lengths when N <= 16). tracr's figures are those measured on this kind of
machine (issue 11, ../shared/design/compiler-notes.md): tracr needs jax, which bench/run.sh
does not install, so it is not run here.

With --forward B: instead, for each program and max_len, B random inputs (lengths 1..N, the
same for both) run through the interpreter's evaluate_batch and the compiled model's
forward_batch (the sparse pass), each timed (best of --repeat) and their values checked equal
(numbers within the verification's 1e-6): the ratio of their wall times and of their CPU
times (on a shared machine the fairer one: both run on one thread), and the forward pass's
CPU time over its wall time (at most about 1 where it runs on one thread). --reference also
times the reference forward pass on the same inputs (slow: it multiplies every zero).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# many small matrix products: one BLAS thread is the fastest on a shared machine
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

from rasp import Interpreter  # noqa: E402
from rasp.compiler.verify import same, verify  # noqa: E402
from rasp.files import write_atomic  # noqa: E402

PROGRAMS = [("reverse", "reverse", "reverse", "abc"),
            ("histogram", "histogram", "histogram", "abc"),
            ("sort", "sort", "sorted_tokens", "abc"),
            ("Dyck-1", "dyck", "dyck1", "()"),
            ("Dyck-2", "dyck", "dyck2", "(){}")]

# tracr at HEAD, float32, its default settings, measured on this kind of machine.
TRACR = {("reverse", 10): "35 % of tokens right, 4 layers",
         ("reverse", 100): "1,026 s, 52.6 M parameters, 4 layers",
         ("histogram", 100): "78.7 % of tokens right",
         ("sort", 100): "39.8 % of tokens right (make_sort); sort_unique 19.2 %",
         ("Dyck-1", 50): "670 s, 20.4 M parameters, 3/5 inputs right"}


def lengths_for(n: int) -> list[int]:
    if n <= 16:
        return list(range(1, n + 1))
    return sorted(set(range(1, 9)) | set(range(10, n + 1, 10)) | {n - 1, n})


def sessions(only: str | None) -> Iterator[tuple[str, Interpreter, str, str]]:
    """Each program of the table (or only the one named), with a session that has loaded
    its file."""
    for label, stem, expr, vocab in PROGRAMS:
        if only and only != label:
            continue
        it = Interpreter(warn=lambda text: None)
        it.run(f'load "{stem}";')
        yield label, it, expr, vocab


def table_header(columns: list[str]) -> None:
    """A markdown table's header: the first column left-aligned, the others as given
    (a column ending in ":" right-aligned)."""
    print("| " + " | ".join(c.rstrip(":") for c in columns) + " |")
    print("| " + " | ".join("---:" if c.endswith(":") else "---" for c in columns) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 50, 100])
    parser.add_argument("--sample", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", help="one program, by its name in the table")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--forward", type=int, metavar="B",
                        help="time forward_batch against evaluate_batch on B inputs instead")
    parser.add_argument("--reference", action="store_true",
                        help="with --forward: also time the reference forward pass")
    args = parser.parse_args()
    if args.forward:
        forward(args)
        return
    rows = []
    table_header(["program", "max_len:", "compile s:", "parameters:", "nonzero:", "layers:",
                  "heads", "d_model:", "agreement", "tracr"])
    for label, it, expr, vocab in sessions(args.only):
        for n in args.lengths:
            best, _, c = timed(partial(it.compile, expr, list(vocab), n), args.repeat)
            model = c.model
            result = verify(model, c.target,
                            sample=None if n <= 8 else args.sample, lengths=lengths_for(n))
            agreement = f"{result.agreed}/{result.checked}"
            heads = "/".join(map(str, model.heads_per_layer))
            row = {"program": label, "max_len": n, "seconds": round(best, 3),
                   "parameters": model.parameters, "nonzero": model.nonzero,
                   "layers": len(model.heads_per_layer), "heads": heads,
                   "d_model": model.config["d_model"], "agreed": result.agreed,
                   "checked": result.checked, "tracr": TRACR.get((label, n), "")}
            rows.append(row)
            print(f"| {label} | {n} | {best:.2f} | {model.parameters:,} | {model.nonzero:,} | "
                  f"{row['layers']} | {heads} | {row['d_model']} | {agreement} "
                  f"({100 * result.agreed / max(1, result.checked):.0f} %) | {row['tracr']} |",
                  flush=True)
    if args.json:
        write_atomic(Path(args.json), json.dumps(rows, indent=1) + "\n")


def timed(run: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """The shortest wall time of `repeat` runs, its CPU time, and the last result."""
    best = (float("inf"), 0.0)
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best[0], best[1], result


def forward(args: argparse.Namespace) -> None:
    """forward_batch against evaluate_batch on the same random inputs (see the docstring)."""
    rows = []
    table_header(["program", "max_len:", "inputs:", "evaluate_batch s:", "forward_batch s:",
                  "ratio:", "CPU ratio:", "forward CPU/wall:", "values equal",
                  *(["reference s:"] if args.reference else [])])
    for label, it, expr, vocab in sessions(args.only):
        for n in args.lengths:
            model = it.compile(expr, list(vocab), n).model
            rng = random.Random(n)
            inputs = [[rng.choice(vocab) for _ in range(rng.randint(1, n))]
                      for _ in range(args.forward)]
            numerical = model.config["output"]["kind"] == "numerical"
            model.forward_batch(inputs[:1])  # the sparse weights, prepared once per model
            interpreter_s, interpreter_cpu, want = timed(partial(it.evaluate_batch, expr, inputs),
                                           args.repeat)
            model_s, cpu_s, got = timed(partial(model.forward_batch, inputs), args.repeat)
            equal = all(len(g) == len(w) and all(same(a, b, numerical) for a, b in zip(g, w))
                        for g, w in zip(got, want))
            row = {"program": label, "max_len": n, "inputs": len(inputs),
                   "evaluate_batch": round(interpreter_s, 4),
                   "forward_batch": round(model_s, 4), "ratio": round(model_s / interpreter_s, 2),
                   "cpu_ratio": round(cpu_s / interpreter_cpu, 2),
                   "cpu_per_wall": round(cpu_s / model_s, 2), "equal": equal}
            line = (f"| {label} | {n} | {len(inputs):,} | {interpreter_s:.3f} | {model_s:.3f} | "
                    f"{model_s / interpreter_s:.1f} | {cpu_s / interpreter_cpu:.1f} | "
                    f"{cpu_s / model_s:.2f} | "
                    f"{'yes' if equal else 'NO'} |")
            if args.reference:
                row["reference"], _, _ = timed(partial(model.forward_batch, inputs, False), 1)
                line += f" {row['reference']:.2f} |"
            rows.append(row)
            print(line, flush=True)
    if args.json:
        write_atomic(Path(args.json), json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
