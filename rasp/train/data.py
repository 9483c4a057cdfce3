"""Datasets from RASP programs: sampled inputs, the program's outputs on them, and every
analysed head's selection matrix (the attention target). numpy and the rasp core only, so that
`rasp dataset` runs without torch.

Inputs are drawn by a sampler (sampling.py) from a seeded generator: the same seed gives the
same data. All inputs of a dataset are distinct, so test inputs are never seen in training. Each
split keeps its inputs grouped by length: a training batch is drawn from one group and needs no
padding. The test split may be drawn at other lengths than training (`test_lengths`), to
measure length generalisation.

A causal dataset is a decoder's: the target at position i is the s-op's value there under
causal semantics, which by the prefix property is its value at the last position of the
prefix x[:i+1], the token that generation appends after that prefix (the next-token target);
each head's selection keeps only keys at or before the query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RaspError, RaspValueError
from ..files import atomic, claim_folder, json_text, write_atomic
from ..interpreter import Interpreter
from .program import HeadSpec, Program, load_program
from .sampling import UniformSampler, check_alphabet, make_sampler, sample_inputs

__all__ = ["Dataset", "Group", "Split", "make_dataset", "write_jsonl", "write_next_token"]


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
    lengths: tuple[int, int]  # of the training and validation inputs
    bos: Any  # a token put before every input, or None
    sampler: str
    seed: int
    vocab: list  # token codes: the BOS first, then the alphabet
    classes: list  # output codes: the values seen in training, sorted
    train: Split
    val: Split
    test: Split
    test_lengths: tuple[int, int] | None = None  # None: the training lengths
    causal: bool = False

    @property
    def heads(self) -> list[HeadSpec]:
        return self.program.heads

    @property
    def first_scored(self) -> int:
        """Positions before this one (the BOS) are not outputs: no loss, no accuracy."""
        return 1 if self.bos is not None else 0

    def describe(self) -> dict:
        """The dataset's provenance, for config.json and the data folder's meta.json: the
        program's file as given and as an absolute path (to find it again from elsewhere)."""
        file = self.program.file
        return {"file": file, "path": None if file is None else str(Path(file).resolve()),
                "name": self.program.name,
                "program_sha256": hashlib.sha256(self.program.source.encode()).hexdigest(),
                "analysis": self.program.analysis.to_json(),
                "heads": [h.to_json() for h in self.heads],
                "alphabet": self.alphabet, "lengths": list(self.lengths),
                "test_lengths": None if self.test_lengths is None else list(self.test_lengths),
                "causal": self.causal, "bos": self.bos,
                "sampler": self.sampler, "seed": self.seed, "vocab": self.vocab,
                "classes": self.classes, "sizes": {"train": self.train.size,
                                                   "val": self.val.size,
                                                   "test": self.test.size}}


def _sort_key(value: Any) -> tuple:
    return (type(value).__name__, value)


def make_dataset(program: Program | Interpreter | str, name: str | None = None, *,
                 alphabet: Sequence[Any] | str = "abcdefgh", lengths: tuple[int, int] = (1, 16),
                 n_train: int = 10_000, n_val: int = 500, n_test: int = 1000, bos: Any = None,
                 sampler: str = "uniform", seed: int = 0,
                 test_lengths: tuple[int, int] | None = None, causal: bool = False) -> Dataset:
    """Sample distinct inputs, split them, and evaluate the program and its heads on them.

    `program` is a Program, or a session (an Interpreter) or a .rasp file with the s-op's
    `name`. Inputs are drawn over `alphabet` with lengths in `lengths` (inclusive, without
    the BOS), the test inputs in `test_lengths` if given; `bos` is put before every input,
    for programs that read one. `causal` makes a decoder's data (next-token targets, see the
    module's text); a program that reads the future is refused (RaspValueError)."""
    if not isinstance(program, Program):
        if name is None:
            raise RaspValueError("make_dataset needs the s-op's name")
        program = (Program(program, name) if isinstance(program, Interpreter)
                   else load_program(str(program), name))
    for what, pair in (("lengths", lengths), ("test lengths", test_lengths or lengths)):
        if not 1 <= pair[0] <= pair[1]:
            raise RaspValueError(f"{what} {pair[0]}:{pair[1]}: need 1 <= min <= max")
    if min(n_train, n_val, n_test) < 1:
        raise RaspValueError("--train, --val and --test need at least one input each")
    if causal:
        program.check_causal()
    symbols = check_alphabet(alphabet, bos)
    inputs = _inputs(make_sampler(sampler, symbols, lengths), (n_train, n_val, n_test), seed,
                     None if test_lengths is None else make_sampler(sampler, symbols,
                                                                    test_lengths))
    if bos is not None:
        inputs = [[bos, *tokens] for tokens in inputs]
    try:
        outputs = program.outputs(inputs, causal)
    except RaspError as e:
        raise RaspValueError(f"'{program.name}' cannot read inputs over the alphabet "
                             f"{''.join(map(str, symbols))!r}: {e.message}") from None
    vocab = ([bos] if bos is not None else []) + symbols
    first = 1 if bos is not None else 0
    classes = sorted({v for out in outputs[:n_train] for v in out[first:]}, key=_sort_key)
    cuts = [(0, n_train), (n_train, n_train + n_val), (n_train + n_val, len(inputs))]
    train, val, test = (_split(program, inputs[a:b], outputs[a:b], vocab, classes, causal)
                        for a, b in cuts)
    return Dataset(program, symbols, lengths, bos, sampler, seed, vocab, classes, train, val,
                   test, test_lengths=test_lengths, causal=causal)


def _inputs(draw: UniformSampler, sizes: tuple[int, int, int], seed: int,
            draw_test: UniformSampler | None) -> list[list]:
    """Distinct inputs, train then val then test. Without `draw_test`, all drawn together
    and shuffled; with it, the test inputs are drawn by it, none equal to a training or
    validation input."""
    if draw_test is None:
        inputs = sample_inputs(draw, sum(sizes), seed)
        order = np.random.default_rng(seed + 1).permutation(len(inputs))
        return [inputs[i] for i in order]
    seen = sample_inputs(draw, sizes[0] + sizes[1], seed)
    return seen + sample_inputs(draw_test, sizes[2], seed + 2, exclude={tuple(t) for t in seen})


def _split(program: Program, inputs: list[list], outputs: list[list], vocab: list,
           classes: list, causal: bool) -> Split:
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
                                  y.reshape(len(members), n),
                                  program.selections(group_inputs, causal), members))
    return split


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


SPLITS = ("train", "val", "test")
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
    def records(split: str) -> Iterator[dict[str, Any]]:
        for tokens, output, sel in getattr(dataset, split).records():
            yield _record(dataset, tokens, output, sel, selections)
    return _write(dataset, out, records, dataset.describe(), force)


def write_next_token(dataset: Dataset, out: Path, steps: int, until: Any = None,
                     force: bool = False) -> list[Path]:
    """The next-token format, for generation tasks: each input of the dataset is a prompt,
    one a line {"prompt": [...], "target": [...]}, the target being the `steps` tokens (fewer
    if one is `until`) that generation appends after it: each the s-op's value at the last
    position of the sequence so far, under causal semantics if the dataset is causal.
    A value that is not in the dataset's vocabulary is refused (RaspValueError), before
    anything is written. Files and folder as write_jsonl's; meta.json also holds "format",
    "steps" and "until"."""
    rows = {split: [_generated(dataset, tokens, steps, until)
                    for tokens, _, _ in getattr(dataset, split).records()]
            for split in SPLITS}
    meta = dataset.describe() | {"format": "next-token", "steps": steps, "until": until}
    return _write(dataset, out, lambda split: iter(rows[split]), meta, force)


def _generated(dataset: Dataset, prompt: list, steps: int, until: Any) -> dict[str, Any]:
    sequence = dataset.program.generate(prompt, steps, until, dataset.vocab, dataset.causal)
    return {"prompt": [_jsonable(t) for t in prompt],
            "target": [_jsonable(t) for t in sequence[len(prompt):]]}


def _write(dataset: Dataset, out: Path, records: Callable[[str], Iterator[dict]],
           meta: dict, force: bool) -> list[Path]:
    with claim_folder(out, "dataset", JSONL_FILES, "meta.json", force=force):
        written = []
        for name in SPLITS:
            path = out / f"{name}.jsonl"
            with atomic(path, "w") as f:
                for record in records(name):
                    f.write(json_text(record, ensure_ascii=False) + "\n")
            written.append(path)
        described = write_atomic(out / "meta.json", json_text(meta, indent=1,
                                                               ensure_ascii=False) + "\n")
    return [*written, described]


def _record(dataset: Dataset, tokens: list, output: list, sel: np.ndarray,
            selections: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"input": [_jsonable(t) for t in tokens],
                              "output": [_jsonable(v) for v in output]}
    if selections:
        record["selections"] = {h.key: [np.flatnonzero(row).tolist() for row in sel[k]]
                                for k, h in enumerate(dataset.heads)}
    return record
