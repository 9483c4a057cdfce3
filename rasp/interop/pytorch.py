"""A compiled model as a PyTorch module: the format's forward pass (docs/compiling.md) on
batches of token ids, on any device, with gradients (docs/interop.md).

The parameters are named as TransformerLens's HookedTransformer names them (`embed.W_E`,
`pos_embed.W_pos`, `blocks.{l}.attn.W_Q` [heads, d_model, d_head], ..., `blocks.{l}.mlp.W_in`,
`unembed.W_U`); block l is the model's layer l, layer 0 the embedding stage with no heads.
Within a layer, heads narrower than the widest get zero columns, which add exact zeros.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..compiler import names
from ..compiler.model import Model
from ..errors import RaspValueError

# a feed-forward block's linear maps, by how many it has: one map is linear (no ReLU),
# two have one hidden layer between them, three have two
MLP_PARTS = {1: ("out",), 2: ("in", "out"), 3: ("in", "mid", "out")}


def _parameter(array: np.ndarray, dtype: torch.dtype) -> nn.Parameter:
    return nn.Parameter(torch.tensor(array, dtype=dtype))


def _stack(matrices: list[np.ndarray], width: int, axis: int) -> np.ndarray:
    """Head matrices [D, w_h] (axis 1) or [w_h, D] (axis 0), zero-padded to `width` along
    `axis`, stacked on a new first axis: [heads, D, width] or [heads, width, D]."""
    padded = []
    for m in matrices:
        pad = [(0, 0), (0, 0)]
        pad[axis] = (0, width - m.shape[axis])
        padded.append(np.pad(m, pad))
    return np.stack(padded)


class Attention(nn.Module):
    """The heads of one layer: no biases, no scaling; in a causal model, the mask that lets a
    query see only the keys at or before it (docs/compiling.md)."""

    def __init__(self, arrays: dict[str, np.ndarray], layer: int, heads: int,
                 dtype: torch.dtype, causal: bool = False):
        super().__init__()
        self.causal = causal
        matrices = [names.head(layer, h) for h in range(heads)]
        k = max(arrays[m.query].shape[1] for m in matrices)
        v = max(arrays[m.value].shape[1] for m in matrices)
        self.W_Q = _parameter(_stack([arrays[m.query] for m in matrices], k, 1), dtype)
        self.W_K = _parameter(_stack([arrays[m.key] for m in matrices], k, 1), dtype)
        self.W_V = _parameter(_stack([arrays[m.value] for m in matrices], v, 1), dtype)
        self.W_O = _parameter(_stack([arrays[m.output] for m in matrices], v, 0), dtype)

    def forward(self, x: torch.Tensor, cache: dict[str, torch.Tensor] | None,
                prefix: str) -> torch.Tensor:
        q = torch.einsum("bpd,hdk->bhpk", x, self.W_Q)
        k = torch.einsum("bpd,hdk->bhpk", x, self.W_K)
        v = torch.einsum("bpd,hdv->bhpv", x, self.W_V)
        logits = q @ k.transpose(-1, -2)
        if self.causal:
            n = logits.shape[-1]
            later = torch.ones(n, n, dtype=torch.bool, device=logits.device).triu(1)
            logits = logits.masked_fill(later, float("-inf"))
        pattern = torch.softmax(logits, dim=-1)  # the stable softmax
        z = pattern @ v
        if cache is not None:
            cache[f"{prefix}.attn.hook_pattern"] = pattern
            cache[f"{prefix}.attn.hook_z"] = z
        return torch.einsum("bhpv,hvd->bpd", z, self.W_O)


class FeedForward(nn.Module):
    """One layer's feed-forward block: its linear maps, a ReLU between consecutive ones."""

    def __init__(self, arrays: dict[str, np.ndarray], layer: int, maps: int,
                 dtype: torch.dtype):
        super().__init__()
        self.parts = MLP_PARTS[maps]
        for j, part in enumerate(self.parts):
            linear = names.mlp(layer, j)
            setattr(self, f"W_{part}", _parameter(arrays[linear.weight], dtype))
            setattr(self, f"b_{part}", _parameter(arrays[linear.bias], dtype))

    def forward(self, x: torch.Tensor, cache: dict[str, torch.Tensor] | None,
                prefix: str) -> torch.Tensor:
        hidden = x
        for j, part in enumerate(self.parts):
            if j:
                hidden = torch.relu(hidden)
                if cache is not None:
                    cache[f"{prefix}.mlp.hook_post" + ("" if j == 1 else f"{j}")] = hidden
            hidden = hidden @ getattr(self, f"W_{part}") + getattr(self, f"b_{part}")
        return hidden


class Block(nn.Module):
    """Layer l: its heads (if any), then its feed-forward block (if any)."""

    def __init__(self, arrays: dict[str, np.ndarray], layer: int, spec: dict,
                 dtype: torch.dtype, causal: bool = False):
        super().__init__()
        self.prefix = f"blocks.{layer}"
        self.attn = (Attention(arrays, layer, spec["heads"], dtype, causal)
                     if spec["heads"] else None)
        self.mlp = FeedForward(arrays, layer, spec["mlp"], dtype) if spec["mlp"] else None

    def forward(self, x: torch.Tensor, cache: dict[str, torch.Tensor] | None) -> torch.Tensor:
        if cache is not None:
            cache[f"{self.prefix}.hook_resid_pre"] = x
        if self.attn is not None:
            x = x + self.attn(x, cache, self.prefix)
        if cache is not None:
            cache[f"{self.prefix}.hook_resid_mid"] = x
        if self.mlp is not None:
            x = x + self.mlp(x, cache, self.prefix)
        if cache is not None:
            cache[f"{self.prefix}.hook_resid_post"] = x
        return x


class Table(nn.Module):
    """An embedding table under TransformerLens's name for it (`W_E`, `W_pos`)."""

    def __init__(self, name: str, array: np.ndarray, dtype: torch.dtype):
        super().__init__()
        self.name = name
        self.register_parameter(name, _parameter(array, dtype))

    @property
    def weight(self) -> torch.Tensor:
        return getattr(self, self.name)


class Unembed(nn.Module):
    def __init__(self, array: np.ndarray, dtype: torch.dtype):
        super().__init__()
        self.W_U = _parameter(array, dtype)


def _check_ids(ids: torch.Tensor, config: dict) -> None:
    """A clear error for what the model cannot read (an index error deep in torch else)."""
    vocab, max_len = len(config["vocab"]), config["max_len"]
    if ids.dim() != 2 or ids.shape[1] == 0:
        raise RaspValueError(f"token ids must be a batch [B, n] with n >= 1, not of shape "
                             f"{tuple(ids.shape)}")
    if ids.shape[1] > max_len:
        raise RaspValueError(f"the inputs have {ids.shape[1]} tokens, more than the model's "
                             f"max_len {max_len}")
    if bool(((ids < 1) | (ids > vocab)).any()):
        raise RaspValueError(f"token ids run from 1 to {vocab} (vocab[i] is i + 1; BOS, 0, is "
                             f"prepended by the model), not {ids.min().item()}.."
                             f"{ids.max().item()}")


class CompiledTransformer(nn.Module):
    """The compiled model's forward pass: token ids [B, n] (rows of embed.token, vocab[i] is
    i + 1; `model.token_ids(tokens)` makes them) in, BOS prepended here, y [B, n, n_out] out
    (BOS's row dropped). `run_with_cache` also returns the activations under
    TransformerLens's hook names."""

    def __init__(self, model: Model, dtype: torch.dtype = torch.float64):
        super().__init__()
        arrays, config = model.arrays, model.config
        self.config = config
        self.embed = Table("W_E", arrays[names.TOKEN_EMBEDDING], dtype)
        self.pos_embed = Table("W_pos", arrays[names.POSITION_EMBEDDING], dtype)
        self.blocks = nn.ModuleList(Block(arrays, layer, spec, dtype, model.causal)
                                    for layer, spec in enumerate(config["layers"]))
        self.unembed = Unembed(arrays[names.UNEMBEDDING], dtype)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        return self._run(token_ids, None)

    def run_with_cache(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        """The output and every activation: `hook_embed`, `blocks.{l}.hook_resid_pre`,
        `.attn.hook_pattern` [B, heads, n + 1, n + 1], `.attn.hook_z`, `.hook_resid_mid`,
        `.mlp.hook_post` (the hidden layer after its ReLU; `hook_post2` the second),
        `.hook_resid_post` (positions include BOS, at 0)."""
        cache: dict[str, Any] = {}
        return self._run(token_ids, cache), cache

    def _run(self, token_ids: torch.Tensor, cache: dict[str, Any] | None) -> torch.Tensor:
        device = self.embed.weight.device
        ids = torch.as_tensor(token_ids, dtype=torch.long, device=device)
        _check_ids(ids, self.config)
        ids = torch.cat([torch.zeros_like(ids[:, :1]), ids], dim=1)  # BOS is row 0
        x = self.embed.weight[ids] + self.pos_embed.weight[: ids.shape[1]]
        if cache is not None:
            cache["hook_embed"] = x
        for block in self.blocks:
            x = block(x, cache)
        return x[:, 1:] @ self.unembed.W_U
