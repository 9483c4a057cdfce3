"""A compiled transformer: its weights in the `rasp-transformer/1` format, the reference forward
pass, decoding, and saving and loading the `.npz` file (docs/compiling.md).

The forward pass needs numpy alone: `reference_forward(arrays, config, token_ids)` is what any
numpy user would write from the format's description.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RaspValueError
from ..files import atomic
from .valuesets import key

FORMAT = "rasp-transformer/1"


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax, in the stable form (the row's largest logit subtracted first)."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def reference_forward(arrays: dict[str, np.ndarray], config: dict,
                      token_ids: np.ndarray) -> np.ndarray:
    """The format's forward pass on a batch of inputs of one length: `token_ids` [B, n] holds
    rows of embed.token (vocab[i] is row i + 1); returns y [B, n, n_out]."""
    ids = np.concatenate([np.zeros((len(token_ids), 1), dtype=np.int64), token_ids], axis=1)
    x = arrays["embed.token"][ids] + arrays["embed.position"][: ids.shape[1]]
    for number, layer in enumerate(config["layers"]):
        prefix = f"layer{number}"
        if layer["heads"]:
            update = np.zeros_like(x)
            for h in range(layer["heads"]):
                head = f"{prefix}.head{h}"
                q = x @ arrays[f"{head}.query"]
                k = x @ arrays[f"{head}.key"]
                v = x @ arrays[f"{head}.value"]
                update += _softmax(q @ k.transpose(0, 2, 1)) @ v @ arrays[f"{head}.output"]
            x = x + update
        if layer["mlp"]:
            h = x
            for j in range(layer["mlp"]):
                if j:
                    h = np.maximum(h, 0.0)
                h = h @ arrays[f"{prefix}.mlp.{j}.weight"] + arrays[f"{prefix}.mlp.{j}.bias"]
            x = x + h
    return x[:, 1:] @ arrays["unembed"]


def _used(matrix: np.ndarray, axis: int) -> np.ndarray:
    """Indices of the rows (axis 1) or columns (axis 0) of `matrix` that are not all zero."""
    return np.flatnonzero(np.any(matrix != 0, axis=axis))


def compact_forward(arrays: dict[str, np.ndarray], config: dict,
                    token_ids: np.ndarray) -> np.ndarray:
    """`reference_forward` restricted to the rows and columns of each matrix that are not
    all zero: the same sums without their zero terms, many times faster on compiled models,
    whose blocks read and write few dimensions each."""
    ids = np.concatenate([np.zeros((len(token_ids), 1), dtype=np.int64), token_ids], axis=1)
    x = arrays["embed.token"][ids] + arrays["embed.position"][: ids.shape[1]]
    for number, layer in enumerate(config["layers"]):
        prefix = f"layer{number}"
        if layer["heads"]:
            update = np.zeros_like(x)
            for h in range(layer["heads"]):
                head = f"{prefix}.head{h}"
                parts = []
                for name in ("query", "key", "value"):
                    m = arrays[f"{head}.{name}"]
                    rows = _used(m, 1)
                    parts.append(x[..., rows] @ m[rows])
                q, k, v = parts
                out = arrays[f"{head}.output"]
                cols = _used(out, 0)
                update[..., cols] += _softmax(q @ k.transpose(0, 2, 1)) @ v @ out[:, cols]
            x = x + update
        if layer["mlp"]:
            last = layer["mlp"] - 1
            w = arrays[f"{prefix}.mlp.0.weight"]
            rows = _used(w, 1)
            h = x[..., rows] @ w[rows] + arrays[f"{prefix}.mlp.0.bias"]
            for j in range(1, layer["mlp"]):
                w = arrays[f"{prefix}.mlp.{j}.weight"]
                b = arrays[f"{prefix}.mlp.{j}.bias"]
                if j == last:
                    cols = np.union1d(_used(w, 0), np.flatnonzero(b))
                    x = x.copy()
                    x[..., cols] += np.maximum(h, 0.0) @ w[:, cols] + b[cols]
                else:
                    h = np.maximum(h, 0.0) @ w + b
            if last == 0:
                x = x + h
    unembed = arrays["unembed"]
    rows = _used(unembed, 1)
    return x[:, 1:][..., rows] @ unembed[rows]


class Model:
    """A compiled RASP program: `forward(tokens)` gives the program's values."""

    def __init__(self, arrays: dict[str, np.ndarray], config: dict):
        self.arrays = arrays
        self.config = config
        self.vocab = list(config["vocab"])
        self._ids = {_token_key(t): i + 1 for i, t in enumerate(self.vocab)}

    @property
    def max_len(self) -> int:
        return int(self.config["max_len"])

    @property
    def parameters(self) -> int:
        return int(sum(a.size for a in self.arrays.values()))

    @property
    def nonzero(self) -> int:
        return int(sum(np.count_nonzero(a) for a in self.arrays.values()))

    @property
    def heads_per_layer(self) -> list[int]:
        return [layer["heads"] for layer in self.config["layers"][1:]]

    def token_ids(self, tokens: Sequence[Any]) -> list[int]:
        """Rows of embed.token for an input; a clear error for what the model cannot read."""
        items = list(tokens)
        if not items:
            raise RaspValueError("an input must not be empty")
        if len(items) > self.max_len:
            raise RaspValueError(f"the input has {len(items)} tokens, more than the "
                                 f"model's max_len {self.max_len}")
        ids = []
        for position, t in enumerate(items):
            i = self._ids.get(_token_key(t))
            if i is None:
                raise RaspValueError(f"token {t!r} at position {position} is not in the "
                                     f"model's vocabulary {self.vocab!r}")
            ids.append(i)
        return ids

    def raw(self, batch: Sequence[Sequence[Any]], compact: bool = False) -> np.ndarray:
        """y [B, n, n_out] for inputs of one length (`compact`: see compact_forward)."""
        ids = np.array([self.token_ids(t) for t in batch], dtype=np.int64)
        forward = compact_forward if compact else reference_forward
        return forward(self.arrays, self.config, ids)

    def decode(self, y: np.ndarray) -> list:
        output = self.config["output"]
        if output["kind"] == "numerical":
            return [float(v) for v in y[..., 0].ravel()]
        values = output["values"]
        if not values:
            raise RaspValueError("the program has no value on any input within the model's "
                                 "vocabulary and max_len (the interpreter raises on all)")
        return [values[i] for i in np.argmax(y, axis=-1).ravel()]

    def forward(self, tokens: Sequence[Any]) -> list:
        """The program's value on one input (a string is a sequence of characters)."""
        items = list(tokens)
        return self.decode(self.raw([items])[0])

    def forward_batch(self, batch: Sequence[Sequence[Any]], compact: bool = False) -> list[list]:
        """The values on inputs of one length, computed together."""
        y = self.raw([list(t) for t in batch], compact)
        return [self.decode(row) for row in y]

    def save(self, path: str | Path) -> Path:
        """Write the model's `.npz` file, atomically (an interrupted save leaves the old file
        as it was); returns the path written: `path`, with ".npz" added when it lacks it, as
        numpy.savez names it. A write that fails raises its OSError."""
        target = npz_path(path)
        arrays: dict[str, Any] = dict(self.arrays, config=np.array(json.dumps(self.config)))
        with atomic(target, "wb") as f:
            np.savez(f, **arrays)
        return target

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """The model saved at `path`. A file that is not a whole `rasp-transformer/1` model
        (not a zip, a bad config, arrays missing or of the wrong shape, NaN or infinite
        weights) is one RaspValueError naming the file and the fault; every array's shape is
        checked against the config before its data is read. Never unpickles."""
        try:
            with zipfile.ZipFile(path) as archive:
                config, arrays = _read_model(archive)
        except _Damaged as e:
            raise RaspValueError(f"{path}: {e}") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as e:
            raise RaspValueError(f"{path}: not a {FORMAT} model file (a damaged or "
                                 f"truncated .npz: {e})") from None
        return cls(arrays, config)

    @property
    def hidden(self) -> list[int]:
        """Hidden units of each layer's feed-forward block (0 where it has none)."""
        return [sum(self.arrays[f"layer{i}.mlp.{j}.weight"].shape[1]
                    for j in range(layer["mlp"] - 1))
                for i, layer in enumerate(self.config["layers"])]

    def summary(self) -> str:
        c = self.config
        heads = "/".join(str(h) for h in self.heads_per_layer) or "-"
        mlps = ", ".join(f"{i}: {w}" for i, w in enumerate(self.hidden) if w)
        layers = len(c["layers"]) - 1
        lines = [f"{c['program']}: {layers} layer{'' if layers == 1 else 's'}, heads per "
                 f"layer {heads}, "
                 f"d_model {c['d_model']}, {self.parameters:,} parameters "
                 f"({self.nonzero:,} nonzero)",
                 f"  vocab {_short(c['vocab'])}, max_len {c['max_len']}, output "
                 f"{c['output']['kind']}"
                 + (f" over {len(c['output']['values'])} values"
                    if c['output']['kind'] == "categorical" else "")]
        if mlps:
            lines.append(f"  feed-forward hidden units by layer: {mlps}")
        return "\n".join(lines)


def npz_path(path: str | Path) -> Path:
    """The file numpy.savez writes for `path`: ".npz" added unless it ends so already."""
    text = str(path)
    return Path(text if text.endswith(".npz") else text + ".npz")


class _Damaged(Exception):
    """What is wrong with a model file's contents (Model.load adds the file's name)."""


_ATOMS = (str, int, float, bool)
MAX_CONFIG_BYTES = 1 << 26  # a config is JSON text of a few kilobytes to megabytes


def _read_model(archive: zipfile.ZipFile) -> tuple[dict, dict[str, np.ndarray]]:
    """The config and arrays of an open .npz, checked: headers first, then the data."""
    members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
    if len(members) != len(archive.infolist()):
        raise _Damaged("it holds an array twice")
    if "config" not in members:
        raise _Damaged(f"not a {FORMAT} model file (it has no 'config' array)")
    shapes = {name: _header(archive, info)[0] for name, info in members.items()}
    config = _read_config(archive, members.pop("config"))
    expected = _expected_shapes(config, {name: shapes[name] for name in members})
    arrays = {}
    for name in expected:
        with archive.open(members[name]) as f:
            array = np.lib.format.read_array(f, allow_pickle=False)
        if not np.all(np.isfinite(array)):
            raise _Damaged(f"array '{name}' holds NaN or infinite weights")
        arrays[name] = array
    return config, arrays


def _header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], np.dtype]:
    """An array's shape and dtype from its .npy header, its data unread; _Damaged when the
    header is not one, or declares more or fewer bytes than the member holds."""
    name = info.filename.removesuffix(".npy")
    if not info.filename.endswith(".npy"):
        raise _Damaged(f"'{info.filename}' is not a numpy array")
    with archive.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f"npy format version {version[0]}.{version[1]}")
            shape, _, dtype = read(f)
        except ValueError as e:
            raise _Damaged(f"array '{name}' has a damaged header ({e})") from None
        if dtype.hasobject:
            raise _Damaged(f"array '{name}' holds Python objects, which rasp never unpickles")
        if dtype.kind != ("U" if name == "config" else "f"):
            raise _Damaged(f"array '{name}' holds {dtype} values, not "
                           + ("text" if name == "config" else "floating-point weights"))
        declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if declared != info.file_size - f.tell():
            raise _Damaged(f"array '{name}' declares shape {tuple(shape)} ({declared:,} bytes) "
                           f"but holds {info.file_size - f.tell():,} bytes")
    return tuple(shape), dtype


def _read_config(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict:
    shape, _ = _header(archive, info)
    if shape != () or info.file_size > MAX_CONFIG_BYTES:
        raise _Damaged("its 'config' is not a string of JSON")
    with archive.open(info) as f:
        text = str(np.lib.format.read_array(f, allow_pickle=False))
    try:
        config = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise _Damaged(f"its config is not JSON ({e})") from None
    problem = _config_problem(config)
    if problem:
        raise _Damaged(f"not a {FORMAT} model: its config {problem}")
    return config


def _config_problem(config: Any) -> str | None:
    """What is wrong with a model's config, or None."""
    def count(value: Any, least: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= least

    if not isinstance(config, dict) or config.get("format") != FORMAT:
        return f"does not say \"format\": \"{FORMAT}\""
    vocab, layers, output = config.get("vocab"), config.get("layers"), config.get("output")
    if (not isinstance(vocab, list) or not vocab
            or not all(isinstance(t, _ATOMS) for t in vocab)
            or len({_token_key(t) for t in vocab}) != len(vocab)):
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


def _expected_shapes(config: dict, shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """The arrays the config asks for, in order, each checked against its declared shape
    (`shapes`, from the headers); _Damaged for one missing, extra or of the wrong shape."""
    d = config["d_model"]
    output = config["output"]
    n_out = 1 if output["kind"] == "numerical" else len(output["values"])
    wanted: dict[str, tuple[int | None, ...]] = {
        "embed.token": (len(config["vocab"]) + 1, d),
        "embed.position": (config["max_len"] + 1, d), "unembed": (d, n_out)}
    for number, layer in enumerate(config["layers"]):
        for h in range(layer["heads"]):
            head = f"layer{number}.head{h}"
            k = _dimension(shapes, f"{head}.query", 1)
            v = _dimension(shapes, f"{head}.value", 1)
            wanted |= {f"{head}.query": (d, k), f"{head}.key": (d, k),
                       f"{head}.value": (d, v), f"{head}.output": (v, d)}
        width = d
        for j in range(layer["mlp"]):
            prefix = f"layer{number}.mlp.{j}"
            out = d if j == layer["mlp"] - 1 else _dimension(shapes, f"{prefix}.weight", 1)
            wanted |= {f"{prefix}.weight": (width, out), f"{prefix}.bias": (out,)}
            width = out
    for name, shape in wanted.items():
        if name not in shapes:
            raise _Damaged(f"the array '{name}' that its config needs is missing")
        if shapes[name] != shape:
            raise _Damaged(f"array '{name}' has shape {shapes[name]}, its config needs "
                           f"{shape}")
    extra = sorted(set(shapes) - set(wanted))
    if extra:
        raise _Damaged(f"array '{extra[0]}' is not part of a model its config describes")
    return list(wanted)


def _dimension(shapes: dict[str, tuple[int, ...]], name: str, axis: int) -> int:
    """A free dimension (a head's width, a hidden layer's units), as the array declares it."""
    shape = shapes.get(name)
    if shape is None:
        raise _Damaged(f"the array '{name}' that its config needs is missing")
    if len(shape) != 2:
        raise _Damaged(f"array '{name}' has shape {shape}, not a matrix")
    return shape[axis]


def _token_key(t: Any) -> tuple:
    return key(t)


def _short(items: list) -> str:
    text = json.dumps(items)
    return text if len(text) <= 60 else text[:57] + "..."
