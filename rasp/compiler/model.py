"""A compiled transformer: its weights in the `rasp-transformer/1` format, the reference forward
pass, decoding, and saving and loading the `.npz` file (docs/compiling.md).

The forward pass needs numpy alone: `reference_forward(arrays, config, token_ids)` is what any
numpy user would write from the format's description.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RaspValueError
from ..generation import generate
from . import modelfile, names
from .graph import heads_per_layer_text
from .valuesets import key


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax, in the stable form (the row's largest logit subtracted first)."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _scores(q: np.ndarray, k: np.ndarray, config: dict) -> np.ndarray:
    """Attention logits [B, n, n]; in a causal model (config "causal": true) a query sees
    only the keys at or before it: BOS, position 0, is visible to every query."""
    logits = q @ k.transpose(0, 2, 1)
    if config.get("causal", False):
        n = logits.shape[-1]
        logits = np.where(np.tri(n, dtype=bool), logits, -np.inf)
    return logits


def reference_forward(arrays: dict[str, np.ndarray], config: dict,
                      token_ids: np.ndarray) -> np.ndarray:
    """The format's forward pass on a batch of inputs of one length: `token_ids` [B, n] holds
    rows of embed.token (vocab[i] is row i + 1); returns y [B, n, n_out]."""
    x = _embed(arrays, token_ids)
    for number, layer in enumerate(config["layers"]):
        if layer["heads"]:
            update = np.zeros_like(x)
            for h in range(layer["heads"]):
                head = names.head(number, h)
                q = x @ arrays[head.query]
                k = x @ arrays[head.key]
                v = x @ arrays[head.value]
                update += _softmax(_scores(q, k, config)) @ v @ arrays[head.output]
            x = x + update
        if layer["mlp"]:
            hidden = x
            for j in range(layer["mlp"]):
                if j:
                    hidden = np.maximum(hidden, 0.0)
                linear = names.mlp(number, j)
                hidden = hidden @ arrays[linear.weight] + arrays[linear.bias]
            x = x + hidden
    return x[:, 1:] @ arrays[names.UNEMBEDDING]


def _embed(arrays: dict[str, np.ndarray], token_ids: np.ndarray) -> np.ndarray:
    """The residual after the embeddings, BOS (token row 0) prepended to every input."""
    ids = np.concatenate([np.zeros((len(token_ids), 1), dtype=np.int64), token_ids], axis=1)
    return arrays[names.TOKEN_EMBEDDING][ids] + arrays[names.POSITION_EMBEDDING][: ids.shape[1]]


def _used(matrix: np.ndarray, axis: int) -> np.ndarray:
    """Indices of the rows (axis 1) or columns (axis 0) of `matrix` that are not all zero."""
    return np.flatnonzero(np.any(matrix != 0, axis=axis))


def compact_forward(arrays: dict[str, np.ndarray], config: dict,
                    token_ids: np.ndarray) -> np.ndarray:
    """`reference_forward` restricted to the rows and columns of each matrix that are not
    all zero: the same sums without their zero terms, many times faster on compiled models,
    whose blocks read and write few dimensions each."""
    x = _embed(arrays, token_ids)
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
                update[..., cols] += _softmax(_scores(q, k, config)) @ v @ out[:, cols]
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

    def __init__(self, arrays: dict[str, np.ndarray], config: dict):
        self.arrays = arrays
        self.config = config
        self.vocab = list(config["vocab"])
        self._ids = {key(t): i + 1 for i, t in enumerate(self.vocab)}

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
        """The model saved at `path`, checked before use (modelfile.load)."""
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
        return "\n".join(lines)


def _short(items: list) -> str:
    text = json.dumps(items)
    return text if len(text) <= 60 else text[:57] + "..."
