"""Dropout with a cheaper mask on CPU.

On CPU torch draws one 32-bit number from its Mersenne Twister per element for a dropout mask,
a large part of a training step once the matrix products run in bf16 (the results page has the
share, from benchmarks/informer_precision.py). Here each 64-bit draw (63 random bits) gives
four 15-bit uniforms, a quarter of the draws. The drop probability is rounded to a multiple of
1/32768 and the kept values are scaled by the inverse of the rounded keep probability, so the
expectation is unchanged. The draws come from
torch's generator, so ``torch.manual_seed`` repeats them. Other devices use torch's own kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LEVELS = 1 << 15


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Zero each element with probability p (to 1/32768) and scale the rest to keep the mean."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, training=True)
    threshold = min(round(p * _LEVELS), _LEVELS - 1)
    n = x.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_()  # [0, 2^63): 63 random bits
    uniforms = words.view(torch.int16)[:n].view(x.shape).bitwise_and_(_LEVELS - 1)
    scale = torch.tensor(_LEVELS / (_LEVELS - threshold), dtype=x.dtype)
    return x * torch.where(uniforms >= threshold, scale, torch.zeros((), dtype=x.dtype))


class Dropout(nn.Module):
    """`nn.Dropout` with the mask above; ``p`` must be in [0, 1)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
