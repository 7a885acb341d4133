"""Attention for the Informer (Zhou et al., AAAI 2021, arXiv 2012.07436).

Inner attentions take and return per-head tensors ``[B, H, L, D]``; `AttentionLayer` owns the
projections. Full attention runs through `F.scaled_dot_product_attention` (fused on CPU).
"""

from __future__ import annotations

import math
import warnings

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


# The dense ranking computes L_K scores per query where the paper needs U, but a matmul computes a
# score many times faster than the O(L·U) methods, so up to this many keys per sampled key it is
# the fastest. Measured on a 2-core EPYC at head width 16-64 against the sparse kernel, which runs
# in fp32 only (a bf16 matmul runs at 4x the fp32 peak, hence the larger bf16 ratio). Off CPU,
# where the sparse kernel is untested, long inputs take the gather path, with the ratio measured
# for it on CPU.
DENSE_RANKING_MAX_KEYS_PER_SAMPLE = {"cpu-fp32": 4, "cpu-half": 16, "accelerator": 8}
# Elements of gathered keys per chunk: each chunk costs kernel launches, so they are as large as
# memory comfortably allows.
_GATHER_CHUNK = 1 << 26


def ranking_method(device_type: str, dtype: torch.dtype, l_k: int, n_sample: int) -> str:
    """How `sampled_scores` computes the ranking's scores for these inputs (see the ratios)."""
    if device_type != "cpu":
        kind, long_method = "accelerator", "gather"
    else:
        kind, long_method = ("cpu-fp32" if dtype == torch.float32 else "cpu-half"), "sparse"
    return "dense" if l_k <= DENSE_RANKING_MAX_KEYS_PER_SAMPLE[kind] * n_sample else long_method


def sampled_scores(q: Tensor, k: Tensor, index: Tensor, method: str) -> Tensor:
    """Scores q_i·k_j for the sampled keys j = index[i, :]; shape [B,H,L_Q,U].

    q [B,H,L_Q,D], k [B,H,L_K,D], index [L_Q,U] (shared over batch and heads, as in the paper).
    ``method`` (all give the same scores):

    * ``sparse``: a sampled matrix product (SDDMM) at the sampled positions, O(L_Q·U) time and
      memory as in the paper, with nothing gathered (torch implements it for fp32 CSR only).
    * ``dense``: read from the full score matrix, O(L_Q·L_K) time and memory.
    * ``gather``: the sampled keys are gathered, a few queries at a time so that they never
      exceed a chunk, O(L_Q·U).
    """
    if method == "sparse":
        return _sparse_sampled_scores(q, k, index)
    if method == "dense":
        scores = q @ k.transpose(-2, -1)
        return scores.gather(-1, index.expand(*scores.shape[:2], *index.shape))
    b, h, l_q, d = q.shape
    n_sample = index.shape[1]
    # Positions first, so that one sampled key of every (batch, head) is one contiguous row.
    key_rows = k.permute(2, 0, 1, 3).reshape(-1, b * h, d)
    query_rows = q.permute(2, 0, 1, 3).reshape(l_q, b * h, 1, d)
    out = q.new_empty(l_q, b * h, n_sample)
    step = max(1, _GATHER_CHUNK // (n_sample * b * h * d))
    for start in range(0, l_q, step):
        rows = index[start : start + step]
        keys = key_rows.index_select(0, rows.flatten()).view(len(rows), n_sample, b * h, d)
        out[start : start + len(rows)] = (
            keys.transpose(1, 2) * query_rows[start : start + step]
        ).sum(-1)
    return out.view(l_q, b, h, n_sample).permute(1, 2, 0, 3)


def _sparse_sampled_scores(q: Tensor, k: Tensor, index: Tensor) -> Tensor:
    """`sampled_scores` through `torch.sparse.sampled_addmm`, in fp32.

    A CSR pattern needs each row's columns sorted and distinct, while the paper samples with
    replacement; so the product runs once per distinct (query, key) pair and every sample then
    reads its pair's score back, which keeps the duplicates' weight in the mean.
    """
    b, h, l_q, d = q.shape
    l_k = k.shape[2]
    keys, order = index.sort(dim=1)
    distinct = torch.ones_like(keys, dtype=torch.bool)
    distinct[:, 1:] = keys[:, 1:] != keys[:, :-1]
    pair = (distinct.flatten().cumsum(0) - 1).view_as(keys)  # each sorted sample's pair
    pair = torch.empty_like(pair).scatter_(1, order, pair)  # ... in the samples' own order
    row_ends = distinct.sum(1).cumsum(0)
    crow = torch.cat([row_ends.new_zeros(1), row_ends])
    columns = keys[distinct]
    n = b * h
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        pattern = torch.sparse_csr_tensor(
            crow.expand(n, -1),  # the pattern is shared, so every (batch, head) views one copy
            columns.expand(n, -1),
            torch.zeros(n, columns.numel(), device=q.device),
            (n, l_q, l_k),
            check_invariants=False,  # sorted and distinct by construction
        )
    scores = torch.sparse.sampled_addmm(
        pattern,
        q.reshape(n, l_q, d).float(),
        k.reshape(n, l_k, d).float().transpose(1, 2),
        beta=0.0,
    ).values()
    result: Tensor = scores[:, pair.flatten()].view(b, h, l_q, -1)
    return result


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
                method = ranking_method(q.device.type, q.dtype, l_k, n_sample)
                scores = sampled_scores(q, k, index, method)
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
        result: Tensor = self.out(out)
        return result
