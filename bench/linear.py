"""Programs whose maps are affine in averaged or copied numbers, compiled and checked.

    python bench/linear.py [--only NAME] [--sample K] [--json FILE]

For each program and max_len: the compile time, the parameters, d_model, the feed-forward
hidden units by layer, the output's encoding, and the check against the interpreter
(compiling.verify's default inputs: every input where there are few, else the structured ones
and K random ones per length). The programs are those of examples/affine.rasp: tracr's
`make_pair_balance` and `make_shuffle_dyck` (2 pairs: tracr's make_shuffle_dyck2) written in
RASP as tracr writes them (a difference of two averages; the balances compared with 0 in the
next maps), and sums of the 6 and 10 tokens before each position (one head each). tracr's own
library programs, imported, are measured by bench/tracr_lib.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

from rasp import Interpreter, RaspError  # noqa: E402
from rasp.compiler.verify import verify  # noqa: E402
from rasp.files import write_atomic  # noqa: E402

# the programs of examples/affine.rasp, by the names this table gives them
SOURCE = """
load "affine";
pair_balance = pair_balance_tracr(tokens, "(", ")");
shuffle_dyck2 = shuffle_dyck_tracr(["()", "{}"]);
sum6 = sum_before(tokens_int, 6);
sum10 = sum_before(tokens_int, 10);
"""

PROGRAMS = [("pair_balance", list("()a"), [10, 50]),
            ("shuffle_dyck2", list("(){}"), [8, 16, 32]),
            ("sum6", [0, 1, 2, 3], [8, 16]),
            ("sum10", [0, 1, 2, 3], [12, 16])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="one program, by its name in the table")
    parser.add_argument("--sample", type=int, default=None,
                        help="random inputs per length (default: verify's)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    it = Interpreter(warn=lambda text: None)
    it.run(SOURCE, "<bench/linear.py>")
    print("| program | max_len | compile s | parameters | d_model | hidden units | output | "
          "check |")
    print("| --- " * 8 + "|")
    rows = []
    for name, vocab, lengths in PROGRAMS:
        if args.only and name != args.only:
            continue
        for max_len in lengths:
            start = time.perf_counter()
            try:
                compiled = it.compile(name, vocab, max_len)
            except RaspError as e:
                print(f"| {name} | {max_len} | refused: {e.message.splitlines()[0]} |")
                continue
            seconds = time.perf_counter() - start
            model = compiled.model
            check = verify(model, compiled.target, sample=args.sample)
            hidden = ", ".join(f"{i}: {h}" for i, h in enumerate(model.hidden) if h)
            row = {"program": name, "max_len": max_len, "seconds": seconds,
                   "parameters": model.parameters, "d_model": model.config["d_model"],
                   "hidden": model.hidden, "output": model.config["output"]["kind"],
                   "checked": check.checked, "agreed": check.agreed}
            rows.append(row)
            print(f"| {name} | {max_len} | {seconds:.2f} | {model.parameters:,} | "
                  f"{row['d_model']} | {hidden} | {row['output']} | "
                  f"{check.agreed:,}/{check.checked:,} |", flush=True)
    if args.json:
        write_atomic(Path(args.json), json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
