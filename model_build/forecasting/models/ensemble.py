"""A seed ensemble: several networks of one architecture, trained alike from different seeds.

Its forecast is the members' mean: of the point forecast for the Informer, of each quantile for
the TFT (quantile averaging keeps the quantiles ordered and is a sound combination of quantile
forecasts). Every other float output (the TFT's attention and variable selection weights) is
averaged too, so the interpretation describes the ensemble; integer outputs (lengths) are the
same for every member and taken from the first.
"""

from __future__ import annotations

from typing import Any

import torch


def mean_output(outputs: list[Any]) -> Any:
    """The element-wise mean of several forward outputs of the same structure."""
    first = outputs[0]
    if isinstance(first, torch.Tensor):
        if not first.is_floating_point():
            return first
        return torch.stack(outputs).mean(dim=0)
    if isinstance(first, dict):
        return type(first)({k: mean_output([o[k] for o in outputs]) for k in first})
    if hasattr(first, "_fields"):  # a named tuple, as pytorch-forecasting's network output is
        return type(first)(*(mean_output(list(parts)) for parts in zip(*outputs, strict=True)))
    if isinstance(first, list | tuple):
        return type(first)(mean_output(list(parts)) for parts in zip(*outputs, strict=True))
    return first


class Ensemble(torch.nn.Module):
    """Averages its members' forward passes; anything else is the first member's.

    The members share their architecture, so what callers read besides the forecast (the TFT's
    quantiles, variable names and interpretation code, the Informer's lengths) is the same on
    each; delegating it keeps evaluation and inference unaware of the ensemble.
    """

    def __init__(self, members: list[torch.nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = torch.nn.ModuleList(members)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return mean_output([member(*args, **kwargs) for member in self.members])

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "members":  # not set yet, inside __init__
                raise
            return getattr(self.members[0], name)
