"""The weight average's update: torch's EMA, without reading its step counter every step."""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.overrides import TorchFunctionMode

from forecasting.models.moving_average import HostCountedEMA

# What turns a tensor into a Python value: on CUDA each one waits for the device.
HOST_READS = {"__bool__", "item", "__int__", "__float__", "__index__", "tolist"}


class CountHostReads(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in HOST_READS:
            self.reads.append(func.__name__)
        return func(*args, **(kwargs or {}))


def network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2)
    )


def train_a_little(model: torch.nn.Module) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = model(torch.randn(16, 4)).square().mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def test_the_average_equals_torchs_ema_and_never_reads_its_counter():
    model = network()
    ours = HostCountedEMA(model, decay=0.9)
    torchs = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    for step in range(4):
        train_a_little(model)
        with CountHostReads() as mode:
            ours.update_parameters(model)
        assert mode.reads == [], f"step {step}"
        torchs.update_parameters(model)
    for mine, theirs in zip(ours.state_dict().values(), torchs.state_dict().values(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    assert int(ours.n_averaged) == 4


def test_a_restored_average_continues_its_count():
    model = network()
    saved = HostCountedEMA(model, decay=0.9)
    for _ in range(3):
        saved.update_parameters(model)
    restored = HostCountedEMA(network(), decay=0.9)
    restored.load_state_dict(saved.state_dict())
    assert restored.updates == 3
    train_a_little(model)
    restored.update_parameters(model)  # an average, not a fresh copy of the weights
    saved.update_parameters(model)
    torch.testing.assert_close(restored.state_dict(), saved.state_dict(), rtol=0, atol=0)
