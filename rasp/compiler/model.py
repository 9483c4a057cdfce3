"""A compiled transformer: its weights in the `rasp-transformer/1` format, the reference forward
pass, decoding, and saving and loading the `.npz` file (docs/compiling.md).

The forward pass needs numpy alone: `reference_forward(arrays, config, token_ids)`
(activations.py, which also keeps every activation) is what any numpy user would write from
the format's description; `forward_batch` runs the same sums without their zero terms
(sparse.py), on inputs of any lengths.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RaspValueError
from ..generation import generate
from . import activations, folder, modelfile, names, sparse
from .activations import Activations, reference_forward
from .graph import heads_per_layer_text
from .valuesets import key

CELLS = 1 << 23  # floats of one forward batch's residual (and the reference's hidden), at most


class Model:
    """A compiled RASP program: `forward(tokens)` gives the program's values."""

    def __init__(self, arrays: dict[str, np.ndarray], config: dict,
                 source: folder.Source | None = None):
        self.arrays = arrays
        self.config = config
        self.source = source  # the program, when the model came with it (a shared folder)
        self.vocab = list(config["vocab"])
        self._ids = {key(t): i + 1 for i, t in enumerate(self.vocab)}
        # the same by (type, value), but for float zeros, which it cannot tell apart (0.0 and
        # -0.0 are equal): they go through key
        self._rows = {(type(t), t): i + 1 for i, t in enumerate(self.vocab)
                      if not (isinstance(t, float) and t == 0)}
        self._weights: dict[str, dict[str, np.ndarray]] = {"float64": arrays}
        self._prepared: dict[str, sparse.Weights] = {}
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
        try:  # the common case at dict speed: every item found by its type and value
            return [self._rows[type(t), t] for t in items]
        except (KeyError, TypeError):
            pass
        ids = []
        for position, t in enumerate(items):
            try:
                i = self._ids.get(key(t))
            except TypeError:  # unhashable: a list is no token
                i = None
            if i is None:
                raise RaspValueError(f"token {t!r} at position {position} is not in the "
                                     f"model's vocabulary {self.vocab!r}")
            ids.append(i)
        return ids

    def weights(self, dtype: str = "float64") -> dict[str, np.ndarray]:
        """The arrays in `dtype` ("float64", as saved, or "float32"), converted once."""
        if dtype not in ("float64", "float32"):
            raise RaspValueError(f"dtype must be \"float64\" or \"float32\", not {dtype!r}")
        if dtype not in self._weights:
            self._weights[dtype] = {n: a.astype(dtype) for n, a in self.arrays.items()}
        return self._weights[dtype]

    def outputs(self, batch: Sequence[Sequence[Any]], compact: bool = True,
                dtype: str = "float64") -> list[np.ndarray]:
        """y [n, n_out] of each input, inputs of any lengths 1..max_len computed together:
        sorted by length, in chunks of at most CELLS floats of residual, each chunk padded to
        its longest input with the padding's keys hidden (docs/compiling.md, batches).
        `compact` runs the sparse pass (sparse.py), False the reference one; `dtype`
        "float32": the weights and every sum in float32, as many users load models."""
        ids = [self.token_ids(list(t)) for t in batch]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        found: list[np.ndarray] = [np.empty(0)] * len(ids)
        start = 0
        while start < len(order):
            step = len(order) - start
            while step > 1 and step * self._cells(len(ids[order[start + step - 1]]),
                                                  compact) > CELLS:
                step = (step + 1) // 2
            chunk = order[start: start + step]
            start += step
            lengths = np.array([len(ids[i]) for i in chunk])
            tokens = np.ones((len(chunk), lengths[-1]), dtype=np.int64)  # padding: vocab[0]
            for row, i in enumerate(chunk):
                tokens[row, : lengths[row]] = ids[i]
            padded = None if lengths[0] == lengths[-1] else lengths
            if compact:
                y = sparse.forward(self._sparse(dtype), tokens, padded)
            else:
                y = reference_forward(self.weights(dtype), self.config, tokens, padded)
            for row, i in enumerate(chunk):
                found[i] = y[row, : lengths[row]]
        return found

    def _cells(self, n: int, compact: bool) -> int:
        """Floats one input of n tokens takes in a forward pass, about: its residual and
        attention pattern, and in the reference pass its widest hidden layer."""
        widest = max(self.config["d_model"], n + 1)
        if not compact:
            widest = max([widest] + [a.shape[-1] for a in self.arrays.values()])
        return (n + 1) * widest

    def _sparse(self, dtype: str) -> sparse.Weights:
        if dtype not in self._prepared:
            self._prepared[dtype] = sparse.Weights.of(self.weights(dtype), self.config)
        return self._prepared[dtype]

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
        return self.decode(self.outputs([tokens])[0])

    def forward_batch(self, batch: Sequence[Sequence[Any]], compact: bool = True,
                      dtype: str = "float64") -> list[list]:
        """The values on each input, inputs of any lengths computed together (`compact`,
        `dtype`: see outputs)."""
        return [self.decode(y) for y in self.outputs(batch, compact, dtype)]

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
    """What each layer's heads and feed-forward block compute (and erase, in a reused
    residual), and each s-op's encoding with why (a saved model without them has none)."""
    lines = []
    for number, layer in enumerate(config["layers"]):
        parts = [f"{what} {'; '.join(layer[key])}" for what, key in
                 (("heads", "selectors"), ("feed-forward", "maps"), ("erases", "erases"))
                 if layer.get(key)]
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
