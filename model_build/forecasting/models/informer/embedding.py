"""Input representation of the Informer (paper Appendix B, "The Uniform Input Representation").

The input is the sum of a scalar projection of the values, a fixed positional encoding and a
learned projection of the calendar ("global time stamp") features.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from forecasting.models.informer.dropout import Dropout


class TokenEmbedding(nn.Module):
    """Values to d_model with a circular conv1d (k=3), as in the official code, so each token
    also sees its neighbours."""

    def __init__(self, c_in: int, d_model: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, d_model, 3, padding=1, padding_mode="circular", bias=False)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_in", nonlinearity="leaky_relu")

    def forward(self, x: Tensor) -> Tensor:
        """x [B,L,c_in] -> [B,L,d_model]."""
        result: Tensor = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return result


class PositionalEmbedding(nn.Module):
    """Fixed sinusoidal local time stamp encoding (Vaswani et al. 2017; paper Appendix B)."""

    pe: Tensor  # a buffer (register_buffer below)

    def __init__(self, d_model: int, max_len: int = 5000) -> None:
        super().__init__()
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        div = torch.exp(
            torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(1e4) / d_model)
        )
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div[: d_model // 2])
        # Not persistent: it is a constant, so checkpoints stay small.
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, length: int) -> Tensor:
        """-> [1,length,d_model]."""
        return self.pe[:length].unsqueeze(0)


class TimeFeatureEmbedding(nn.Module):
    """Linear projection of the continuous calendar features (official ``embed="timeF"``)."""

    def __init__(self, n_features: int, d_model: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, d_model, bias=False)

    def forward(self, x_mark: Tensor) -> Tensor:
        """x_mark [B,L,F] -> [B,L,d_model]."""
        result: Tensor = self.linear(x_mark)
        return result


class DataEmbedding(nn.Module):
    """Value + position + time-feature embedding, then dropout."""

    def __init__(self, c_in: int, d_model: int, n_time_features: int, dropout: float = 0.0):
        super().__init__()
        self.value = TokenEmbedding(c_in, d_model)
        self.position = PositionalEmbedding(d_model)
        self.time = TimeFeatureEmbedding(n_time_features, d_model) if n_time_features else None
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, x_mark: Tensor | None) -> Tensor:
        """x [B,L,c_in], x_mark [B,L,F] -> [B,L,d_model]."""
        out = self.value(x) + self.position(x.shape[1])
        if self.time is not None and x_mark is not None:
            out = out + self.time(x_mark)
        result: Tensor = self.dropout(out)
        return result
