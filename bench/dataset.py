"""Throughput of `rasp dataset --format parquet`: rows per second for reverse, sort and Dyck-2
at lengths 1-64, in one process (no Dask), and on a local Dask cluster of 1 and 2 worker
processes; plus what a shard costs besides its rows, and what a cluster costs to start.

    python bench/dataset.py            # 20000 rows per run (a few minutes)
    python bench/dataset.py --rows 4000 --shard-size 1000

Each cluster is started once and warmed up with a small run of each task (the workers import
rasp and pyarrow, and build each program), and that start-up is timed apart; the rows per
second of a run are its rows over its wall time, from planning to dataset.json, the best of
--repeat runs (the machines these figures come from are shared: the best run is the least
disturbed one). The
shard overhead is the time of a run of one-row shards, less those rows' own time, per shard:
the file, the task's scheduling, and (for a worker's first shard) the interpreter built from
the source.
"""

from __future__ import annotations

import argparse
import os
import shutil
import string
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT),
                                                         os.environ.get("PYTHONPATH")]))

from rasp.dataset import Options, generate  # noqa: E402
from rasp.train.program import load_program  # noqa: E402

PAPER = str(ROOT / "examples" / "paper_examples.rasp")
TASKS = {  # name: (s-op, alphabet, BOS, sampler), as bench/paper_s5.py
    "reverse": ("reverse", "abcdefgh", None, "uniform"),
    "sort": ("sort_bos", string.ascii_letters, "§", "uniform"),
    "dyck2": ("dyck2_ptf", "(){}a", None, "brackets"),
}


REPEAT = 2


def run(task: str, rows: int, shard_size: int, out: Path, scheduler: str | None = None
        ) -> float:
    """The best wall time of REPEAT runs."""
    return min(_run(task, rows, shard_size, out, scheduler) for _ in range(REPEAT))


def _run(task: str, rows: int, shard_size: int, out: Path, scheduler: str | None) -> float:
    name, alphabet, bos, sampler = TASKS[task]
    program = load_program(PAPER, name)
    options = Options(alphabet=list(alphabet), lengths=(1, 64), bos=bos, sampler=sampler,
                      counts={"train": rows * 8 // 10, "val": rows // 10,
                              "test": rows - rows * 8 // 10 - rows // 10},
                      shard_size=shard_size, seed=0)
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    generate(program, options, out, scheduler=scheduler)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per run")
    parser.add_argument("--shard-size", type=int, default=2000)
    parser.add_argument("--overhead-shards", type=int, default=200,
                        help="one-row shards in the overhead run")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure, the best kept")
    args = parser.parse_args()
    global REPEAT
    REPEAT = args.repeat
    from dask.distributed import LocalCluster

    tasks = args.tasks.split(",")
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="rasp-bench-dataset-"))
    table: dict[str, dict[str, float]] = {t: {} for t in tasks}
    overhead: dict[str, float] = {}
    try:
        for task in tasks:  # warm up this process the same way
            _run(task, 50, 50, work / "warm", None)
        for task in tasks:
            table[task]["1 process"] = args.rows / run(task, args.rows, args.shard_size,
                                                       work / "here")
            print(f"{task}: 1 process {table[task]['1 process']:,.0f} rows/s", flush=True)
        starts = {}
        for workers in (1, 2):
            begin = time.perf_counter()
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=":0") as cluster:
                for task in tasks:  # the workers import rasp and pyarrow, build the programs
                    _run(task, 50, 50, work / "warm", cluster.scheduler_address)
                starts[workers] = time.perf_counter() - begin
                column = f"Dask, {workers} worker{'s' if workers > 1 else ''}"
                for task in tasks:
                    seconds = run(task, args.rows, args.shard_size, work / "dask",
                                  cluster.scheduler_address)
                    table[task][column] = args.rows / seconds
                    print(f"{task}: {column} {table[task][column]:,.0f} rows/s", flush=True)
                    if workers == 1:  # the cost of a shard: one-row shards, one worker
                        n = args.overhead_shards
                        small = run(task, n, 1, work / "small", cluster.scheduler_address)
                        overhead[task] = (small - n / table[task][column]) / n
        print(f"\nrows per second, {args.rows} rows per run (80/10/10 train/val/test), "
              f"lengths 1-64, shards of {args.shard_size} rows; cluster start-up "
              f"{starts[1]:.1f} s (1 worker), {starts[2]:.1f} s (2 workers); "
              f"{os.cpu_count()} CPUs, load average {load:.1f} at the start, best of "
              f"{REPEAT}\n")
        columns = ["1 process", "Dask, 1 worker", "Dask, 2 workers"]
        print("| task | " + " | ".join(columns) + " | 2 workers / 1 | shard overhead |")
        print("| --- | " + " | ".join("---:" for _ in columns) + " | ---: | ---: |")
        for task in tasks:
            cells = [f"{table[task][c]:,.0f}" for c in columns]
            ratio = table[task]["Dask, 2 workers"] / table[task]["Dask, 1 worker"]
            print(f"| {task} | " + " | ".join(cells) +
                  f" | {ratio:.2f}x | {overhead[task] * 1000:.0f} ms |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
