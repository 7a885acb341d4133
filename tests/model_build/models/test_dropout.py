import pytest
import torch
import torch.nn.functional as F

from forecasting.models.informer.attention import FullAttention
from forecasting.models.informer.dropout import Dropout, dropout


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5])
def test_drops_at_the_rate_and_keeps_the_mean(p):
    torch.manual_seed(0)
    x = torch.ones(1_000_000)
    out = dropout(x, p)
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - p) < 5 * (p * (1 - p) / x.numel()) ** 0.5 + 1 / 32768
    assert out.mean().item() == pytest.approx(1.0, abs=5e-3)
    kept = out[out != 0]
    assert torch.all(kept == kept[0])  # one scale for every kept element


def test_masks_differ_across_elements_and_calls_but_repeat_under_a_seed():
    x = torch.ones(64, 33)  # not a multiple of four elements per draw in any row
    torch.manual_seed(3)
    first, second = dropout(x, 0.5), dropout(x, 0.5)
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.5), first)
    assert not torch.equal(first, second)
    # no lane of the four 16-bit lanes per 64-bit draw is constant
    for lane in range(4):
        assert 0.3 < (first.flatten()[lane::4] == 0).float().mean() < 0.7


def test_gradient_is_the_same_mask_and_scale():
    torch.manual_seed(1)
    x = torch.randn(50, 40, requires_grad=True)
    out = dropout(x, 0.2)
    out.sum().backward()
    scale = out.detach() / x.detach()
    torch.testing.assert_close(x.grad, torch.where(out != 0, scale, 0.0))


def test_identity_in_eval_and_at_zero_and_keeps_dtype():
    x = torch.randn(8, 8)
    layer = Dropout(0.3).eval()
    assert layer(x) is x
    assert dropout(x, 0.0) is x
    assert dropout(x.bfloat16(), 0.3).dtype == torch.bfloat16


@pytest.mark.parametrize("p", [1.0, -0.1])
def test_probability_out_of_range_is_refused(p):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(p)


@pytest.mark.parametrize("causal", [False, True])
def test_full_attention_plain_path_equals_the_fused_kernel(causal):
    """With a rate that rounds to no drop, the training path with dropout is exact attention."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 10, 8, generator=g) for _ in range(3))
    attention = FullAttention(causal=causal, dropout=1e-9).train()
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    torch.testing.assert_close(attention(q, k, v), expected, atol=1e-5, rtol=1e-5)


def test_full_attention_drops_attention_weights_in_training_only():
    g = torch.Generator().manual_seed(0)
    q, k = (torch.randn(1, 1, 200, 4, generator=g) for _ in range(2))
    v = torch.ones(1, 1, 200, 4)  # each output row is the sum of its kept, rescaled weights
    attention = FullAttention(dropout=0.5)
    rows = attention.train()(q, k, v)[..., 0]
    assert not torch.allclose(rows, torch.ones_like(rows))
    assert rows.mean().item() == pytest.approx(1.0, abs=0.1)
    torch.testing.assert_close(attention.eval()(q, k, v), v)
