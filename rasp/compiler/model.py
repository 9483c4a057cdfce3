"""A compiled transformer: its weights in the `rasp-transformer/1` format, the reference forward
pass, decoding, and saving and loading the `.npz` file (docs/compiling.md).

The forward pass needs numpy alone: `reference_forward(arrays, config, token_ids)`
(activations.py, which also keeps every activation) is what any numpy user would write from
the format's description.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RaspValueError
from ..generation import generate
from . import activations, folder, modelfile, names
from .activations import Activations, embed, reference_forward, scores, softmax
from .graph import heads_per_layer_text
from .valuesets import key


def _used(matrix: np.ndarray, axis: int) -> np.ndarray:
    """Indices of the rows (axis 1) or columns (axis 0) of `matrix` that are not all zero."""
    return np.flatnonzero(np.any(matrix != 0, axis=axis))


def compact_forward(arrays: dict[str, np.ndarray], config: dict,
                    token_ids: np.ndarray) -> np.ndarray:
    """`reference_forward` restricted to the rows and columns of each matrix that are not
    all zero: the same sums without their zero terms, many times faster on compiled models,
    whose blocks read and write few dimensions each."""
    x = embed(arrays, token_ids)
    for number, layer in enumerate(config["layers"]):
        if layer["heads"]:
            update = np.zeros_like(x)
            for h in range(layer["heads"]):
                head = names.head(number, h)
                parts = []
                for name in (head.query, head.key, head.value):
                    m = arrays[name]
                    rows = _used(m, 1)
                    parts.append(x[..., rows] @ m[rows])
                q, k, v = parts
                out = arrays[head.output]
                cols = _used(out, 0)
                update[..., cols] += softmax(scores(q, k, config)) @ v @ out[:, cols]
            x = x + update
        if layer["mlp"]:
            last = layer["mlp"] - 1
            first = names.mlp(number, 0)
            w = arrays[first.weight]
            rows = _used(w, 1)
            hidden = x[..., rows] @ w[rows] + arrays[first.bias]
            for j in range(1, layer["mlp"]):
                linear = names.mlp(number, j)
                w, b = arrays[linear.weight], arrays[linear.bias]
                if j == last:
                    cols = np.union1d(_used(w, 0), np.flatnonzero(b))
                    x = x.copy()
                    x[..., cols] += np.maximum(hidden, 0.0) @ w[:, cols] + b[cols]
                else:
                    hidden = np.maximum(hidden, 0.0) @ w + b
            if last == 0:
                x = x + hidden
    unembed = arrays[names.UNEMBEDDING]
    rows = _used(unembed, 1)
    return x[:, 1:][..., rows] @ unembed[rows]


class Model:
    """A compiled RASP program: `forward(tokens)` gives the program's values."""

    def __init__(self, arrays: dict[str, np.ndarray], config: dict,
                 source: folder.Source | None = None):
        self.arrays = arrays
        self.config = config
        self.source = source  # the program, when the model came with it (a shared folder)
        self.vocab = list(config["vocab"])
        self._ids = {key(t): i + 1 for i, t in enumerate(self.vocab)}
        self._weights: dict[str, dict[str, np.ndarray]] = {"float64": arrays}
        # a numerical output's int values (a file that lists none decodes floats)
        numerical = config["output"]["kind"] == "numerical"
        self._ints = {v for v in config["output"]["values"]
                      if numerical and type(v) is int}

    @property
    def causal(self) -> bool:
        """Whether attention is masked: each position sees only itself and those before."""
        return bool(self.config.get("causal", False))

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
            i = self._ids.get(key(t))
            if i is None:
                raise RaspValueError(f"token {t!r} at position {position} is not in the "
                                     f"model's vocabulary {self.vocab!r}")
            ids.append(i)
        return ids

    def raw(self, batch: Sequence[Sequence[Any]], compact: bool = False,
            dtype: str = "float64") -> np.ndarray:
        """y [B, n, n_out] for inputs of one length (`compact`: see compact_forward; `dtype`
        "float32": the weights and every sum in float32, as many users load models)."""
        ids = np.array([self.token_ids(t) for t in batch], dtype=np.int64)
        forward = compact_forward if compact else reference_forward
        return forward(self.weights(dtype), self.config, ids)

    def weights(self, dtype: str = "float64") -> dict[str, np.ndarray]:
        """The arrays in `dtype` ("float64", as saved, or "float32"), converted once."""
        if dtype not in ("float64", "float32"):
            raise RaspValueError(f"dtype must be \"float64\" or \"float32\", not {dtype!r}")
        if dtype not in self._weights:
            self._weights[dtype] = {n: a.astype(dtype) for n, a in self.arrays.items()}
        return self._weights[dtype]

    def run(self, tokens: Sequence[Any]) -> Activations:
        """The forward pass on one input with every activation kept (activations.Activations:
        the residual after every stage, each head's attention pattern, each hidden layer),
        batch axis 1, BOS at position 0."""
        ids = np.array([self.token_ids(list(tokens))], dtype=np.int64)
        return activations.run(self.arrays, self.config, ids)

    def trace(self, tokens: Sequence[Any]) -> dict[str, list]:
        """Every s-op of the layout (by its block's name) decoded from the residual where the
        model writes it, at each position of one input (activations.trace)."""
        ids = np.array(self.token_ids(list(tokens)), dtype=np.int64)
        return activations.trace(self.arrays, self.config, ids)

    def decode(self, y: np.ndarray) -> list:
        output = self.config["output"]
        values = output["values"]
        if output["kind"] == "numerical":
            return [self._number(float(v)) for v in y[..., 0].ravel()]
        if not values:
            raise RaspValueError("the program has no value on any input within the model's "
                                 "vocabulary and max_len (the interpreter raises on all)")
        return [values[i] for i in np.argmax(y, axis=-1).ravel()]

    def _number(self, value: float) -> int | float:
        """A numerical output as the interpreter would most likely give it: an int where it is
        a whole number (within the 1e-6 of exactness) that the output's value set holds as an
        int (a tokens_int program's copied tokens), a float otherwise. A set holding 2 and 2.0
        gives 2: the model cannot tell a copied 2 from an averaged one."""
        if not self._ints:
            return value
        whole = round(value)
        near = abs(value - whole) <= 1e-6 * max(1, abs(whole))
        return whole if near and whole in self._ints else value

    def forward(self, tokens: Sequence[Any]) -> list:
        """The program's value on one input (a string is a sequence of characters)."""
        items = list(tokens)
        return self.decode(self.raw([items])[0])

    def forward_batch(self, batch: Sequence[Sequence[Any]], compact: bool = False,
                      dtype: str = "float64") -> list[list]:
        """The values on inputs of one length, computed together (`dtype`: see raw)."""
        y = self.raw([list(t) for t in batch], compact, dtype)
        return [self.decode(row) for row in y]

    def generate(self, prompt: Sequence[Any], steps: int, until: Any = None) -> list:
        """The prompt and `steps` tokens after it, each the model's value at the last
        position so far (Interpreter.generate's loop): every one must be in the model's
        vocabulary, and the whole within its max_len."""
        return generate(lambda tokens: self.forward(tokens)[-1], list(prompt), steps, until,
                        self.vocab, self.max_len)

    def save(self, path: str | Path) -> Path:
        """Write the model's `.npz` file, atomically; returns the path written (".npz" added
        when `path` lacks it, as numpy names it)."""
        return modelfile.save(self.arrays, self.config, path)

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """The model saved at `path`, an `.npz` file (modelfile.load) or a shared folder
        (folder.load_folder: with its program), checked before use."""
        if Path(path).is_dir():
            config, arrays, source = folder.load_folder(path)
            return cls(arrays, config, source)
        config, arrays = modelfile.load(path)
        return cls(arrays, config)

    @property
    def hidden(self) -> list[int]:
        """Hidden units of each layer's feed-forward block (0 where it has none)."""
        return [sum(self.arrays[names.mlp(i, j).weight].shape[1]
                    for j in range(layer["mlp"] - 1))
                for i, layer in enumerate(self.config["layers"])]

    def summary(self) -> str:
        c = self.config
        heads = heads_per_layer_text(self.heads_per_layer)
        mlps = ", ".join(f"{i}: {w}" for i, w in enumerate(self.hidden) if w)
        layers = len(c["layers"]) - 1
        lines = [f"{c['program']}: {layers} layer{'' if layers == 1 else 's'}, heads per "
                 f"layer {heads}, "
                 f"d_model {c['d_model']}, {self.parameters:,} parameters "
                 f"({self.nonzero:,} nonzero)",
                 f"  vocab {_short(c['vocab'])}, max_len {c['max_len']}, output "
                 f"{c['output']['kind']}"
                 + (f" over {len(c['output']['values'])} values"
                    if c['output']['kind'] == "categorical" else "")
                 + (", causal (masked attention)" if self.causal else "")]
        if mlps:
            lines.append(f"  feed-forward hidden units by layer: {mlps}")
        return "\n".join(lines + _labels(c))


def _labels(config: dict) -> list[str]:
    """What each layer's heads and feed-forward block compute, and each s-op's encoding with
    why (a saved model without them has none)."""
    lines = []
    for number, layer in enumerate(config["layers"]):
        parts = [f"{what} {'; '.join(layer[key])}" for what, key in
                 (("heads", "selectors"), ("feed-forward", "maps")) if layer.get(key)]
        if parts:
            lines.append(f"  layer {number}: {', '.join(parts)}")
    encodings: dict[str, dict[str, list[str]]] = {}
    for block in config["layout"]:
        if block.get("why"):
            encodings.setdefault(block["encoding"], {}).setdefault(block["why"], []).append(
                block["name"])
    lines += [f"  {encoding}: " + "; ".join(f"{', '.join(names)} ({why})"
                                            for why, names in groups.items())
              for encoding, groups in sorted(encodings.items(), reverse=True)]
    return lines


def _short(items: list) -> str:
    text = json.dumps(items)
    return text if len(text) <= 60 else text[:57] + "..."
