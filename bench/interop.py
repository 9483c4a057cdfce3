"""Batch forward of 1,000 inputs: the numpy reference forward pass against the PyTorch
module (rasp.interop.to_torch, CPU, float64) on reverse, sort and Dyck-2, and the sparse
forward pass (rasp.compiler.sparse: the same sums without their zero terms) beside them.

    python bench/interop.py [--lengths 16 64] [--batch 1000] [--repeat 1]

Each time is the best of --repeat runs of one batch of --batch random inputs of length N
(the numpy times include nothing but the forward pass; torch's runs under no_grad), one
thread each. The outputs are checked equal (categorical, identical) before timing.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one thread each, as bench/compile.py

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rasp import Interpreter  # noqa: E402
from rasp.compiler import reference_forward, sparse  # noqa: E402
from rasp.interop import to_torch  # noqa: E402

PROGRAMS = [("reverse", "reverse", "reverse", "abc"),
            ("sort", "sort", "sorted_tokens", "abc"),
            ("Dyck-2", "dyck", "dyck2", "(){}")]


def best(run, args: tuple, repeat: int) -> float:
    """The shortest of `repeat` timings of run(*args)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(0)
    print("| program | max_len | d_model | numpy (s) | torch CPU (s) | numpy sparse (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for title, library, expr, vocab in PROGRAMS:
        it = Interpreter()
        it.run(f'load "{library}";')
        for n in args.lengths:
            model = it.compile(expr, vocab, n).model
            ids = np.array([model.token_ids([rng.choice(vocab) for _ in range(n)])
                            for _ in range(args.batch)])
            module, tensor = to_torch(model), torch.tensor(ids)
            with torch.no_grad():
                want = reference_forward(model.arrays, model.config, ids)
                assert (module(tensor).numpy().argmax(-1) == want.argmax(-1)).all()
                numpy_s = best(reference_forward, (model.arrays, model.config, ids),
                               args.repeat)
                torch_s = best(module, (tensor,), args.repeat)
                weights = sparse.Weights.of(model.arrays, model.config)
                assert (sparse.forward(weights, ids).argmax(-1) == want.argmax(-1)).all()
                compact_s = best(sparse.forward, (weights, ids), args.repeat)
            print(f"| {title} | {n} | {model.config['d_model']} | {numpy_s:.2f} | "
                  f"{torch_s:.2f} | {compact_s:.2f} |", flush=True)


if __name__ == "__main__":
    main()
