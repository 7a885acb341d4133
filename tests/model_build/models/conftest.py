"""Tiny Informer settings shared by the model tests (fast on 2 CPU cores)."""

import pytest
import torch

from forecasting.models.informer.model import make_decoder_input

SEQ, LABEL, PRED, C, F = 32, 16, 8, 3, 4


def tiny_kwargs(**overrides):
    kwargs = dict(
        enc_in=C, dec_in=C, c_out=C, seq_len=SEQ, label_len=LABEL, pred_len=PRED,
        n_time_features=F, d_model=16, n_heads=2, e_layers=2, d_layers=1, d_ff=32, dropout=0.0,
    )  # fmt: skip
    kwargs.update(overrides)
    return kwargs


def tiny_batch(batch_size: int = 4, c_out: int = C, seed: int = 0):
    """(x_enc, x_mark_enc, y, y_mark) shaped like a WindowDataset batch."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, SEQ, C, generator=g)
    x_mark = torch.rand(batch_size, SEQ, F, generator=g) - 0.5
    y = torch.randn(batch_size, LABEL + PRED, c_out, generator=g)
    y_mark = torch.rand(batch_size, LABEL + PRED, F, generator=g) - 0.5
    return x, x_mark, y, y_mark


def model_inputs(batch):
    x, x_mark, y, y_mark = batch
    return x, x_mark, make_decoder_input(y, LABEL, PRED), y_mark


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
