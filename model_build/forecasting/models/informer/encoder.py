"""Informer encoder with self-attention distilling (paper Sec. "Encoder", Eq. 5)."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from forecasting.models.informer.attention import AttentionLayer
from forecasting.models.informer.dropout import Dropout


def activation_fn(name: str) -> Callable[[Tensor], Tensor]:
    """The FFN activation by name ("gelu" in the paper configuration, or "relu")."""
    if name not in ("gelu", "relu"):
        raise ValueError(f"activation must be 'gelu' or 'relu', got {name!r}")
    return F.gelu if name == "gelu" else F.relu


class FeedForward(nn.Module):
    """Position-wise FFN of the encoder and decoder layers, dropout on its hidden and output.

    Two linear maps (the official code uses equivalent kernel-1 conv1d layers).
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float, activation: str) -> None:
        super().__init__()
        self.inner = nn.Linear(d_model, d_ff)
        self.outer = nn.Linear(d_ff, d_model)
        self.dropout = Dropout(dropout)
        self.activation = activation_fn(activation)

    def forward(self, x: Tensor) -> Tensor:
        """x [B,L,d_model] -> [B,L,d_model]."""
        result: Tensor = self.dropout(self.outer(self.dropout(self.activation(self.inner(x)))))
        return result


class EncoderLayer(nn.Module):
    """Post-norm Transformer layer: attention, then a position-wise FFN."""

    def __init__(
        self,
        attention: AttentionLayer,
        d_model: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        self.attention = attention
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """x [B,L,d_model] -> [B,L,d_model]."""
        x = self.norm1(x + self.dropout(self.attention(x, x, x)))
        result: Tensor = self.norm2(x + self.feed_forward(x))
        return result


class DistillingLayer(nn.Module):
    """Self-attention distilling, Eq. 5: MaxPool(ELU(Conv1d(X))) halves the length.

    Conv1d k=3 (circular padding) + BatchNorm + ELU + MaxPool(k=3, s=2, p=1): L -> ceil(L/2),
    so later layers attend over the dominant features at half the cost.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(d_model, d_model, 3, padding=1, padding_mode="circular")
        self.norm = nn.BatchNorm1d(d_model)
        self.pool = nn.MaxPool1d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """x [B,L,d_model] -> [B,ceil(L/2),d_model]."""
        y = self.pool(F.elu(self.norm(self.conv(x.transpose(1, 2)))))
        result: Tensor = y.transpose(1, 2)
        return result


class Encoder(nn.Module):
    """Stack of encoder layers with a distilling layer between consecutive ones, then LayerNorm."""

    def __init__(
        self, layers: list[EncoderLayer], distil_layers: list[DistillingLayer] | None, d_model: int
    ) -> None:
        super().__init__()
        if distil_layers and len(distil_layers) != len(layers) - 1:
            raise ValueError("need exactly one distilling layer between consecutive encoder layers")
        self.layers = nn.ModuleList(layers)
        self.distil_layers = nn.ModuleList(distil_layers or [])
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        """x [B,L,d_model] -> [B,L',d_model], L' = L / 2^(e_layers-1) (rounded up) with distil."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.distil_layers):
                x = self.distil_layers[i](x)
        result: Tensor = self.norm(x)
        return result
