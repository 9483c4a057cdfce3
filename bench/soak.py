"""Soak test of the piped REPL: many thousands of random statements through one session,
printing the process's memory as it goes. A session that runs all day must stay flat: the
caches are bounded and nothing else piles up.

    python bench/soak.py [--statements 50000] [--every 5000] [--seed 1]

Statements cycle through a few dozen names, so old values become garbage as a long session's
would: s-ops and selectors shown on the running example (which stays "hello", so its cached
values are reused and accumulate), applied to a few other inputs, functions, library calls,
analyses, loads and errors of every kind.
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rasp import Interpreter  # noqa: E402
from rasp.runner import run_piped  # noqa: E402

NAMES = 40
WORDS = ["hello", "abc", "banana", "xyz", "aab", "rasp", "transformer"]
TEMPLATES = [
    "x{i} = indices * {n} + {m};",
    "x{i} = tokens + \"{c}\";",
    "x{i} = aggregate(select(indices, indices, {op}), indices + {n});",
    "x{i} = selector_width(select(tokens, tokens, ==));",
    "x{i} = sort(tokens, indices * -1);",
    "x{i} = x{j} + {n};",
    "s{i} = select(tokens, tokens, {op});",
    "x{i} = aggregate(s{j}, indices, -1);",
    "({x})(\"{word}\");",
    "def f{i}(a) {{ return a * {n} + 1; }}",
    "x{i} = f{j}(indices);",
    "n{i} = {n} * {m} + 0.5;",
    "l{i} = [n{j}, {n}, \"{c}\"];",
    "analyze(x{j});",
    "x{i} = missing_{i};",
    "x{i} = (1 + ;",
    "(aggregate(full_s, tokens))(\"{word}\");",
    "load \"sort\";",
    "x{i};",
]


def statements(count: int, seed: int) -> Iterator[str]:
    """`count` random statements, one per line."""
    rng = random.Random(seed)
    for _ in range(count):
        fields = {"i": rng.randrange(NAMES), "j": rng.randrange(NAMES), "n": rng.randint(0, 9),
                  "m": rng.randint(0, 9), "c": rng.choice("abc"), "word": rng.choice(WORDS),
                  "op": rng.choice(["==", "<", ">", "!=", "<=", ">="]),
                  "x": f"x{rng.randrange(NAMES)}"}
        yield rng.choice(TEMPLATES).format(**fields) + "\n"


def rss_mb() -> float:
    """The resident set size now (Linux), or the peak where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=50_000)
    parser.add_argument("--every", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    it = Interpreter(interactive=True, out=lambda line: None, warn=lambda text: None)
    errors = io.StringIO()
    print(f"{'statements':>10} {'RSS MB':>8} {'cached values':>14} {'cache MB':>9} "
          f"{'seconds':>8}")
    start, rss_at = time.perf_counter(), {}
    for done in range(0, args.statements, args.every):
        stream = statements(args.every, args.seed + done)
        run_piped(it, stream, io.StringIO(), errors)
        errors.seek(0)
        errors.truncate()
        gc.collect()
        rss = rss_at[done + args.every] = rss_mb()
        caches = it._caches.values()
        print(f"{done + args.every:>10} {rss:>8.1f} {sum(len(c) for c in caches):>14} "
              f"{sum(c.nbytes for c in caches) / 2 ** 20:>9.1f} "
              f"{time.perf_counter() - start:>8.1f}", flush=True)
    half = min(rss_at, key=lambda n: abs(n - args.statements / 2))
    print(f"RSS {rss_at[half]:.1f} MB after {half} statements, {rss:.1f} MB after "
          f"{args.statements}: {rss - rss_at[half]:+.1f} MB over the second half")


if __name__ == "__main__":
    main()
