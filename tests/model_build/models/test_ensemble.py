"""The ensemble's arithmetic: every float output averaged, everything else the first member's."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch

from forecasting.models.ensemble import Ensemble, mean_output

Output = namedtuple("Output", ["prediction", "lengths", "weights"])


def test_float_tensors_are_averaged_and_integer_ones_kept():
    first = Output(torch.tensor([1.0, 3.0]), torch.tensor([4, 4]), [torch.tensor([0.2, 0.8])])
    second = Output(torch.tensor([3.0, 5.0]), torch.tensor([4, 4]), [torch.tensor([0.4, 0.6])])
    mean = mean_output([first, second])
    assert isinstance(mean, Output)
    assert torch.equal(mean.prediction, torch.tensor([2.0, 4.0]))
    assert mean.lengths.dtype == torch.int64 and torch.equal(mean.lengths, torch.tensor([4, 4]))
    assert torch.allclose(mean.weights[0], torch.tensor([0.3, 0.7]))


def test_dicts_are_averaged_key_by_key():
    mean = mean_output([{"a": torch.ones(2), "name": "x"}, {"a": torch.zeros(2), "name": "y"}])
    assert torch.equal(mean["a"], torch.full((2,), 0.5)) and mean["name"] == "x"


class Scaled(torch.nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = torch.nn.Parameter(torch.tensor(factor))
        self.horizon = 7

    def forward(self, x: torch.Tensor, *, offset: float = 0.0) -> torch.Tensor:
        return x * self.factor + offset


def test_the_forward_pass_is_the_members_mean_and_attributes_are_the_first_members():
    ensemble = Ensemble([Scaled(1.0), Scaled(3.0)])
    x = torch.tensor([1.0, 2.0])
    assert torch.equal(ensemble(x, offset=1.0), torch.tensor([3.0, 5.0]))
    assert ensemble.horizon == 7
    assert set(ensemble.state_dict()) == {"members.0.factor", "members.1.factor"}
    ensemble.eval()
    assert not any(member.training for member in ensemble.members)
    with pytest.raises(AttributeError):
        ensemble.not_an_attribute  # noqa: B018


def test_an_empty_ensemble_is_refused():
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])
