"""The reference forward pass with every activation kept, and the trace it gives: each s-op of
the layout read back from the residual stream where the model writes it (docs/interop.md).

`run` is the format's forward pass (docs/compiling.md); `reference_forward` is `run` keeping
nothing but the output. Numpy alone, like the rest of the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import names

EMBED = "embed"  # the stage of the residual after the embeddings


def attention_stage(layer: int) -> str:
    """The residual after layer `layer`'s heads (TransformerLens: `hook_resid_mid`)."""
    return f"layer{layer}.attn"


def mlp_stage(layer: int) -> str:
    """The residual after layer `layer`'s feed-forward block: after the whole layer."""
    return f"layer{layer}.mlp"


def stage_at(slot: int) -> str:
    """The stage after sublayer `slot` (plan.slot: 0 the embeddings, 2 l layer l's heads,
    2 l + 1 its feed-forward block)."""
    if slot == 0:
        return EMBED
    return mlp_stage(slot // 2) if slot % 2 else attention_stage(slot // 2)


def stages(layers: list[dict]) -> list[str]:
    """A model's stages in the order computed (those of Activations.stages)."""
    found = [EMBED]
    for number, layer in enumerate(layers):
        found += [attention_stage(number)] * bool(layer["heads"]) + [mlp_stage(number)]
    return found


@dataclass
class Activations:
    """What one forward pass computed, for a batch of B inputs of n tokens (BOS prepended:
    n + 1 positions). `stages` maps a stage (EMBED, then `layer{l}.attn` for each layer with
    heads and `layer{l}.mlp` for each layer) to the residual after it [B, n + 1, D], in the
    order computed; `patterns[(l, h)]` is head h of layer l's attention [B, n + 1, n + 1];
    `hidden[(l, j)]` the j-th hidden layer of layer l's feed-forward block after its ReLU
    [B, n + 1, units]; `y` the output [B, n, n_out] (BOS dropped)."""

    stages: dict[str, np.ndarray] = field(default_factory=dict)
    patterns: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    hidden: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    y: np.ndarray | None = None

    def residual(self, layer: int) -> np.ndarray:
        """The residual after layer `layer` (layer 0: the embedding stage's block)."""
        return self.stages[mlp_stage(layer)]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax, in the stable form (the row's largest logit subtracted first)."""
    e = logits - logits.max(axis=-1, keepdims=True)
    np.exp(e, out=e)  # in place: the same arithmetic, one array fewer
    e /= e.sum(axis=-1, keepdims=True)
    return e


def visible(n: int, lengths: np.ndarray | None = None,
            causal: bool = False) -> np.ndarray | None:
    """Which keys each query sees [B or 1, n, n] (n positions, BOS at 0), None where all are
    seen: with `lengths` [B] (a padded batch), input b's keys after its lengths[b] tokens are
    hidden; in a causal model a query sees only the keys at or before it. BOS stays visible
    to every query."""
    if lengths is None and not causal:
        return None
    seen = np.tri(n, dtype=bool)[None] if causal else np.ones((1, n, n), dtype=bool)
    if lengths is not None:
        seen = seen & (np.arange(n) <= np.asarray(lengths)[:, None])[:, None, :]
    return seen


def scores(q: np.ndarray, k: np.ndarray, config: dict,
           lengths: np.ndarray | None = None) -> np.ndarray:
    """Attention logits [B, n, n], -inf where a query does not see a key (`visible`: the
    padding after each input's `lengths`, later keys in a causal model: config "causal")."""
    logits = q @ k.transpose(0, 2, 1)
    seen = visible(logits.shape[-1], lengths, config.get("causal", False))
    return logits if seen is None else np.where(seen, logits, -np.inf)


def embed(arrays: dict[str, np.ndarray], token_ids: np.ndarray) -> np.ndarray:
    """The residual after the embeddings, BOS (token row 0) prepended to every input."""
    ids = np.concatenate([np.zeros((len(token_ids), 1), dtype=np.int64), token_ids], axis=1)
    return arrays[names.TOKEN_EMBEDDING][ids] + arrays[names.POSITION_EMBEDDING][: ids.shape[1]]


def run(arrays: dict[str, np.ndarray], config: dict, token_ids: np.ndarray,
        keep: bool = True, lengths: np.ndarray | None = None) -> Activations:
    """The format's forward pass on a batch of inputs: `token_ids` [B, n] holds rows of
    embed.token (vocab[i] is row i + 1); inputs shorter than n are padded (with any row) and
    their `lengths` [B] given: each input's keys after its own tokens are hidden, so that
    its outputs are those of the input alone. `keep` False keeps only the output."""
    seen = Activations()
    x = embed(arrays, token_ids)
    if keep:
        seen.stages[EMBED] = x
    for number, layer in enumerate(config["layers"]):
        if layer["heads"]:
            update = np.zeros_like(x)
            for h in range(layer["heads"]):
                head = names.head(number, h)
                q = x @ arrays[head.query]
                k = x @ arrays[head.key]
                v = x @ arrays[head.value]
                pattern = softmax(scores(q, k, config, lengths))
                update += pattern @ v @ arrays[head.output]
                if keep:
                    seen.patterns[number, h] = pattern
            x = x + update
            if keep:
                seen.stages[attention_stage(number)] = x
        if layer["mlp"]:
            hidden = x
            for j in range(layer["mlp"]):
                if j:
                    hidden = np.maximum(hidden, 0.0)
                    if keep:
                        seen.hidden[number, j - 1] = hidden
                linear = names.mlp(number, j)
                hidden = hidden @ arrays[linear.weight] + arrays[linear.bias]
            x = x + hidden
        if keep:
            seen.stages[mlp_stage(number)] = x
    seen.y = x[:, 1:] @ arrays[names.UNEMBEDDING]
    return seen


def reference_forward(arrays: dict[str, np.ndarray], config: dict, token_ids: np.ndarray,
                      lengths: np.ndarray | None = None) -> np.ndarray:
    """The format's forward pass (see `run`): y [B, n, n_out] (for a padded input, only its
    first lengths[b] positions mean anything)."""
    y = run(arrays, config, token_ids, keep=False, lengths=lengths).y
    assert y is not None
    return y


def written_at(arrays: dict[str, np.ndarray], config: dict) -> dict[str, str]:
    """Each layout block's name -> the stage whose residual first holds it: the embeddings,
    a layer's heads or its feed-forward block, whichever first writes one of its dimensions
    (read from the weights: for a file saved before the layout gave each block's `from`,
    when every dimension held one s-op). The flags `bos` and `one` are the embeddings'."""
    writers: list[tuple[str, np.ndarray]] = [
        (EMBED, np.any(arrays[names.TOKEN_EMBEDDING] != 0, axis=0)
         | np.any(arrays[names.POSITION_EMBEDDING] != 0, axis=0))]
    for number, layer in enumerate(config["layers"]):
        if layer["heads"]:
            writes = np.zeros(config["d_model"], dtype=bool)
            for h in range(layer["heads"]):
                writes |= np.any(arrays[names.head(number, h).output] != 0, axis=0)
            writers.append((attention_stage(number), writes))
        if layer["mlp"]:
            last = names.mlp(number, layer["mlp"] - 1)
            writers.append((mlp_stage(number), np.any(arrays[last.weight] != 0, axis=0)
                            | (arrays[last.bias] != 0)))
    found = {}
    for block in config["layout"]:
        dims = slice(block["first"], block["last"] + 1)
        found[block["name"]] = next((stage for stage, writes in writers if writes[dims].any()),
                                    EMBED)
    return found


def trace(arrays: dict[str, np.ndarray], config: dict, token_ids: np.ndarray) -> dict[str, list]:
    """Every layout block but the flags, decoded at each program position (BOS dropped) of
    the one input `token_ids` [n] from the residual where the model writes it (its `from`;
    a file saved before the layout said it: read from the weights, `written_at`): a
    categorical block's value is that of its largest dimension (None where no dimension is
    on; a OneOf where the block holds classes of values), a numerical block's its number."""
    seen = run(arrays, config, token_ids[None, :])
    layout = config["layout"]
    stage = {b["name"]: b["from"] for b in layout} if all("from" in b for b in layout) \
        else written_at(arrays, config)
    found = {}
    for block in layout:
        if block["encoding"] == "flag":
            continue
        x = seen.stages[stage[block["name"]]][0, 1:, block["first"]: block["last"] + 1]
        found[block["name"]] = [_decode(block, row) for row in x]
    return found


class OneOf(tuple):
    """A trace's value in a block that holds classes of values (a feature only heads read,
    kept one dimension per class of values they treat alike): the model holds the class."""

    def __repr__(self) -> str:
        return f"OneOf{tuple.__repr__(self)}"


def _decode(block: dict, row: np.ndarray) -> Any:
    if block["encoding"] == "numerical":
        return float(row[0])
    if not row.size:  # a block of no values: the program has none on any input
        return None
    i = int(np.argmax(row))
    if row[i] <= 0.5:
        return None
    if "members" in block:
        return OneOf(_atom(v) for v in block["members"][i])
    return _atom(block["values"][i])


def _atom(value: Any) -> Any:
    """A saved value as the interpreter has it: a joint block's list is a tuple."""
    return tuple(value) if isinstance(value, list) else value
