"""The model: a transformer that labels every position, as in the paper's §5 (post-LN layers,
ReLU feed-forward), with each head's attention exposed so that it can be supervised and
compared with the program's selectors. An encoder by default; with `causal` a decoder, whose
queries attend only to keys at or before them (the causal RASP mask, k <= q)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import RaspValueError

__all__ = ["ModelConfig", "TrainedModel", "Transformer", "load_model"]

POSITIONS = ("sin", "learned")


@dataclass(frozen=True)
class ModelConfig:
    vocab: int
    classes: int
    layers: int
    heads: int
    d_model: int = 64
    ff: int = 128
    positions: str = "sin"
    max_length: int = 512  # learned positions only
    dropout: float = 0.0
    causal: bool = False

    def to_json(self) -> dict:
        return asdict(self)


class Attention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float, causal: bool = False):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, n, d) -> (B, n, d) and the attention, (B, heads, queries, keys)."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        if self.causal:  # a key after the query gets no weight: the row is over keys <= query
            future = torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        attention = scores.softmax(dim=-1)
        mixed = (self.dropout(attention) @ v).transpose(1, 2).reshape(b, n, d)
        return self.out(mixed), attention


class Layer(nn.Module):
    """x = LN(x + Attn(x)); x = LN(x + FF(x)): the post-LN layer the paper's models used."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.attention = Attention(config.d_model, config.heads, config.dropout,
                                   config.causal)
        self.norm1 = nn.LayerNorm(config.d_model)
        self.feed_forward = nn.Sequential(
            nn.Linear(config.d_model, config.ff), nn.ReLU(), nn.Dropout(config.dropout),
            nn.Linear(config.ff, config.d_model))
        self.norm2 = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mixed, attention = self.attention(x)
        x = self.norm1(x + self.dropout(mixed))
        x = self.norm2(x + self.dropout(self.feed_forward(x)))
        return x, attention


def sinusoids(n: int, d: int) -> torch.Tensor:
    """The tutorial's sinusoidal positions, (n, d)."""
    position = torch.arange(n, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    table = torch.zeros(n, d)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)[:, : d // 2]
    return table


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab, config.d_model)
        self.position = (nn.Embedding(config.max_length, config.d_model)
                         if config.positions == "learned" else None)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.layers))
        self.classify = nn.Linear(config.d_model, config.classes)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """tokens: (B, n) codes -> logits (B, n, classes) and each layer's attention."""
        n = tokens.shape[1]
        if self.position is not None:
            where = self.position(torch.arange(n, device=tokens.device))
        else:
            where = sinusoids(n, self.config.d_model).to(tokens.device)
        x = self.embed(tokens) + where
        attentions = []
        for layer in self.layers:
            x, attention = layer(x)
            attentions.append(attention)
        return self.classify(x), attentions


@dataclass
class TrainedModel:
    """A model with the codes of its tokens and outputs: what model.pt holds."""

    model: Transformer
    vocab: list  # token codes: the BOS first, if the model was trained with one
    classes: list  # output codes
    bos: Any = None

    def predict(self, tokens: list) -> tuple[list, list[np.ndarray]]:
        """The model's output on one input, given as it was trained (the BOS first, if it
        had one), a class at every position; and each layer's attention, (heads, n, n).
        RaspValueError for a token outside the vocabulary, or an input longer than learned
        positions cover."""
        code = {t: i for i, t in enumerate(self.vocab)}
        unknown = [t for t in tokens if t not in code]
        if unknown or not tokens:
            raise RaspValueError(f"{unknown[0]!r} is not in the model's vocabulary" if unknown
                                 else "the model needs an input of at least one token")
        config = self.model.config
        if config.positions == "learned" and len(tokens) > config.max_length:
            raise RaspValueError(f"the model's learned positions cover inputs of up to "
                                 f"{config.max_length} tokens; this one has {len(tokens)}")
        device = next(self.model.parameters()).device
        x = torch.tensor([[code[t] for t in tokens]], device=device)
        self.model.eval()
        with torch.no_grad():
            logits, attentions = self.model(x)
        out = [self.classes[i] for i in logits[0].argmax(-1).tolist()]
        return out, [a[0].cpu().numpy() for a in attentions]


def load_model(path: Path | str) -> TrainedModel:
    """The model of a run's model.pt, alone (its size, vocabulary and classes are in the
    file): `load_model("runs/reverse/model.pt").predict(list("abc"))`. Loaded as weights
    only: a file that asks to run code is refused, as is anything else that is not a model
    (RaspValueError)."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = Transformer(ModelConfig(**saved["model"]))
        model.load_state_dict(saved["state_dict"])
        return TrainedModel(model, list(saved["vocab"]), list(saved["classes"]),
                            saved.get("bos"))
    except Exception as e:  # noqa: BLE001 (a file from anywhere: whatever fails, it is refused)
        raise RaspValueError(f"{path}: not a model rasp can load as weights "
                             f"({type(e).__name__})") from None
