"""A model's `.npz` file: written whole or not at all, and read only once every array's
header, shape and the config have been checked against each other (docs/compiling.md, the
format; docs/cli.md, output files). Never unpickles.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RaspValueError
from ..files import atomic
from . import names
from .valuesets import key

FORMAT = "rasp-transformer/1"


def save(arrays: dict[str, np.ndarray], config: dict, path: str | Path) -> Path:
    """Write the `.npz` file atomically (an interrupted save leaves the old file as it was);
    returns the path written: `path`, with ".npz" added when it lacks it, as numpy.savez names
    it. A write that fails raises its OSError."""
    target = npz_path(path)
    contents: dict[str, Any] = dict(arrays)
    contents[names.CONFIG] = np.array(json.dumps(config))
    with atomic(target, "wb") as f:
        np.savez(f, **contents)
    return target


def load(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The config and arrays saved at `path`. A file that is not a whole model (not a zip, a
    bad config, arrays missing or of the wrong shape, NaN or infinite weights) is one
    RaspValueError naming the file and the fault."""
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_model(archive)
    except Damaged as e:
        raise RaspValueError(f"{path}: {e}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as e:
        raise RaspValueError(f"{path}: not a {FORMAT} model file (a damaged or "
                             f"truncated .npz: {e})") from None


def npz_path(path: str | Path) -> Path:
    """The file numpy.savez writes for `path`: ".npz" added unless it ends so already."""
    text = str(path)
    return Path(text if text.endswith(".npz") else text + ".npz")


def unfit_target(path: str | Path) -> str | None:
    """Why `path` cannot name a model file, or None: a folder (the model would land beside it,
    as FOLDER.npz) or something that is not a regular file (/dev/null: it would be
    /dev/null.npz), either as given or with ".npz" added."""
    for given in dict.fromkeys((Path(path), npz_path(path))):
        if given.is_dir():
            return f"{given} is a folder: give the model file's name ({given / 'model.npz'})"
        if given.exists() and not given.is_file():
            return f"{given} is not a regular file: give the model file's name (model.npz)"
    return None


class Damaged(Exception):
    """What is wrong with a model file's contents (Model.load adds the file's name)."""


_ATOMS = (str, int, float, bool)
MAX_CONFIG_BYTES = 1 << 26  # a config is JSON text of a few kilobytes to megabytes


def _read_model(archive: zipfile.ZipFile) -> tuple[dict, dict[str, np.ndarray]]:
    """The config and arrays of an open .npz, checked: headers first, then the data."""
    members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
    if len(members) != len(archive.infolist()):
        raise Damaged("it holds an array twice")
    if names.CONFIG not in members:
        raise Damaged(f"not a {FORMAT} model file (it has no 'config' array)")
    shapes = {name: _header(archive, info)[0] for name, info in members.items()}
    config = _read_config(archive, members.pop(names.CONFIG))
    expected = expected_shapes(config, {name: shapes[name] for name in members})
    arrays = {}
    for name in expected:
        with archive.open(members[name]) as f:
            array = np.lib.format.read_array(f, allow_pickle=False)
        if not np.all(np.isfinite(array)):
            raise Damaged(f"array '{name}' holds NaN or infinite weights")
        arrays[name] = array
    return config, arrays


def _header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], np.dtype]:
    """An array's shape and dtype from its .npy header, its data unread; Damaged when the
    header is not one, or declares more or fewer bytes than the member holds."""
    name = info.filename.removesuffix(".npy")
    if not info.filename.endswith(".npy"):
        raise Damaged(f"'{info.filename}' is not a numpy array")
    with archive.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f"npy format version {version[0]}.{version[1]}")
            shape, _, dtype = read(f)
        except ValueError as e:
            raise Damaged(f"array '{name}' has a damaged header ({e})") from None
        if dtype.hasobject:
            raise Damaged(f"array '{name}' holds Python objects, which rasp never unpickles")
        if dtype.kind != ("U" if name == names.CONFIG else "f"):
            raise Damaged(f"array '{name}' holds {dtype} values, not "
                           + ("text" if name == names.CONFIG else "floating-point weights"))
        declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if declared != info.file_size - f.tell():
            raise Damaged(f"array '{name}' declares shape {tuple(shape)} ({declared:,} bytes) "
                           f"but holds {info.file_size - f.tell():,} bytes")
    return tuple(shape), dtype


def _read_config(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict:
    shape, _ = _header(archive, info)
    if shape != () or info.file_size > MAX_CONFIG_BYTES:
        raise Damaged("its 'config' is not a string of JSON")
    with archive.open(info) as f:
        text = str(np.lib.format.read_array(f, allow_pickle=False))
    try:
        config = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise Damaged(f"its config is not JSON ({e})") from None
    problem = config_problem(config)
    if problem:
        raise Damaged(f"not a {FORMAT} model: its config {problem}")
    return config


def config_problem(config: Any) -> str | None:
    """What is wrong with a model's config, or None."""
    def count(value: Any, least: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= least

    if not isinstance(config, dict) or config.get("format") != FORMAT:
        return f"does not say \"format\": \"{FORMAT}\""
    vocab, layers, output = config.get("vocab"), config.get("layers"), config.get("output")
    if (not isinstance(vocab, list) or not vocab
            or not all(isinstance(t, _ATOMS) for t in vocab)
            or len({key(t) for t in vocab}) != len(vocab)):
        return "has no vocab of distinct tokens"
    if not count(config.get("max_len"), 1) or not count(config.get("d_model"), 1):
        return "needs max_len and d_model, whole numbers of at least 1"
    if (not isinstance(layers, list) or not layers
            or not all(isinstance(layer, dict) and count(layer.get("heads"), 0)
                       and count(layer.get("mlp"), 0) for layer in layers)):
        return "needs layers, each with a count of heads and of mlp maps"
    if (not isinstance(output, dict) or output.get("kind") not in ("numerical", "categorical")
            or not isinstance(output.get("values"), list)):
        return "needs an output with a kind (numerical or categorical) and values"
    if not isinstance(config.get("program", ""), str):
        return "names its program by something other than a string"
    return None


def expected_shapes(config: dict, shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """The arrays the config asks for, in order, each checked against its declared shape
    (`shapes`, from the headers); Damaged for one missing, extra or of the wrong shape."""
    d = config["d_model"]
    output = config["output"]
    n_out = 1 if output["kind"] == "numerical" else len(output["values"])
    wanted: dict[str, tuple[int | None, ...]] = {
        names.TOKEN_EMBEDDING: (len(config["vocab"]) + 1, d),
        names.POSITION_EMBEDDING: (config["max_len"] + 1, d), names.UNEMBEDDING: (d, n_out)}
    for number, layer in enumerate(config["layers"]):
        for h in range(layer["heads"]):
            head = names.head(number, h)
            k = _dimension(shapes, head.query, 1)
            v = _dimension(shapes, head.value, 1)
            wanted |= {head.query: (d, k), head.key: (d, k), head.value: (d, v),
                       head.output: (v, d)}
        width = d
        for j in range(layer["mlp"]):
            mlp = names.mlp(number, j)
            out = d if j == layer["mlp"] - 1 else _dimension(shapes, mlp.weight, 1)
            wanted |= {mlp.weight: (width, out), mlp.bias: (out,)}
            width = out
    for name, shape in wanted.items():
        if name not in shapes:
            raise Damaged(f"the array '{name}' that its config needs is missing")
        if shapes[name] != shape:
            raise Damaged(f"array '{name}' has shape {shapes[name]}, its config needs "
                           f"{shape}")
    extra = sorted(set(shapes) - set(wanted))
    if extra:
        raise Damaged(f"array '{extra[0]}' is not part of a model its config describes")
    return list(wanted)


def _dimension(shapes: dict[str, tuple[int, ...]], name: str, axis: int) -> int:
    """A free dimension (a head's width, a hidden layer's units), as the array declares it."""
    shape = shapes.get(name)
    if shape is None:
        raise Damaged(f"the array '{name}' that its config needs is missing")
    if len(shape) != 2:
        raise Damaged(f"array '{name}' has shape {shape}, not a matrix")
    return shape[axis]
