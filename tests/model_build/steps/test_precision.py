"""Mixed precision through the real train step, on the CPU where the cause reproduces there."""

from __future__ import annotations

import torch

from forecasting.channels import read_channel
from forecasting.families import family
from forecasting.steps import train

from .conftest import TINY_TFT, train_paths


def test_the_tft_trains_under_bf16_with_its_default_gradient_clipping(tmp_path, tft_channels):
    # Lightning's mixed-precision plugin refuses to clip gradients for an optimizer that
    # unscales them itself (fused Adam), bf16 included: the first step raised.
    summary = train.main(
        [*TINY_TFT, *train_paths(tmp_path, tft_channels), "--max-epochs", "1",
         "--limit-train-batches", "2", "--precision", "bf16-mixed"]
    )  # fmt: skip
    assert summary["precision"] == "bf16-mixed"
    assert summary["global_steps"] == 2


def test_the_tft_attention_runs_in_half_precision(tft_channels):
    # Under 16-mixed on CUDA autocast runs the attention in fp16, where pytorch-forecasting's
    # mask bias of -1e9 overflows in masked_fill. CPU autocast to fp16 reproduces it (Lightning
    # itself turns 16-mixed into bf16 on the CPU, so the train step cannot show it here). The
    # decoder attends causally, so every forward pass applies the mask.
    args = train.parse_args([*TINY_TFT, "--precision", "16-mixed"])
    setup = family("tft").training_setup(
        train.training_options(args), read_channel(tft_channels / "train"),
        read_channel(tft_channels / "validation"), 32, pin_memory=False,
    )  # fmt: skip
    x, _ = next(iter(setup.val_loader))
    module = setup.module.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.float16):
        output = module(x)
    assert torch.isfinite(output["prediction"].float()).all()
    with torch.no_grad():  # the bias is not an fp32 change: masked weights are exactly zero
        assert torch.isfinite(module(x)["prediction"]).all()
