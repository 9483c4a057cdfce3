"""One shard: draw its inputs, evaluate the program on them with a fresh interpreter built from
the program's source, and write the rows as one Parquet file.

`run_shard` is what a Dask task runs. It never raises for a program error: it returns a
ShardResult that says what failed (the error at its position in the program, and the input),
so that nothing but plain data crosses between processes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RaspError, format_error, split_lines
from ..files import atomic, json_text
from ..interpreter import Interpreter
from ..train.program import Program
from ..train.sampling import make_sampler
from .plan import Shard, splitter

__all__ = ["Job", "ShardResult", "run_shard", "draw_inputs", "infer_type", "pack_bits",
           "unpack_bits", "OUTPUT_TYPES", "ROW_GROUP_ROWS", "COMPRESSION"]

# Fixed writer settings: the same rows give the same bytes (with the same pyarrow version).
ROW_GROUP_ROWS = 65_536
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3
OUTPUT_TYPES = ("bool", "int64", "double", "string", "json")
ERRORS_KEPT = 5  # skipped inputs a shard reports in full
SELECTION_CELLS = 1 << 22  # query-key cells per evaluation of the selectors


@dataclass(frozen=True)
class Job:
    """What every shard of a run shares: the program as source text, and the data options."""

    source: str
    filename: str  # for error positions
    name: str
    alphabet: tuple
    bos: Any
    sampler: str
    shares: tuple[tuple[str, float], ...]
    selections: bool
    on_error: str  # "stop" or "skip"
    out: str  # the output folder, as every worker sees it


@dataclass
class ShardResult:
    shard: Shard
    rows: int = 0
    skipped: int = 0
    output_type: str | None = None  # of the values seen; None: no rows
    written_type: str = "string"  # the output column's type in the file
    error: str | None = None  # with on_error "stop": why the shard wrote nothing
    skipped_inputs: list[dict] = field(default_factory=list)  # the first few, with errors


def draw_inputs(job: Job, shard: Shard) -> list[list]:
    """The shard's inputs (without the BOS): drawn from its seed at its length, keeping those
    whose hash puts them in its split. Raises ValueError if they cannot be found.

    The samplers of rasp.train.sampling draw: the uniform one a block of rows at a time, sized
    to the share of drawn inputs that land in this split; the others one input at a time."""
    rng = np.random.default_rng(shard.seed)
    share = max(dict(job.shares).get(shard.split, 0.0), 1e-9)
    split_of = splitter(dict(job.shares))
    sampler = make_sampler(job.sampler, list(job.alphabet), (shard.length, shard.length))

    def block(wanted: int) -> list[list]:
        rows = min(max(64, int(1.2 * wanted / share) + 16), max(64, (1 << 18) // shard.length))
        return sampler.block(rng, rows)

    out: list[list] = []
    misses, budget = 0, 1000 + 200 * shard.count
    while len(out) < shard.count:
        for tokens in block(shard.count - len(out)):
            if split_of(tokens) == shard.split:
                out.append(tokens)
                if len(out) == shard.count:
                    break
            else:
                misses += 1
        if misses > budget:
            raise ValueError(f"shard {shard.name}: found only {len(out)} of {shard.count} "
                             f"inputs of the {shard.split} split")
    return out


def infer_type(outputs: list[list]) -> str | None:
    """The column type of the outputs: bool, int64, double (ints and floats), string, or json
    for values of mixed kinds (each value then written as its JSON text)."""
    kinds = {_kind(t) for t in {type(v) for out in outputs for v in out}}
    if not kinds:
        return None
    if len(kinds) == 1:
        return kinds.pop()
    return "double" if kinds <= {"int64", "double"} else "json"


def _kind(t: type) -> str:
    if issubclass(t, (bool, np.bool_)):
        return "bool"
    if issubclass(t, (int, np.integer)):
        return "int64"
    if issubclass(t, (float, np.floating)):
        return "double"
    return "string" if issubclass(t, str) else "json"


def union_type(kinds: set[str]) -> str:
    """The type every shard's outputs fit."""
    if len(kinds) == 1:
        return next(iter(kinds))
    return "double" if kinds <= {"int64", "double"} else "json"


def _as_type(outputs: list[list], kind: str) -> list[list]:
    if kind == "json":
        return [[json_text(v.item() if isinstance(v, np.generic) else v, ensure_ascii=False)
                 for v in out] for out in outputs]
    if kind == "double":
        return [[float(v) for v in out] for out in outputs]
    return outputs


def pack_bits(matrix: np.ndarray) -> bytes:
    """An (n, n) selection matrix as bytes: bit q*n + k is query q selecting key k, most
    significant bit first (numpy's packbits), the last byte padded with zeros."""
    return np.packbits(np.asarray(matrix, dtype=bool).reshape(-1)).tobytes()


def unpack_bits(data: bytes, n: int) -> np.ndarray:
    """The (n, n) bool matrix of pack_bits."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=n * n)
    return bits.reshape(n, n).astype(bool)


_PROGRAMS: dict[tuple[str, str, str], Program] = {}  # this process's, most recent last
_PROGRAMS_KEPT = 4


def load(job: Job) -> Program:
    """A session running the program's source, and its s-op: built from the source by the
    first shard of a run that this process evaluates, and kept for its next shards (building
    it, the parse and the analysis, costs tens of milliseconds; evaluating leaves nothing in
    the session that changes a later result)."""
    key = (job.source, job.filename, job.name)
    program = _PROGRAMS.pop(key, None)
    if program is None:
        interpreter = Interpreter(out=lambda line: None, warn=lambda line: None)
        interpreter.run(job.source, job.filename)
        program = Program(interpreter, job.name, job.source, job.filename)
    _PROGRAMS[key] = program
    while len(_PROGRAMS) > _PROGRAMS_KEPT:
        del _PROGRAMS[next(iter(_PROGRAMS))]
    return program


def _short(tokens: list) -> str:
    text = json.dumps(tokens, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "..."


def _failure(e: RaspError, tokens: list) -> str:
    """One line: the error at its place in the program, and the input."""
    first = split_lines(format_error(e))[0]
    return f"{first} (on the input {_short(tokens)})"


def _evaluate(program: Program, inputs: list[list], on_error: str
              ) -> tuple[list[int], list[list], list[tuple[int, str]]]:
    """The indices of the inputs that evaluate, their outputs, and the failures."""
    try:
        return list(range(len(inputs))), program.outputs(inputs), []
    except RaspError:
        pass
    kept: list[int] = []
    outputs: list[list] = []
    failures: list[tuple[int, str]] = []
    for i, tokens in enumerate(inputs):
        try:
            (output,) = program.outputs([tokens])
        except RaspError as e:
            failures.append((i, _failure(e, tokens)))
            if on_error == "stop":
                break
            continue
        kept.append(i)
        outputs.append(output)
    return kept, outputs, failures


def _input_type(alphabet: tuple) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]

    if all(isinstance(t, str) for t in alphabet):
        return pa.string()
    if all(isinstance(t, int) and not isinstance(t, bool) for t in alphabet):
        return pa.int64()
    raise ValueError("the alphabet must be all strings or all integers")


METADATA_KEY = "rasp.shard"


def fingerprint(job: Job, shard: Shard) -> str:
    """What a shard's rows depend on, hashed: the program, the data options, the shard."""
    key = {"format": "rasp-dataset/1", "source": job.source, "name": job.name,
           "alphabet": list(job.alphabet), "bos": job.bos, "sampler": job.sampler,
           "shares": [list(p) for p in job.shares], "selections": job.selections,
           "on_error": job.on_error, "shard": [shard.split, shard.length, shard.index,
                                               shard.start, shard.count, shard.seed]}
    text = json.dumps(key, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _record(job: Job, shard: Shard, result: ShardResult) -> dict:
    """The shard's entry in its file's metadata: a finished shard can be taken as it is."""
    return {"fingerprint": fingerprint(job, shard), "rows": result.rows,
            "skipped": result.skipped, "output_type": result.output_type,
            "written_type": result.written_type, "skipped_inputs": result.skipped_inputs}


def finished(job: Job, shard: Shard) -> ShardResult | None:
    """The result of the shard's file when one is there, written for this very shard of this
    very run (its fingerprint matches); None otherwise."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    path = Path(job.out) / shard.file
    if not path.is_file():
        return None
    try:
        metadata = pq.read_schema(path).metadata or {}
        record = json.loads(metadata.get(METADATA_KEY.encode(), b"{}"))
    except Exception:  # not a Parquet file, or a damaged one: run the shard again
        return None
    if record.get("fingerprint") != fingerprint(job, shard):
        return None
    return ShardResult(shard, rows=record["rows"], skipped=record["skipped"],
                       output_type=record["output_type"], written_type=record["written_type"],
                       skipped_inputs=record["skipped_inputs"])


def run_shard(job: Job, shard: Shard, output_type: str | None = None) -> ShardResult:
    """Draw, evaluate and write one shard; `output_type` forces the output column's type
    (the driver does so when shards disagree). Written to a temporary name and renamed, so
    a shard re-run after a worker died replaces its file, never adds a second one."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    result = ShardResult(shard)
    try:
        program = load(job)
    except RaspError as e:
        result.error = split_lines(format_error(e))[0]
        return result
    raw = draw_inputs(job, shard)
    inputs = [[job.bos, *t] for t in raw] if job.bos is not None else raw
    kept, outputs, failures = _evaluate(program, inputs, job.on_error)
    if failures and job.on_error == "stop":
        result.error = failures[0][1]
        return result
    result.skipped = len(failures)
    result.skipped_inputs = [{"input": inputs[i], "error": text}
                             for i, text in failures[:ERRORS_KEPT]]
    inputs = [inputs[i] for i in kept]
    seen = infer_type(outputs)
    kind = output_type or seen or "string"
    result.output_type, result.written_type = seen, kind
    arrow_kind = {"bool": pa.bool_(), "int64": pa.int64(), "double": pa.float64(),
                  "string": pa.string(), "json": pa.string()}[kind]
    columns: dict[str, Any] = {
        "input": pa.array(inputs, type=pa.list_(_input_type(job.alphabet))),
        "output": pa.array(_as_type(outputs, kind), type=pa.list_(arrow_kind)),
        "length": pa.array([shard.length] * len(inputs), type=pa.int32()),
        "split": pa.array([shard.split] * len(inputs), type=pa.string()),
    }
    if job.selections:
        packed: list[list[bytes]] = [[] for _ in program.heads]
        n = len(inputs[0]) if inputs else 1
        step = max(1, SELECTION_CELLS // (n * n))  # inputs per evaluation: bounded memory
        for start in range(0, len(inputs), step):
            matrices = program.selections(inputs[start:start + step])
            for k in range(len(program.heads)):
                packed[k].extend(pack_bits(m) for m in matrices[k])
        for k, head in enumerate(program.heads):
            columns[f"sel_{head.key}"] = pa.array(packed[k], type=pa.binary())
    result.rows = len(inputs)
    table = pa.table(columns).replace_schema_metadata(
        {METADATA_KEY: json_text(_record(job, shard, result), ensure_ascii=False)})
    folder = Path(job.out)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic(folder / shard.file, "wb") as f:
        pq.write_table(table, f, row_group_size=ROW_GROUP_ROWS, compression=COMPRESSION,
                       compression_level=COMPRESSION_LEVEL, use_dictionary=True,
                       write_statistics=True)
    return result
