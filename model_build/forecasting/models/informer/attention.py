"""Attention for the Informer (Zhou et al., AAAI 2021, arXiv 2012.07436).

Inner attentions take and return per-head tensors ``[B, H, L, D]``; `AttentionLayer` owns the
projections. Full attention runs through `F.scaled_dot_product_attention` (fused on CPU).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forecasting.models.informer.dropout import dropout


class FullAttention(nn.Module):
    """Canonical scaled dot-product attention, softmax(QKᵀ/√d)V (paper Eq. 1).

    Used for the decoder cross-attention and when ``attention="full"``.
    """

    def __init__(self, causal: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.causal = causal
        self.dropout = dropout

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """q [B,H,L_Q,D], k/v [B,H,L_K,D] -> [B,H,L_Q,D]."""
        p = self.dropout if self.training else 0.0
        if p and q.device.type == "cpu":
            # torch's CPU kernel falls back to plain ops under dropout anyway; these use the
            # cheaper dropout mask.
            scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
            if self.causal:  # query i sees keys j <= i, as is_causal does
                future = torch.ones(scores.shape[-2:], dtype=torch.bool).triu(1)
                scores = scores.masked_fill(future, float("-inf"))
            return dropout(scores.softmax(-1), p) @ v
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)


def _sample_count(factor: int, length: int) -> int:
    """c·⌈ln L⌉ (paper Sec. "ProbSparse Self-attention"), within [1, L] (ln 1 = 0)."""
    return min(max(factor * math.ceil(math.log(length)), 1), length)


# The dense ranking computes L_K scores per query where the paper needs U; a CPU matmul is
# roughly this many times faster per score than the gather, so below it dense wins (measured:
# crossover between L = 192 and 384 at U = 30), and above it the gathered path's O(L·U) cost does.
DENSE_RANKING_MAX_KEYS_PER_SAMPLE = 8
# Elements of gathered keys per chunk. On CPU 1 MiB of fp32 stays in cache; on an accelerator
# each chunk costs kernel launches, so there chunks are as large as memory comfortably allows.
_GATHER_CHUNK = 1 << 18
_GATHER_CHUNK_ACCELERATOR = 1 << 26


def sampled_scores(q: Tensor, k: Tensor, index: Tensor, dense: bool) -> Tensor:
    """Scores q_i·k_j for the sampled keys j = index[i, :]; shape [B,H,L_Q,U].

    q [B,H,L_Q,D], k [B,H,L_K,D], index [L_Q,U] (shared over batch and heads, as in the paper).
    ``dense`` reads them from the full score matrix: O(L_Q·L_K) time and memory, cheaper only
    for short inputs. Otherwise the sampled keys are gathered, a few queries at a time so the
    gathered keys never exceed a chunk: O(L_Q·U) time and memory, as in the paper.
    """
    if dense:
        scores = q @ k.transpose(-2, -1)
        return scores.gather(-1, index.expand(*scores.shape[:2], *index.shape))
    b, h, l_q, d = q.shape
    n_sample = index.shape[1]
    # Positions first, so that one sampled key of every (batch, head) is one contiguous row.
    key_rows = k.permute(2, 0, 1, 3).reshape(-1, b * h, d)
    query_rows = q.permute(2, 0, 1, 3).reshape(l_q, b * h, 1, d)
    out = q.new_empty(l_q, b * h, n_sample)
    chunk = _GATHER_CHUNK if q.device.type == "cpu" else _GATHER_CHUNK_ACCELERATOR
    step = max(1, chunk // (n_sample * b * h * d))
    for start in range(0, l_q, step):
        rows = index[start : start + step]
        keys = key_rows.index_select(0, rows.flatten()).view(len(rows), n_sample, b * h, d)
        out[start : start + len(rows)] = (
            keys.transpose(1, 2) * query_rows[start : start + step]
        ).sum(-1)
    return out.view(l_q, b, h, n_sample).permute(1, 2, 0, 3)


class ProbAttention(nn.Module):
    """ProbSparse self-attention (paper Sec. "ProbSparse Self-attention", Eq. 3-4).

    Only the u = c·⌈ln L_Q⌉ "active" queries with the largest sparsity measurement
    M̄(q, K) = max_j(q·k_j/√d) − mean_j(q·k_j/√d), estimated on U = c·⌈ln L_K⌉ randomly sampled
    keys per query, attend over all keys; the lazy queries get the trivial output mean(V)
    (or cumsum(V) under the causal mask, as in the official code).

    The scale is dropped when ranking M̄ (it does not change the order) and, as in the official code,
    the ranking ignores the causal mask (the decoder's future inputs are known placeholders).
    When U ≥ L_K all keys are used, so with u = L_Q the result equals full attention exactly.
    As in the official code no attention dropout is applied here. Sampling draws from
    ``generator`` (or the global RNG), so it is reproducible under ``torch.manual_seed``.
    """

    def __init__(
        self, causal: bool = False, factor: int = 5, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.causal = causal
        self.factor = factor
        self.generator = generator

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """q [B,H,L_Q,D], k/v [B,H,L_K,D] -> [B,H,L_Q,D]."""
        b, h, l_q, d = q.shape
        l_k = k.shape[2]
        if self.causal and l_q != l_k:
            raise ValueError(f"causal ProbSparse attention needs L_Q == L_K, got {l_q} and {l_k}")
        n_sample = _sample_count(self.factor, l_k)
        n_top = _sample_count(self.factor, l_q)

        # The top-u selection is an index, so no gradient flows through M̄.
        with torch.no_grad():
            if n_sample >= l_k:
                scores = q @ k.transpose(-2, -1)
            else:
                index = torch.randint(
                    l_k, (l_q, n_sample), generator=self.generator, device=q.device
                )
                dense = l_k <= DENSE_RANKING_MAX_KEYS_PER_SAMPLE * n_sample
                scores = sampled_scores(q, k, index, dense=dense)
            sparsity = scores.amax(-1) - scores.mean(-1)  # [B,H,L_Q]
            top = sparsity.topk(n_top, dim=-1, sorted=False).indices  # [B,H,u]

        top_d = top.unsqueeze(-1).expand(b, h, n_top, d)
        mask = None
        if self.causal:  # active query i may only see keys j <= i
            mask = torch.arange(l_k, device=q.device) <= top.unsqueeze(-1)  # [B,H,u,L_K]
        active = F.scaled_dot_product_attention(q.gather(2, top_d), k, v, attn_mask=mask)

        lazy = v.cumsum(-2) if self.causal else v.mean(-2, keepdim=True).expand(b, h, l_q, d)
        return lazy.to(active.dtype).scatter(2, top_d, active)


class AttentionLayer(nn.Module):
    """Multi-head projections around an inner attention.

    ``mix=True`` reproduces the official code's "mix" of the decoder self-attention: the
    [B,H,L,D] head outputs are flattened as if they were [B,L,H,D], so each output position mixes
    several positions of one head. This breaks decoder causality, which is part of the paper's
    configuration (mix is on only in the decoder self-attention).
    """

    def __init__(self, attention: nn.Module, d_model: int, n_heads: int, mix: bool = False) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.attention = attention
        self.n_heads = n_heads
        self.mix = mix
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def _heads(self, x: Tensor) -> Tensor:
        b, length, _ = x.shape
        return x.view(b, length, self.n_heads, -1).transpose(1, 2)

    def forward(self, queries: Tensor, keys: Tensor, values: Tensor) -> Tensor:
        """queries [B,L_Q,d_model], keys/values [B,L_K,d_model] -> [B,L_Q,d_model]."""
        b, l_q, d_model = queries.shape
        q = self._heads(self.query(queries))
        k = self._heads(self.key(keys))
        v = self._heads(self.value(values))
        out = self.attention(q, k, v)  # [B,H,L_Q,D]
        out = out.reshape(b, l_q, d_model) if self.mix else out.transpose(1, 2).reshape(b, l_q, -1)
        return self.out(out)
