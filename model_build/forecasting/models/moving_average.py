"""An exponential moving average of the weights whose step counter never leaves the host.

torch's ``AveragedModel`` keeps its count of updates in a tensor on the model's device and reads
it into Python twice per update (``n_averaged == 0`` and ``> 0``); on CUDA each read is a blocking
host sync on every training step. Here the count is a Python integer; the tensor is still written
(without reading it), so checkpoints keep the same state and resume reads it once.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import WeightAveraging
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def _tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    return list(itertools.chain(model.parameters(), model.buffers()))


class HostCountedEMA(AveragedModel):
    """``AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)``:
    the same update of the parameters and buffers."""

    def __init__(
        self, model: torch.nn.Module, decay: float, device: torch.device | int | None = None
    ) -> None:
        super().__init__(model, device=device, use_buffers=True)
        self.ema_update = get_ema_multi_avg_fn(decay)
        self.updates = 0  # mirrors the n_averaged buffer, which is never read while training

    @torch.no_grad()
    def update_parameters(self, model: torch.nn.Module) -> None:
        averaged = _tensors(self.module)
        current = [t.detach().to(a.device) for a, t in zip(averaged, _tensors(model), strict=True)]
        if self.updates == 0:
            torch._foreach_copy_(averaged, current)
        else:  # one foreach lerp per device and dtype, as AveragedModel groups them
            groups: dict[tuple[Any, Any], tuple[list[torch.Tensor], list[torch.Tensor]]]
            groups = defaultdict(lambda: ([], []))
            for a, c in zip(averaged, current, strict=True):
                groups[(a.device, a.dtype)][0].append(a)
                groups[(a.device, a.dtype)][1].append(c)
            for group_averaged, group_current in groups.values():
                self.ema_update(group_averaged, group_current, None)
        self.updates += 1
        self.n_averaged.fill_(self.updates)  # a write from the host: no sync

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        self.updates = int(self.n_averaged)  # once, when a checkpoint is restored
        return result


class MovingAverage(WeightAveraging):
    """Lightning's weight averaging (validation, checkpoints and the end of the fit use the
    average; resume restores it), updated every step with a `HostCountedEMA`."""

    def __init__(self, decay: float) -> None:
        super().__init__()
        self.decay = decay

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            self._average_model = HostCountedEMA(
                pl_module, self.decay, device=self._device or pl_module.device
            )
