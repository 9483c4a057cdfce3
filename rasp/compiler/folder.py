"""A model's shared folder, as the model hubs lay them out (docs/interop.md): `model.safetensors`
(the arrays in float64 under the `.npz` names, the config in its metadata; no pickle),
`config.json` (our config, TransformerLens's, the program's target and the SHA-256 of every
file the weights depend on; written last), `program.rasp` (the source, so that the model can
be verified again) and a `README.md` model card.

Reading needs numpy alone: the safetensors format is an 8-byte header length, a JSON header
and the raw little-endian data, read here and checked before use (offsets, shapes, the SHA-256
sums, the config, as modelfile checks an `.npz`). The folder is written by rasp.interop.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RaspValueError
from .modelfile import FORMAT, Damaged, config_problem, expected_shapes

WEIGHTS, CONFIG, PROGRAM, CARD = "model.safetensors", "config.json", "program.rasp", "README.md"
FILES = (WEIGHTS, PROGRAM, CARD, CONFIG)  # in the order written: config.json last
MAX_HEADER = 1 << 26


@dataclass(frozen=True)
class Source:
    """The program a model was compiled from: its text and the s-op it compiled (NAME)."""

    text: str
    target: str

    @property
    def sha256(self) -> str:
        return sha256(self.text.encode("utf-8"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safetensors_bytes(arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """The arrays (float64) and a str -> str metadata map in the safetensors format."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset, chunks = 0, []
    for name, array in arrays.items():
        data = np.ascontiguousarray(array, dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as safetensors writes
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def read_safetensors(data: bytes) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """The metadata and the float64 arrays of a safetensors file's bytes; Damaged when the
    header is not one or its offsets do not tile the data exactly."""
    if len(data) < 8:
        raise Damaged("not a safetensors file (shorter than its header's length)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(MAX_HEADER, len(data) - 8):
        raise Damaged("not a safetensors file (its header's length is out of range)")
    try:
        header = json.loads(data[8: 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise Damaged("not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise Damaged("not a safetensors file (its header is not a JSON object)")
    metadata = header.pop("__metadata__", {})
    body = memoryview(data)[8 + size:]
    arrays, end = {}, 0
    for name, entry in sorted(header.items(), key=lambda item: _offsets(item)[0]):
        begin, stop = _offsets((name, entry))
        shape = entry.get("shape")
        if entry.get("dtype") != "F64" or not isinstance(shape, list):
            raise Damaged(f"array '{name}' is not float64 weights")
        if begin != end or stop - begin != 8 * int(np.prod(shape, dtype=object)):
            raise Damaged(f"array '{name}' has offsets that do not match its shape")
        arrays[name] = np.frombuffer(body[begin:stop], dtype="<f8").reshape(shape).copy()
        end = stop
    if end != len(body):
        raise Damaged("its data is longer than its arrays")
    if not isinstance(metadata, dict):
        raise Damaged("its metadata is not a map of strings")
    return metadata, arrays


def _offsets(item: tuple[str, Any]) -> tuple[int, int]:
    name, entry = item
    offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets) or offsets[0] > offsets[1]):
        raise Damaged(f"array '{name}' has no valid data_offsets")
    return offsets[0], offsets[1]


def load_folder(path: str | Path) -> tuple[dict, dict[str, np.ndarray], Source]:
    """The config, arrays and program of a shared folder, every file checked against the
    SHA-256 sums in config.json first: one RaspValueError naming the folder and the fault."""
    folder = Path(path)
    try:
        return _read(folder)
    except Damaged as e:
        raise RaspValueError(f"{folder}: {e}") from None


def _read(folder: Path) -> tuple[dict, dict[str, np.ndarray], Source]:
    manifest = _json(_bytes(folder, CONFIG))
    sums = manifest.get("sha256") if isinstance(manifest, dict) else None
    program = manifest.get("program") if isinstance(manifest, dict) else None
    if (not isinstance(sums, dict) or not isinstance(program, dict)
            or not isinstance(program.get("target"), str)):
        raise Damaged(f"its {CONFIG} is not that of a {FORMAT} folder (no sha256, program)")
    found = {}
    for name in (WEIGHTS, PROGRAM):
        data = _bytes(folder, name)
        if sha256(data) != sums.get(name):
            raise Damaged(f"{name} was changed after the model was saved (its SHA-256 is "
                           f"not the one {CONFIG} records): refusing to use it")
        found[name] = data
    config = manifest.get("config")
    problem = config_problem(config)
    if problem:
        raise Damaged(f"not a {FORMAT} model: its config {problem}")
    _, arrays = read_safetensors(found[WEIGHTS])
    names = expected_shapes(config, {n: a.shape for n, a in arrays.items()})
    for name in names:
        if not np.all(np.isfinite(arrays[name])):
            raise Damaged(f"array '{name}' holds NaN or infinite weights")
    try:
        text = found[PROGRAM].decode("utf-8")
    except UnicodeDecodeError:
        raise Damaged(f"its {PROGRAM} is not UTF-8 text") from None
    return config, {n: arrays[n] for n in names}, Source(text, program["target"])


def _bytes(folder: Path, name: str) -> bytes:
    try:
        return (folder / name).read_bytes()
    except FileNotFoundError:
        raise Damaged(f"{name} is missing (a shared model folder holds "
                       f"{', '.join(FILES)})") from None
    except OSError as e:
        raise Damaged(f"cannot read {name}: {e.strerror or e}") from None


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise Damaged(f"its {CONFIG} is not JSON ({e})") from None
