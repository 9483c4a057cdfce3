"""Run a shard plan: in this process, on a local Dask cluster (`workers`), or on an existing
one (`scheduler`), then write `dataset.json`. Dask is imported only for the last two.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import claim_folder, json_text, write_atomic
from ..train.program import Program
from .plan import SPLITS, Shard, plan, shares_of
from .shard import COMPRESSION, ROW_GROUP_ROWS, Job, ShardResult, finished, run_shard, union_type

__all__ = ["Options", "DatasetError", "generate", "COLUMNS", "MANIFEST"]

RETRIES = 3  # a task that raises is tried again this many times (a worker that dies too)
SKIPPED_KEPT = 20
DATA = "data"  # the shards' folder in the output folder, next to dataset.json
MANIFEST = "dataset.json"  # written last: a folder with it holds one complete dataset
_SHARD_FILE = re.compile(r"^(train|val|test)-len\d{3,}-\d{5,}\.parquet$")

COLUMNS = {
    "input": "the input's tokens, as given to the program (the BOS first, if any)",
    "output": "the s-op's value at each position",
    "length": "the input's length without the BOS",
    "split": "train, val or test",
    "sel_L{layer}H{head}": "with --selections: that head's selection matrix on the input, "
                           "n*n bits (n = len(input)), bit q*n+k set when query q selects "
                           "key k, packed most significant bit first (numpy.packbits)",
}


class DatasetError(Exception):
    """A run that cannot go on, with a one-line message."""


@dataclass
class Options:
    alphabet: list
    lengths: tuple[int, int]
    counts: dict[str, int]
    bos: Any = None
    sampler: str = "uniform"
    seed: int = 0
    shard_size: int = 10_000
    selections: bool = False
    on_error: str = "stop"
    resume: bool = False  # keep the shard files of this run that are already there
    force: bool = False  # replace another run's dataset in the folder


@dataclass
class Progress:
    done: int = 0
    total: int = 0
    rows: int = 0
    skipped: int = 0
    results: list[ShardResult] = field(default_factory=list)


def _local(job: Job, work: list[tuple[Shard, str | None]]) -> Iterator[ShardResult]:
    for shard, kind in work:
        yield run_shard(job, shard, kind)


# seconds to wait for a scheduler to answer (a peer that takes the connection and never
# answers would otherwise hold the run until it closes)
CONNECT_TIMEOUT = 10


def _check_scheduler(address: str) -> None:
    """That a Dask scheduler answers at `address` within CONNECT_TIMEOUT seconds: Client
    itself waits without end on a peer that takes the connection and never answers."""
    async def identity() -> None:
        from distributed.comm import connect

        comm = await connect(address, timeout=CONNECT_TIMEOUT)
        try:
            await comm.write({"op": "identity", "reply": True})
            await comm.read()
        finally:
            comm.abort()

    try:
        asyncio.run(asyncio.wait_for(identity(), CONNECT_TIMEOUT))
    except TimeoutError:
        raise DatasetError(f"no Dask scheduler answered at {address} within "
                           f"{CONNECT_TIMEOUT} s") from None
    except (OSError, ValueError, TypeError) as e:  # refused, unreachable, not an address
        raise DatasetError(f"cannot connect to the scheduler at {address}: {e}") from None


class _Dask:
    """A client on a local cluster of processes, or on the scheduler at `address`."""

    def __init__(self, workers: int | None, address: str | None):
        from dask.distributed import Client, LocalCluster

        self.cluster = None
        if address is None:
            self.cluster = LocalCluster(n_workers=workers or 1, threads_per_worker=1,
                                        processes=True, dashboard_address=":0")
            self.client = Client(self.cluster)
        else:
            _check_scheduler(address)
            self.client = Client(address, timeout=CONNECT_TIMEOUT)

    def run(self, job: Job, work: list[tuple[Shard, str | None]]) -> Iterator[ShardResult]:
        from dask.distributed import as_completed

        shared = self.client.scatter(job, broadcast=True)
        token = uuid.uuid4().hex[:8]
        futures = [self.client.submit(run_shard, shared, shard, kind, retries=RETRIES,
                                      key=f"rasp-shard-{shard.name}-{token}")
                   for shard, kind in work]
        names = {f.key: shard.name for f, (shard, _) in zip(futures, work)}
        try:
            for future in as_completed(futures):
                try:
                    yield future.result()
                except Exception as e:  # a task that raised RETRIES + 1 times, a lost worker
                    raise DatasetError(f"shard {names[future.key]}: {type(e).__name__}: {e}"
                                       ) from None
        finally:
            self.client.cancel(futures)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _job(program: Program, options: Options, out: Path) -> Job:
    return Job(source=program.source, filename=program.file or "<program>", name=program.name,
               alphabet=tuple(options.alphabet), bos=options.bos, sampler=options.sampler,
               shares=tuple(shares_of(options.counts).items()), selections=options.selections,
               on_error=options.on_error, out=str((out / DATA).resolve()))


def generate(program: Program, options: Options, out: Path, workers: int | None = None,
             scheduler: str | None = None,
             progress: Callable[[Progress], Any] | None = None) -> dict:
    """Write the run's shards and `dataset.json` into `out`; the description written.
    Raises DatasetError (a shard failed with on_error "stop", a worker kept dying, the plan
    is impossible).

    The folder is the run's while it runs (rasp.files.claim_folder): another run there at
    the same time is refused (FolderLockedError), and so is a folder holding another
    dataset, complete or not (FolderTakenError), unless `options.resume` (keep the shards
    this same run already finished) or `options.force` (remove it first). dataset.json is
    removed before any shard is written and written last: a folder with a dataset.json
    holds one complete dataset, and a run killed at any moment, then resumed, writes the
    same bytes as one never stopped."""
    if options.force and options.resume:
        raise DatasetError("--force starts over, --resume keeps finished shards: choose one")
    try:
        shards = plan(options.counts, options.lengths, options.shard_size, options.seed,
                      options.alphabet)
    except ValueError as e:
        raise DatasetError(str(e)) from None
    with claim_folder(out, "dataset", (MANIFEST, DATA), MANIFEST, force=options.force,
                      resume=options.resume, resumable=True):
        (out / DATA).mkdir(parents=True, exist_ok=True)
        results, final = _run(program, options, out, shards, workers, scheduler, progress)
        ordered = [results[s.name] for s in shards]
        _tidy(out / DATA, {s.file for s in shards})
        description = describe(program, options, ordered, final)
        write_atomic(out / MANIFEST, json_text(description, indent=1, ensure_ascii=False)
                     + "\n")
    return description


def _run(program: Program, options: Options, out: Path, shards: list[Shard],
         workers: int | None, scheduler: str | None,
         progress: Callable[[Progress], Any] | None) -> tuple[dict[str, ShardResult], str]:
    """Every shard's result, and the output column's type they were all written with."""
    job = _job(program, options, out)
    state = Progress(total=len(shards))
    backend = _Dask(workers, scheduler) if workers is not None or scheduler else None
    run = backend.run if backend is not None else _local

    def execute(work: list[tuple[Shard, str | None]]) -> dict[str, ShardResult]:
        got: dict[str, ShardResult] = {}
        try:
            for result in run(job, work):
                if result.error is not None:
                    raise DatasetError(f"{result.error} [shard {result.shard.name}]")
                got[result.shard.name] = result
                state.done += 1
                state.rows += result.rows
                state.skipped += result.skipped
                if progress is not None:
                    progress(state)
        except ValueError as e:  # a shard that cannot find its inputs, run here
            raise DatasetError(str(e)) from None
        return got

    kept: dict[str, ShardResult] = {}
    if options.resume:  # files of this run's shards, finished by an earlier, stopped run
        for s in shards:
            done = finished(job, s)
            if done is not None:
                kept[s.name] = done
                state.done += 1
                state.rows += done.rows
                state.skipped += done.skipped
    try:
        results = {**kept, **execute([(s, None) for s in shards if s.name not in kept])}
        kinds = {r.output_type for r in results.values() if r.output_type is not None}
        final = union_type(kinds) if kinds else "string"
        again: list[tuple[Shard, str | None]] = [
            (results[s.name].shard, final) for s in shards
            if results[s.name].written_type != final]
        if again:  # shards that saw only ints where others saw floats, and the like
            state.total += len(again)
            results.update(execute(again))
    finally:
        if backend is not None:
            backend.close()
    return results, final


def _tidy(out: Path, keep: set[str]) -> None:
    """Remove the temporary files of tasks that died, and shard files of an earlier run that
    this run's plan does not have."""
    for path in out.iterdir():
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)
        elif _SHARD_FILE.match(path.name) and path.name not in keep:
            path.unlink(missing_ok=True)


def describe(program: Program, options: Options, results: list[ShardResult],
             output_type: str) -> dict:
    """dataset.json: the program, the options, the counts and the files (no times, no
    worker count: the same run gives the same bytes)."""
    import pyarrow  # type: ignore[import-untyped]

    rows = {s: 0 for s in SPLITS}
    skipped = {s: 0 for s in SPLITS}
    by_length: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    skipped_inputs: list[dict] = []
    for r in results:
        split, n = r.shard.split, str(r.shard.length)
        rows[split] += r.rows
        skipped[split] += r.skipped
        by_length[split][n] = by_length[split].get(n, 0) + r.rows
        skipped_inputs.extend({"shard": r.shard.name, **s} for s in r.skipped_inputs)
    return {
        "format": "rasp-dataset/1",
        "program": {"file": program.file, "name": program.name,
                    "sha256": hashlib.sha256(program.source.encode()).hexdigest(),
                    "source": program.source},
        "analysis": program.analysis.to_json(),
        "heads": [{"column": f"sel_{h.key}"} | h.to_json() for h in program.heads],
        "alphabet": list(options.alphabet), "lengths": list(options.lengths),
        "bos": options.bos, "sampler": options.sampler, "seed": options.seed,
        "shard_size": options.shard_size, "selections": options.selections,
        "on_error": options.on_error,
        "requested": {s: options.counts.get(s, 0) for s in SPLITS},
        "counts": rows, "skipped": skipped, "rows_by_length": by_length,
        "split_shares": shares_of(options.counts),
        "split_rule": "blake2b (8 bytes, key 'rasp-split-v1') of the input without the BOS, "
                      "its tokens as text joined by NUL in UTF-8, as a big-endian fraction of "
                      "2^64, against the cumulative shares train, val, test",
        "output_type": output_type,
        "columns": COLUMNS,
        "files": [{"file": f"{DATA}/{r.shard.file}", "split": r.shard.split,
                   "length": r.shard.length, "start": r.shard.start, "rows": r.rows}
                  for r in results],
        "skipped_inputs": skipped_inputs[:SKIPPED_KEPT],
        "writer": {"pyarrow": pyarrow.__version__, "compression": COMPRESSION,
                   "row_group_rows": ROW_GROUP_ROWS},
    }
