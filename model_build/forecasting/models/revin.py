"""Reversible instance normalisation (RevIN; Kim et al., ICLR 2022).

Each input window is normalised by its own per-channel mean/std and the model output is mapped
back with the same statistics, which removes level shifts between windows (distribution shift).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

Stats = tuple[Tensor, Tensor]


class RevIN(nn.Module):
    """Per-instance, per-channel normalisation with an optional learnable affine map.

    Stateless between calls: `normalize` returns the statistics and `denormalize` takes them,
    so one module can serve concurrent forward passes.
    """

    def __init__(self, n_channels: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(n_channels))
            self.bias = nn.Parameter(torch.zeros(n_channels))

    def statistics(self, x: Tensor) -> Stats:
        """x [B,L,C] -> (mean, std), each [B,1,C]; detached as in the paper's reference code."""
        mean = x.mean(1, keepdim=True).detach()
        std = torch.sqrt(x.var(1, keepdim=True, unbiased=False) + self.eps).detach()
        return mean, std

    def normalize(self, x: Tensor, stats: Stats, channels: int | None = None) -> Tensor:
        """x [B,L,C'] -> normalised [B,L,C'], using the first C' = ``channels`` channels' stats."""
        mean, std = (s[..., :channels] for s in stats)
        x = (x - mean) / std
        return x * self.weight[:channels] + self.bias[:channels] if self.affine else x

    def denormalize(self, x: Tensor, stats: Stats, channels: int | None = None) -> Tensor:
        """Inverse of `normalize`: x [B,L,C'] -> [B,L,C'] in the original scale."""
        mean, std = (s[..., :channels] for s in stats)
        if self.affine:
            x = (x - self.bias[:channels]) / (self.weight[:channels] + self.eps * self.eps)
        return x * std + mean
