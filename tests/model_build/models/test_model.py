import pytest
import torch

from forecasting.errors import ConfigError
from forecasting.models.informer.encoder import DistillingLayer
from forecasting.models.informer.model import Informer, make_decoder_input
from forecasting.models.revin import RevIN

from .conftest import LABEL, PRED, SEQ, model_inputs, tiny_batch, tiny_kwargs


def test_make_decoder_input_is_start_token_then_zeros():
    y = torch.randn(2, LABEL + PRED, 3)
    x_dec = make_decoder_input(y, LABEL, PRED)
    assert x_dec.shape == y.shape
    torch.testing.assert_close(x_dec[:, :LABEL], y[:, :LABEL])
    assert (x_dec[:, LABEL:] == 0).all()


@pytest.mark.parametrize("attention", ["prob", "full"])
@pytest.mark.parametrize("distil", [True, False])
@pytest.mark.parametrize("mix", [True, False])
@pytest.mark.parametrize("revin", [False, True])
def test_output_shape(attention, distil, mix, revin):
    model = Informer(**tiny_kwargs(attention=attention, distil=distil, mix=mix, revin=revin))
    out = model(*model_inputs(tiny_batch()))
    assert out.shape == (4, PRED, 3)
    assert torch.isfinite(out).all()


def test_multivariate_to_univariate_shape():
    model = Informer(**tiny_kwargs(dec_in=1, c_out=1))
    out = model(*model_inputs(tiny_batch(c_out=1)))
    assert out.shape == (4, PRED, 1)


@pytest.mark.parametrize("length", [32, 33])
def test_distilling_halves_the_length(length):
    out = DistillingLayer(16)(torch.randn(2, length, 16))
    assert out.shape == (2, (length + 1) // 2, 16)


def test_encoder_distils_between_layers():
    model = Informer(**tiny_kwargs(e_layers=3))
    x = model.enc_embedding(torch.randn(2, SEQ, 3), torch.zeros(2, SEQ, 4))
    assert model.encoder(x).shape == (2, SEQ // 4, 16)
    undistilled = Informer(**tiny_kwargs(e_layers=3, distil=False))
    assert undistilled.encoder(x).shape == (2, SEQ, 16)


def test_decoder_is_causal_with_full_attention():
    # mix=False: "mix" scrambles positions across heads by design (official configuration).
    model = Informer(**tiny_kwargs(attention="full", mix=False)).eval()
    x, x_mark, x_dec, y_mark = model_inputs(tiny_batch())
    base = model(x, x_mark, x_dec, y_mark)
    t = 5  # horizon step; decoder position LABEL + t
    marks = y_mark.clone()
    marks[:, LABEL + t] += 1.0
    changed = model(x, x_mark, x_dec, marks)
    torch.testing.assert_close(changed[:, :t], base[:, :t])
    assert not torch.allclose(changed[:, t], base[:, t])
    # The k=3 value embedding sees one step ahead, so a value change reaches step t-1 at most.
    values = x_dec.clone()
    values[:, LABEL + t] += 1.0
    changed = model(x, x_mark, values, y_mark)
    torch.testing.assert_close(changed[:, : t - 1], base[:, : t - 1])


def test_probsparse_model_equals_full_model_when_sampling_covers_everything():
    full = Informer(**tiny_kwargs(attention="full", factor=20)).eval()
    prob = Informer(**tiny_kwargs(attention="prob", factor=20)).eval()
    prob.load_state_dict(full.state_dict())
    inputs = model_inputs(tiny_batch())
    torch.testing.assert_close(prob(*inputs), full(*inputs), atol=1e-5, rtol=1e-5)


def test_revin_round_trip_and_scale_equivariance():
    revin = RevIN(3)
    x = torch.randn(2, 10, 3) * 5 + 3
    stats = revin.statistics(x)
    torch.testing.assert_close(revin.denormalize(revin.normalize(x, stats), stats), x)
    model = Informer(**tiny_kwargs(revin=True)).eval()
    x, x_mark, x_dec, y_mark = model_inputs(tiny_batch())
    shifted = x_dec.clone()
    shifted[:, :LABEL] = shifted[:, :LABEL] * 10 + 5
    torch.manual_seed(1)  # same ProbSparse key samples for both
    out = model(x * 10 + 5, x_mark, shifted, y_mark)
    torch.manual_seed(1)
    expected = model(x, x_mark, x_dec, y_mark) * 10 + 5
    torch.testing.assert_close(out, expected, atol=1e-3, rtol=1e-4)


def test_revin_with_covariates_normalises_targets_with_their_own_statistics():
    """Targets are the first c_out encoder channels; shifting them shifts the forecast."""
    model = Informer(**tiny_kwargs(revin=True, dec_in=1, c_out=1)).eval()
    x, x_mark, x_dec, y_mark = model_inputs(tiny_batch())
    x_dec = x_dec[..., :1]
    shifted_x, shifted_dec = x.clone(), x_dec.clone()
    shifted_x[..., 0] = shifted_x[..., 0] * 10 + 5
    shifted_dec[:, :LABEL] = shifted_dec[:, :LABEL] * 10 + 5
    torch.manual_seed(1)
    out = model(shifted_x, x_mark, shifted_dec, y_mark)
    torch.manual_seed(1)
    expected = model(x, x_mark, x_dec, y_mark) * 10 + 5
    assert out.shape == (x.shape[0], PRED, 1)
    torch.testing.assert_close(out, expected, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize(
    "overrides",
    [
        {"revin": True, "c_out": 1},  # the decoder input must have the targets only
        {"revin": True, "enc_in": 1, "dec_in": 2, "c_out": 2},
        {"attention": "linear"},
        {"activation": "tanh"},
        {"n_heads": 3},
        {"label_len": SEQ + 1},
    ],
)
def test_bad_configuration_raises_config_error(overrides):
    with pytest.raises(ConfigError):
        Informer(**tiny_kwargs(**overrides))


@pytest.mark.parametrize("attention", ["prob", "full"])
def test_a_few_steps_overfit_a_tiny_batch(attention):
    model = Informer(**tiny_kwargs(attention=attention))
    batch = tiny_batch()
    inputs, target = model_inputs(batch), batch[2][:, -PRED:]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(3):
        loss = torch.nn.functional.mse_loss(model(*inputs), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("attention", ["prob", "full"])
def test_bf16_autocast_forward_backward(attention):
    model = Informer(**tiny_kwargs(attention=attention, dropout=0.05, revin=True))
    batch = tiny_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(*model_inputs(batch))
    loss = torch.nn.functional.mse_loss(out.float(), batch[2][:, -PRED:])
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
