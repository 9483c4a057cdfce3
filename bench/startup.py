"""How long `rasp` takes to start: to the REPL's first prompt, and to run `rasp -c '1;'`.

    python bench/startup.py [--runs N]

The REPL is started in a pseudo-terminal (pexpect), as a person starts it, with a history
file in a temporary folder; the clock stops when `>>` appears. Each figure is the median of N
runs, after one run that warms the OS's file cache and lark's grammar cache. A bare
`python -c pass` is measured too, as the floor on this machine at this moment. The goal for
the REPL is under 0.5 s. This is a measurement, not a test: timings depend on the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent


def environment(history: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm",
                RASP_HISTORY=str(history))


def to_first_prompt(env: dict[str, str]) -> float:
    start = time.perf_counter()
    child = pexpect.spawn(sys.executable, ["-m", "rasp"], env=env, dimensions=(24, 80),
                          encoding="utf-8", timeout=30)
    child.expect_exact(">>")
    elapsed = time.perf_counter() - start
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    return elapsed


def run_code(env: dict[str, str]) -> float:
    return _timed([sys.executable, "-m", "rasp", "-c", "1;"], env)


def bare_python(env: dict[str, str]) -> float:
    return _timed([sys.executable, "-c", "pass"], env)


def _timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def median(measure: Callable[[dict[str, str]], float], env: dict[str, str], runs: int
           ) -> tuple[float, float, float]:
    measure(env)  # warm-up
    times = [measure(env) for _ in range(runs)]
    return statistics.median(times), min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = environment(Path(folder) / "history")
        for label, measure in (("REPL, to the first prompt", to_first_prompt),
                               ("rasp -c '1;'", run_code), ("python -c pass", bare_python)):
            mid, low, high = median(measure, env, args.runs)
            print(f"{label:28} median {mid:.3f} s  (min {low:.3f}, max {high:.3f}, "
                  f"{args.runs} runs)")


if __name__ == "__main__":
    main()
