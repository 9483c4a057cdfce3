"""A compiled model in TransformerLens's shape, exactly (docs/interop.md).

TransformerLens's blocks are all alike: attention with `n_heads` heads of one width `d_head`,
scaled by 1 / attn_scale, then an MLP of `d_mlp` units with one hidden layer, no biases off.
Ours differ, and each difference has an exact fix:

- heads per layer and head widths vary: every block gets the most heads of any layer, every
  head the widest width; the padding is zeros (a zero head writes exactly 0);
- TransformerLens divides the logits by attn_scale (it ignores use_attn_scale=False): we set
  attn_scale 0.5 and multiply W_Q by 0.5, a power of two, so the fold is exact;
- layer 0 (the embedding stage) is block 0, whose attention is all zeros;
- a block with two hidden layers becomes two blocks: the first writes its first hidden layer
  (after the ReLU) into extra residual dimensions after our D, the second reads them, finishes
  the block and sets them back to 0 (units that copy them with weight -1);
- a block of one linear map z becomes ReLU(z) - ReLU(-z) = z, exactly;
- MLP widths vary: every block gets the widest, padded with zero units (ReLU(0) = 0).

So block b of TransformerLens is `blocks[b]` of the config here (`layer`: ours; `part`:
"whole", or "first"/"second" of a split layer). Everything here is numpy; `bridge` alone needs
torch and TransformerLens. The state dict uses the bridge's own names (`blocks.{b}.attn.q.
weight`, ...) and loads with strict=True.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..compiler import names
from ..compiler.model import Model
from ..errors import RaspValueError

ATTN_SCALE = 0.5  # TransformerLens divides the logits by it: W_Q carries the same factor


@dataclass
class Part:
    """One TransformerLens block: the layer's heads (or none), and an MLP as (W_in [D', u],
    b_in [u], W_out [u, D'], b_out [D']) on the widened residual (or None)."""

    layer: int
    part: str
    heads: int
    mlp: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _blocks(model: Model, width: int) -> list[Part]:
    """Our layers as TransformerLens blocks on a residual of `width` >= D dimensions."""
    arrays, d = model.arrays, model.config["d_model"]
    found = []
    for number, spec in enumerate(model.config["layers"]):
        maps = [(arrays[m.weight], arrays[m.bias])
                for m in (names.mlp(number, j) for j in range(spec["mlp"]))]
        if len(maps) == 3:
            (w0, b0), (w1, b1), (w2, b2) = maps
            first, second = _split(w0, b0, w1, b1, w2, b2, d, width)
            found += [Part(number, "first", spec["heads"], first),
                      Part(number, "second", 0, second)]
            continue
        mlp = None
        if len(maps) == 2:
            (w0, b0), (w1, b1) = maps
            mlp = (_rows(w0, width), b0, _cols(w1, width), _pad(b1, width))
        elif len(maps) == 1:  # linear: z = ReLU(z) - ReLU(-z)
            ((w, b),) = maps
            mlp = (_rows(np.concatenate([w, -w], axis=1), width), np.concatenate([b, -b]),
                   _cols(np.concatenate([np.eye(d), -np.eye(d)]), width), np.zeros(width))
        found.append(Part(number, "whole", spec["heads"], mlp))
    return found


def _split(w0: np.ndarray, b0: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray,
           b2: np.ndarray, d: int, width: int) -> tuple[tuple, tuple]:
    """A block of two hidden layers as two MLPs: the first writes ReLU(x w0 + b0) to the
    extra dimensions d..d+u0; the second computes the rest from them and subtracts them
    (ReLU of a number >= 0 is itself), leaving them 0."""
    u0, u1 = w1.shape
    extra = np.arange(d, d + u0)
    out_first = np.zeros((u0, width))
    out_first[np.arange(u0), extra] = 1.0
    first = (_rows(w0, width), b0, out_first, np.zeros(width))
    w_in = np.zeros((width, u1 + u0))
    w_in[extra, :u1] = w1
    w_in[extra, u1 + np.arange(u0)] = 1.0
    w_out = np.zeros((u1 + u0, width))
    w_out[:u1, :d] = w2
    w_out[u1 + np.arange(u0), extra] = -1.0
    second = (w_in, np.concatenate([b1, np.zeros(u0)]), w_out, _pad(b2, width))
    return first, second


def _rows(m: np.ndarray, rows: int) -> np.ndarray:
    return np.pad(m, [(0, rows - m.shape[0]), (0, 0)])


def _cols(m: np.ndarray, cols: int) -> np.ndarray:
    return np.pad(m, [(0, 0), (0, cols - m.shape[1])])


def _pad(v: np.ndarray, size: int) -> np.ndarray:
    return np.pad(v, (0, size - len(v)))


def _extra(model: Model) -> int:
    """Extra residual dimensions: the widest first hidden layer of a two-hidden-layer block."""
    return max((model.arrays[names.mlp(n, 1).weight].shape[0]
                for n, spec in enumerate(model.config["layers"]) if spec["mlp"] == 3),
               default=0)


def _shape(model: Model) -> tuple[int, int, int]:
    """n_heads, d_head and the widened residual's width."""
    arrays, config = model.arrays, model.config
    n_heads = max([1] + [spec["heads"] for spec in config["layers"]])
    d_head = max([1] + [arrays[n].shape[1] for n in arrays if n.endswith((".query", ".value"))])
    return n_heads, d_head, config["d_model"] + _extra(model)


def lens_config(model: Model) -> dict[str, Any]:
    """TransformerLens's config (TransformerBridgeConfig's fields; HookedTransformerConfig's
    too) for the exported model, plus `rasp_blocks`: our layer and part of each block."""
    n_heads, d_head, width = _shape(model)
    blocks = _blocks(model, width)
    d_mlp = max([1] + [p.mlp[0].shape[1] for p in blocks if p.mlp is not None])
    config = model.config
    n_out = 1 if config["output"]["kind"] == "numerical" else len(config["output"]["values"])
    if not n_out:  # TransformerLens reads d_vocab_out 0 as "as many as d_vocab"
        raise RaspValueError("the program has no value on any input within the model's "
                             "vocabulary and max_len (the interpreter raises on all): "
                             "TransformerLens needs an output of at least one class")
    return {"n_layers": len(blocks), "d_model": width, "d_head": d_head, "n_heads": n_heads,
            "d_mlp": d_mlp, "d_vocab": len(config["vocab"]) + 1, "d_vocab_out": n_out,
            "n_ctx": config["max_len"] + 1, "act_fn": "relu", "normalization_type": None,
            "attention_dir": "causal" if model.causal else "bidirectional", "use_attn_scale": True,
            "attn_scale": ATTN_SCALE, "positional_embedding_type": "standard",
            "original_architecture": "rasp-transformer/1",
            "rasp_blocks": [{"layer": p.layer, "part": p.part} for p in blocks]}


def lens_arrays(model: Model) -> dict[str, np.ndarray]:
    """The TransformerBridge state dict (boot_native's names, strict) as float64 arrays."""
    n_heads, d_head, width = _shape(model)
    cfg = lens_config(model)
    arrays = model.arrays
    out = {"embed.weight": _cols(arrays[names.TOKEN_EMBEDDING], width),
           "pos_embed.weight": _cols(arrays[names.POSITION_EMBEDDING], width)}
    for b, part in enumerate(_blocks(model, width)):
        out |= _attention(arrays, part, b, n_heads, d_head, width)
        w_in, b_in, w_out, b_out = part.mlp or (np.zeros((width, 0)), np.zeros(0),
                                                np.zeros((0, width)), np.zeros(width))
        units = cfg["d_mlp"] - len(b_in)
        out |= {f"blocks.{b}.mlp.in.weight": _cols(w_in, cfg["d_mlp"]).T,
                f"blocks.{b}.mlp.in.bias": _pad(b_in, cfg["d_mlp"]),
                f"blocks.{b}.mlp.out.weight": np.pad(w_out, [(0, units), (0, 0)]).T,
                f"blocks.{b}.mlp.out.bias": b_out}
    out["unembed.weight"] = _rows(arrays[names.UNEMBEDDING], width).T
    out["unembed.bias"] = np.zeros(cfg["d_vocab_out"])
    return {name: np.ascontiguousarray(a, dtype=np.float64) for name, a in out.items()}


def hooked_arrays(model: Model) -> dict[str, np.ndarray]:
    """The same weights under the legacy HookedTransformer's names and shapes (TransformerLens
    1.x-3.x: `blocks.{b}.attn.W_Q` [n_heads, d_model, d_head], `b_Q` [n_heads, d_head],
    `W_O` [n_heads, d_head, d_model], `mlp.W_in` [d_model, d_mlp], `unembed.W_U`, ...), for a
    HookedTransformerConfig of lens_config's fields (attn_scale 0.5 folded likewise)."""
    bridge = lens_arrays(model)
    n_heads, d_head, _ = _shape(model)
    out = {"embed.W_E": bridge["embed.weight"], "pos_embed.W_pos": bridge["pos_embed.weight"],
           "unembed.W_U": bridge["unembed.weight"].T, "unembed.b_U": bridge["unembed.bias"]}
    for b in range(lens_config(model)["n_layers"]):
        attn, mlp = f"blocks.{b}.attn", f"blocks.{b}.mlp"
        for name in "QKV":
            weight = bridge[f"{attn}.{name.lower()}.weight"]  # [heads * d_head, d_model]
            out[f"{attn}.W_{name}"] = weight.reshape(n_heads, d_head, -1).transpose(0, 2, 1)
            out[f"{attn}.b_{name}"] = bridge[f"{attn}.{name.lower()}.bias"].reshape(n_heads, -1)
        out[f"{attn}.W_O"] = bridge[f"{attn}.o.weight"].T.reshape(n_heads, d_head, -1)
        out[f"{attn}.b_O"] = bridge[f"{attn}.o.bias"]
        out |= {f"{mlp}.W_in": bridge[f"{mlp}.in.weight"].T,
                f"{mlp}.b_in": bridge[f"{mlp}.in.bias"],
                f"{mlp}.W_out": bridge[f"{mlp}.out.weight"].T,
                f"{mlp}.b_out": bridge[f"{mlp}.out.bias"]}
    return {name: np.ascontiguousarray(a) for name, a in out.items()}


def _attention(arrays: dict[str, np.ndarray], part: Part, b: int, n_heads: int, d_head: int,
               width: int) -> dict[str, np.ndarray]:
    """Block b's q, k, v, o as nn.Linear weights ([out, in]) with zero biases: head h holds
    rows h * d_head.. of q, k, v (W_Q times ATTN_SCALE), zeros for padded heads."""
    q, k, v = (np.zeros((n_heads * d_head, width)) for _ in range(3))
    o = np.zeros((width, n_heads * d_head))
    for h in range(part.heads):
        head = names.head(part.layer, h)
        rows = slice(h * d_head, h * d_head + arrays[head.query].shape[1])
        q[rows, : arrays[head.query].shape[0]] = arrays[head.query].T * ATTN_SCALE
        k[rows, : arrays[head.key].shape[0]] = arrays[head.key].T
        vrows = slice(h * d_head, h * d_head + arrays[head.value].shape[1])
        v[vrows, : arrays[head.value].shape[0]] = arrays[head.value].T
        o[: arrays[head.output].shape[1], vrows] = arrays[head.output].T
    found: dict[str, np.ndarray] = {}
    for name, weight in zip("qkvo", (q, k, v, o)):
        found[f"blocks.{b}.attn.{name}.weight"] = weight
        found[f"blocks.{b}.attn.{name}.bias"] = np.zeros(weight.shape[0])
    return found


def bridge(model: Model, dtype: Any = None, device: Any = None) -> Any:
    """A TransformerBridge (TransformerLens 4.x) holding the model exactly (float64 unless
    `dtype` says otherwise): built by boot_native, the weights loaded with strict=True."""
    import torch
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    dtype = dtype or torch.float64
    fields = {k: v for k, v in lens_config(model).items() if k != "rasp_blocks"}
    config = TransformerBridgeConfig(**fields, init_weights=False, dtype=dtype)
    # boot_native is attached to the class when TransformerLens's native source is imported
    lens = TransformerBridge.boot_native(  # type: ignore[attr-defined]
        config, dtype=dtype, device=device)
    state = {n: torch.tensor(a, dtype=dtype) for n, a in lens_arrays(model).items()}
    lens.load_state_dict(state, strict=True)
    return lens
