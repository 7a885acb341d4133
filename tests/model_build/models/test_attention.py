import pytest
import torch

from forecasting.models.informer import attention
from forecasting.models.informer.attention import (
    AttentionLayer,
    FullAttention,
    ProbAttention,
    sampled_scores,
)


def qkv(length=16, batch=2, heads=2, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, length, dim, generator=g) for _ in range(3)]


@pytest.mark.parametrize("causal", [False, True])
def test_probsparse_equals_full_when_sampling_covers_everything(causal):
    q, k, v = qkv(length=16)  # factor 10: 10*ceil(ln 16) = 30 >= 16 keys and queries
    prob = ProbAttention(causal=causal, factor=10)(q, k, v)
    full = FullAttention(causal=causal)(q, k, v)
    torch.testing.assert_close(prob, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_probsparse_active_rows_are_exact_and_lazy_rows_trivial(causal):
    q, k, v = qkv(length=32)
    out = ProbAttention(causal=causal, factor=1)(q, k, v)  # u = ceil(ln 32) = 4 active queries
    full = FullAttention(causal=causal)(q, k, v)
    lazy = v.cumsum(-2) if causal else v.mean(-2, keepdim=True).expand_as(v)
    is_active = torch.isclose(out, full, atol=1e-5).all(-1)
    is_lazy = torch.isclose(out, lazy, atol=1e-5).all(-1)
    assert (is_active | is_lazy).all()
    # Causal row 0 attends only to itself, so its exact and lazy outputs coincide.
    n_exact = (is_active & ~is_lazy).sum(-1)
    assert ((n_exact == 4) | (causal & (n_exact == 3))).all()


def test_probsparse_sampling_is_reproducible():
    q, k, v = qkv(length=64)
    out1 = ProbAttention(factor=1, generator=torch.Generator().manual_seed(3))(q, k, v)
    out2 = ProbAttention(factor=1, generator=torch.Generator().manual_seed(3))(q, k, v)
    torch.testing.assert_close(out1, out2, atol=0, rtol=0)
    torch.manual_seed(5)
    out3 = ProbAttention(factor=1)(q, k, v)
    torch.manual_seed(5)
    torch.testing.assert_close(ProbAttention(factor=1)(q, k, v), out3, atol=0, rtol=0)


@pytest.mark.parametrize("chunk", [1, 300, 1 << 18])  # one query per chunk, a ragged last one, all
def test_sampled_scores_methods_agree(monkeypatch, chunk):
    monkeypatch.setattr(attention, "_GATHER_CHUNK", chunk)
    q, _, _ = qkv(length=20)
    _, k, _ = qkv(length=33, seed=1)
    index = torch.randint(33, (20, 6), generator=torch.Generator().manual_seed(0))
    index[3] = torch.tensor([7, 2, 7, 7, 0, 2])  # sampling is with replacement: repeats count
    dense = sampled_scores(q, k, index, "dense")
    assert dense.shape == (2, 2, 20, 6)
    assert dense[..., 3, 0].equal(dense[..., 3, 2])
    for method in ("gather", "sparse"):
        torch.testing.assert_close(sampled_scores(q, k, index, method), dense, atol=1e-5, rtol=1e-5)


def test_sparse_scores_are_fp32_for_bf16_inputs():
    q, k, _ = qkv(length=24)
    index = torch.randint(24, (24, 5))
    scores = sampled_scores(q.bfloat16(), k.bfloat16(), index, "sparse")
    assert scores.dtype == torch.float32
    expected = sampled_scores(q.bfloat16().float(), k.bfloat16().float(), index, "dense")
    torch.testing.assert_close(scores, expected)


@pytest.mark.parametrize(
    ("device", "dtype", "length", "method"),
    [
        ("cpu", torch.float32, 96, "dense"),  # U = 5·⌈ln L⌉: 25 at 96, 30 at 192-480, 35 at 768
        ("cpu", torch.float32, 192, "sparse"),
        ("cpu", torch.float32, 1536, "sparse"),
        ("cpu", torch.bfloat16, 480, "dense"),
        ("cpu", torch.bfloat16, 768, "sparse"),
        ("cuda", torch.float32, 240, "dense"),
        ("cuda", torch.float32, 384, "gather"),
    ],
)
def test_ranking_reads_dense_scores_only_for_short_inputs(
    monkeypatch, device, dtype, length, method
):
    assert (
        attention.ranking_method(device, dtype, length, attention._sample_count(5, length))
        == method
    )
    if device == "cpu":
        seen = []
        original = attention.sampled_scores
        monkeypatch.setattr(
            attention, "sampled_scores", lambda *a: seen.append(a[-1]) or original(*a)
        )
        ProbAttention(factor=5)(*(t.to(dtype) for t in qkv(length=length)))
        assert seen == [method]


def test_probsparse_cross_lengths_and_gradients():
    q, _, _ = qkv(length=24)
    _, k, v = qkv(length=40, seed=1)
    q.requires_grad_()
    out = ProbAttention(factor=2)(q, k, v)
    assert out.shape == q.shape
    out.sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()


@pytest.mark.parametrize("mix", [False, True])
def test_attention_layer_shapes(mix):
    layer = AttentionLayer(ProbAttention(factor=2), d_model=16, n_heads=4, mix=mix)
    x, memory = torch.randn(2, 12, 16), torch.randn(2, 20, 16)
    assert layer(x, x, x).shape == (2, 12, 16)
    cross = AttentionLayer(FullAttention(), d_model=16, n_heads=4, mix=mix)
    assert cross(x, memory, memory).shape == (2, 12, 16)


def test_mix_flattens_heads_as_if_sequence_major():
    layer = AttentionLayer(FullAttention(), d_model=4, n_heads=2, mix=True)
    layer.out = torch.nn.Identity()

    class Fixed(torch.nn.Module):
        def forward(self, q, k, v):
            return torch.arange(2 * 3 * 2).float().view(1, 2, 3, 2)  # [B,H,L,D]

    layer.attention = Fixed()
    x = torch.zeros(1, 3, 4)
    expected = torch.arange(12).float().view(1, 3, 4)  # [B,H,L,D] memory read as [B,L,H*D]
    torch.testing.assert_close(layer(x, x, x), expected)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("length", [1, 2, 3])
def test_probsparse_very_short_sequences(causal, length):
    q, k, v = qkv(length=length)
    out = ProbAttention(causal=causal, factor=5)(q, k, v)
    torch.testing.assert_close(out, FullAttention(causal=causal)(q, k, v), atol=1e-5, rtol=1e-5)
