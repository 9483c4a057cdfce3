"""Datasets from RASP programs: sampled inputs, the program's outputs on them, and every
analysed head's selection matrix (the attention target). numpy and the rasp core only, so that
`rasp dataset` runs without torch.

Inputs are drawn by a sampler (sampling.py) from a seeded generator: the same seed gives the
same data. All inputs of a dataset are distinct, so test inputs are never seen in training. Each
split keeps its inputs grouped by length: a training batch is drawn from one group and needs no
padding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RaspError, RaspValueError
from ..files import atomic, claim_folder, json_text, write_atomic
from ..interpreter import Interpreter
from .program import HeadSpec, Program, load_program
from .sampling import check_alphabet, make_sampler, sample_inputs

__all__ = ["Dataset", "Group", "Split", "make_dataset", "write_jsonl"]


@dataclass
class Group:
    """Inputs of one length: the raw inputs and outputs, their codes, and the targets."""

    inputs: list[list]  # with the BOS, if any
    outputs: list[list]
    x: np.ndarray  # (B, n) token codes
    y: np.ndarray  # (B, n) class codes; -1 for a value never seen in training
    selections: np.ndarray  # (heads, B, n, n) bool: each analysed head's selector
    positions: list[int] = field(default_factory=list)  # each input's place in its split

    @property
    def length(self) -> int:
        return self.x.shape[1]


@dataclass
class Split:
    groups: list[Group] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(g.inputs) for g in self.groups)

    def records(self) -> Iterator[tuple[list, list, np.ndarray]]:
        """(input, output, selections) of every input, in the split's order: as drawn,
        shuffled with the seed, not grouped by length (a stream of the JSONL file would
        otherwise be a length curriculum)."""
        placed = sorted((p, g, i) for g, group in enumerate(self.groups)
                        for i, p in enumerate(group.positions))
        for _, g, i in placed:
            group = self.groups[g]
            yield group.inputs[i], group.outputs[i], group.selections[:, i]


@dataclass
class Dataset:
    """What a model is trained on, and what it was made from."""

    program: Program
    alphabet: list
    lengths: tuple[int, int]
    bos: Any  # a token put before every input, or None
    sampler: str
    seed: int
    vocab: list  # token codes: the BOS first, then the alphabet
    classes: list  # output codes: the values seen in training, sorted
    train: Split
    val: Split
    test: Split

    @property
    def heads(self) -> list[HeadSpec]:
        return self.program.heads

    @property
    def first_scored(self) -> int:
        """Positions before this one (the BOS) are not outputs: no loss, no accuracy."""
        return 1 if self.bos is not None else 0

    def describe(self) -> dict:
        """The dataset's provenance, for config.json and the data folder's meta.json."""
        return {"file": self.program.file, "name": self.program.name,
                "program_sha256": hashlib.sha256(self.program.source.encode()).hexdigest(),
                "analysis": self.program.analysis.to_json(),
                "heads": [h.to_json() for h in self.heads],
                "alphabet": self.alphabet, "lengths": list(self.lengths), "bos": self.bos,
                "sampler": self.sampler, "seed": self.seed, "vocab": self.vocab,
                "classes": self.classes, "sizes": {"train": self.train.size,
                                                   "val": self.val.size,
                                                   "test": self.test.size}}


def _sort_key(value: Any) -> tuple:
    return (type(value).__name__, value)


def make_dataset(program: Program | Interpreter | str, name: str | None = None, *,
                 alphabet: Sequence[Any] | str = "abcdefgh", lengths: tuple[int, int] = (1, 16),
                 n_train: int = 10_000, n_val: int = 500, n_test: int = 1000, bos: Any = None,
                 sampler: str = "uniform", seed: int = 0) -> Dataset:
    """Sample distinct inputs, split them, and evaluate the program and its heads on them.

    `program` is a Program, or a session (an Interpreter) or a .rasp file with the s-op's
    `name`. Inputs are drawn over `alphabet` with lengths in `lengths` (inclusive, without
    the BOS); `bos` is put before every input, for programs that read one."""
    if not isinstance(program, Program):
        if name is None:
            raise RaspValueError("make_dataset needs the s-op's name")
        program = (Program(program, name) if isinstance(program, Interpreter)
                   else load_program(str(program), name))
    if not 1 <= lengths[0] <= lengths[1]:
        raise RaspValueError(f"lengths {lengths[0]}:{lengths[1]}: need 1 <= min <= max")
    if min(n_train, n_val, n_test) < 1:
        raise RaspValueError("--train, --val and --test need at least one input each")
    symbols = check_alphabet(alphabet, bos)
    draw = make_sampler(sampler, symbols, lengths)
    inputs = sample_inputs(draw, n_train + n_val + n_test, seed)
    order = np.random.default_rng(seed + 1).permutation(len(inputs))
    inputs = [inputs[i] for i in order]
    if bos is not None:
        inputs = [[bos, *tokens] for tokens in inputs]
    try:
        outputs = program.outputs(inputs)
    except RaspError as e:
        raise RaspValueError(f"'{program.name}' cannot read inputs over the alphabet "
                             f"{''.join(map(str, symbols))!r}: {e.message}") from None
    vocab = ([bos] if bos is not None else []) + symbols
    first = 1 if bos is not None else 0
    classes = sorted({v for out in outputs[:n_train] for v in out[first:]}, key=_sort_key)
    cuts = [(0, n_train), (n_train, n_train + n_val), (n_train + n_val, len(inputs))]
    splits = [_split(program, inputs[a:b], outputs[a:b], vocab, classes) for a, b in cuts]
    return Dataset(program, symbols, lengths, bos, sampler, seed, vocab, classes, *splits)


def _split(program: Program, inputs: list[list], outputs: list[list], vocab: list,
           classes: list) -> Split:
    token_code = {t: i for i, t in enumerate(vocab)}
    class_code = {c: i for i, c in enumerate(classes)}
    by_length: dict[int, list[int]] = {}
    for i, tokens in enumerate(inputs):
        by_length.setdefault(len(tokens), []).append(i)
    split = Split()
    for n in sorted(by_length):
        members = by_length[n]
        group_inputs = [inputs[i] for i in members]
        group_outputs = [outputs[i] for i in members]
        x = np.array([[token_code[t] for t in tokens] for tokens in group_inputs])
        y = np.array([[class_code.get(v, -1) for v in out] for out in group_outputs])
        split.groups.append(Group(group_inputs, group_outputs, x.reshape(len(members), n),
                                  y.reshape(len(members), n), program.selections(group_inputs),
                                  members))
    return split


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


JSONL_FILES = ("train.jsonl", "val.jsonl", "test.jsonl", "meta.json")  # meta.json last


def write_jsonl(dataset: Dataset, out: Path, selections: bool = False,
                force: bool = False) -> list[Path]:
    """DIR/{train,val,test}.jsonl, one input a line: {"input": [...], "output": [...]} and,
    with `selections`, "selections": {"L1H1": [[selected keys of query 0], ...], ...};
    DIR/meta.json describes the data. Returns the files written.

    The folder is the run's while it writes (rasp.files.claim_folder): a folder holding
    another dataset's files is refused (FolderTakenError) unless `force`. Each file is
    written atomically and meta.json last, so a folder with a meta.json holds one whole
    dataset."""
    with claim_folder(out, "dataset", JSONL_FILES, "meta.json", force=force):
        written = []
        for name in ("train", "val", "test"):
            path = out / f"{name}.jsonl"
            with atomic(path, "w") as f:
                for tokens, output, sel in getattr(dataset, name).records():
                    f.write(json_text(_record(dataset, tokens, output, sel, selections),
                                       ensure_ascii=False) + "\n")
            written.append(path)
        meta = write_atomic(out / "meta.json", json_text(dataset.describe(), indent=1,
                                                          ensure_ascii=False) + "\n")
    return [*written, meta]


def _record(dataset: Dataset, tokens: list, output: list, sel: np.ndarray,
            selections: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"input": [_jsonable(t) for t in tokens],
                              "output": [_jsonable(v) for v in output]}
    if selections:
        record["selections"] = {h.key: [np.flatnonzero(row).tolist() for row in sel[k]]
                                for k, h in enumerate(dataset.heads)}
    return record
