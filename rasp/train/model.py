"""The model: a transformer that labels every position, as in the paper's §5 (post-LN layers,
ReLU feed-forward), with each head's attention exposed so that it can be supervised and
compared with the program's selectors. An encoder by default; with `causal` a decoder, whose
queries attend only to keys at or before them (the causal RASP mask, k <= q)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["ModelConfig", "Transformer"]

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
