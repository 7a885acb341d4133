"""A fast data path for pytorch-forecasting: every window taken through ``__getitem__`` once.

``TimeSeriesDataSet.__getitem__`` slices a data frame per sample and its collate pads per batch;
together they cost more than the TFT's forward and backward pass (pytorch-forecasting #1860,
#1850). Here each sample is taken from the data set's own ``__getitem__`` exactly once, at set-up,
and a batch is a gather: exactly what the data set's ``_collate_fn`` returns for the same indices.

A window is a run of consecutive rows of the data set's own tensors, and most of its values are
those rows' values, so they are not copied per window (a window of 30 steps would repeat each row
30 times). Only what ``__getitem__`` computes per window is stored per window: a real column that
differs from the rows is kept as one value per window when it is constant over the window (the
target's scale, the encoder length) and per step otherwise (the target scaled by its encoder, the
relative time index). Which column is which is found from the samples themselves, and every
sample is checked against it, so a batch can never silently differ from pytorch-forecasting's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from pytorch_forecasting import TimeSeriesDataSet
from torch.utils.data import DataLoader, Dataset

from forecasting.errors import ConfigError

Batch = tuple[dict[str, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]
Sample = tuple[dict[str, Any], tuple[torch.Tensor, torch.Tensor | None]]


# How a real column of a window relates to the data set's rows: equal to them, one value for
# the whole window, or a value per step. Ordered from the cheapest to store to the dearest.
ROW, WINDOW, STEP = "row", "window", "step"
_SAMPLE = 64  # windows that classify the columns before every window is taken
_CHUNK = 512  # windows checked together against pytorch-forecasting's collate


class MaterializedWindows(Dataset[Batch]):
    """All windows of a TimeSeriesDataSet; ``__getitems__`` returns a collated batch."""

    def __init__(self, dataset: TimeSeriesDataSet) -> None:
        if dataset.multi_target or dataset.weight is not None:
            raise ConfigError("the fast data path supports one target and no sample weights")
        n = len(dataset)
        if n == 0:
            raise ConfigError("the data set has no windows: series are too short for the lengths")
        if dataset.randomize_length is not None:
            raise ConfigError("the fast data path needs fixed window lengths (no randomize_length)")
        data = dataset.data
        self.reals = data["reals"]
        self.categoricals = data["categoricals"].to(narrowest_code_dtype(data["categoricals"]))
        self.target = data["target"][0]
        self.time = data["time"]
        self.row_groups = data["groups"]
        self.starts = torch.tensor(dataset.index["index_start"].to_numpy(), dtype=torch.long)
        self.max_encoder = dataset.max_encoder_length
        self.max_decoder = dataset.max_prediction_length
        self.encoder_lengths = torch.zeros(n, dtype=torch.long)
        self.decoder_lengths = torch.zeros(n, dtype=torch.long)
        # The samples that classify the columns are not taken from the data set twice.
        taken = {i: dataset[i] for i in range(0, n, max(1, n // _SAMPLE))}
        kinds = self._kinds_after(taken, [ROW] * self.reals.shape[1])
        self.target_scale = torch.zeros(n, len(taken[0][0]["target_scale"]), dtype=torch.float32)
        while (retry := self._store(dataset, kinds, taken)) is not None:
            kinds, taken = retry, {}  # a window contradicted a kind: every window is taken again

    def _kinds_after(self, samples: dict[int, Sample], kinds: list[str]) -> list[str]:
        """Each real column's cheapest kind that also fits these samples."""
        for i, (x, _) in samples.items():
            cont, start = x["x_cont"], int(self.starts[i])
            rows = self.reals[start : start + len(cont)]
            if len(rows) < len(cont):
                raise self._not_rows(i, i)
            differs = (cont != rows).any(0).tolist()
            varies = (cont != cont[:1]).any(0).tolist()
            kinds = [
                ROW if kind == ROW and not differs[c]
                else WINDOW if kind != STEP and not varies[c]
                else STEP
                for c, kind in enumerate(kinds)
            ]  # fmt: skip
        return kinds

    def _store(
        self, dataset: TimeSeriesDataSet, kinds: list[str], taken: dict[int, Sample]
    ) -> list[str] | None:
        """Take every window once, checking each chunk's batch against pytorch-forecasting's
        collate of the same samples; the kinds to store with instead, if a chunk contradicts."""
        n, width = len(dataset), self.max_encoder + self.max_decoder
        self.kinds = kinds
        self.window_columns = [c for c, kind in enumerate(kinds) if kind == WINDOW]
        self.step_columns = [c for c, kind in enumerate(kinds) if kind == STEP]
        self.window_values = torch.zeros(n, len(self.window_columns), dtype=self.reals.dtype)
        self.step_values = torch.zeros(n, width, len(self.step_columns), dtype=self.reals.dtype)
        for first in range(0, n, _CHUNK):
            samples = {i: taken.get(i) or dataset[i] for i in range(first, min(n, first + _CHUNK))}
            for i, (x, _) in samples.items():
                self._keep(i, x)
            batch = self.__getitems__(list(samples))
            if not _same(batch, dataset._collate_fn(list(samples.values()))):
                if (after := self._kinds_after(samples, kinds)) == kinds:
                    raise self._not_rows(first, max(samples))
                return after
        return None

    def _keep(self, i: int, x: dict[str, Any]) -> None:
        """What ``__getitem__`` computed for window ``i`` beyond the rows."""
        e, d = int(x["encoder_length"]), int(x["decoder_length"])
        cont = x["x_cont"]
        self.window_values[i] = cont[0, self.window_columns]
        self.step_values[i, :e] = cont[:e, self.step_columns]
        self.step_values[i, self.max_encoder : self.max_encoder + d] = cont[e:, self.step_columns]
        self.encoder_lengths[i], self.decoder_lengths[i] = e, d
        self.target_scale[i] = torch.tensor(np.asarray(x["target_scale"]), dtype=torch.float32)

    @staticmethod
    def _not_rows(first: int, last: int) -> ConfigError:
        return ConfigError(
            f"windows {first} to {last} of the data set are not all runs of consecutive rows "
            "(missing time steps filled in?): the fast data path cannot gather them"
        )

    def __len__(self) -> int:
        return len(self.encoder_lengths)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        index = torch.as_tensor(indices, dtype=torch.long)
        encoder_lengths, decoder_lengths = self.encoder_lengths[index], self.decoder_lengths[index]
        e, d = int(encoder_lengths.max()), int(decoder_lengths.max())
        starts = self.starts[index]
        encoder = self._gather(index, starts, encoder_lengths, e, 0)
        decoder = self._gather(
            index, starts + encoder_lengths, decoder_lengths, d, self.max_encoder
        )
        x = {
            "encoder_cat": encoder["cat"],
            "encoder_cont": encoder["cont"],
            "encoder_target": encoder["target"],
            "encoder_lengths": encoder_lengths,
            "decoder_cat": decoder["cat"],
            "decoder_cont": decoder["cont"],
            "decoder_target": decoder["target"],
            "decoder_lengths": decoder_lengths,
            "decoder_time_idx": (self.time[starts] + encoder_lengths)[:, None] + torch.arange(d),
            "groups": self.row_groups[starts],
            "target_scale": self.target_scale[index],
        }
        return x, (decoder["target"], None)

    def _gather(
        self,
        index: torch.Tensor,
        first: torch.Tensor,
        lengths: torch.Tensor,
        steps: int,
        offset: int,
    ) -> dict[str, torch.Tensor]:
        """One part (encoder or decoder) of a batch: ``steps`` long, zero past each length."""
        position = torch.arange(steps)
        padded = position[None, :] >= lengths[:, None]
        rows = (first[:, None] + position[None, :]).masked_fill(padded, 0)
        cont = self.reals[rows]
        cont[..., self.window_columns] = self.window_values[index][:, None, :]
        cont[..., self.step_columns] = self.step_values[index, offset : offset + steps]
        return {
            "cont": cont.masked_fill(padded[..., None], 0),
            "cat": self.categoricals[rows].long().masked_fill(padded[..., None], 0),
            "target": self.target[rows].masked_fill(padded, 0),
        }

    def __getitem__(self, i: int) -> Batch:
        return self.__getitems__([i])


def _same(ours: Any, theirs: Any) -> bool:
    """Equal structure, and tensors of equal dtype, shape and values."""
    if isinstance(theirs, torch.Tensor):
        return (
            isinstance(ours, torch.Tensor)
            and ours.dtype == theirs.dtype
            and torch.equal(ours, theirs)
        )
    if isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(_same(ours[k], theirs[k]) for k in theirs)
    if isinstance(theirs, list | tuple):
        return len(ours) == len(theirs) and all(map(_same, ours, theirs))
    return bool(ours == theirs)


def narrowest_code_dtype(codes: torch.Tensor) -> torch.dtype:
    """The narrowest integer type that holds every categorical code (Stallion's 12 special-day
    flags alone are 12 int64 columns in the data set)."""
    smallest = int(codes.min()) if codes.numel() else 0
    largest = int(codes.max()) if codes.numel() else 0
    for dtype in (torch.uint8, torch.int16, torch.int32):
        info = torch.iinfo(dtype)
        if info.min <= smallest and largest <= info.max:
            return dtype
    return torch.int64


def _already_collated(batch: Any) -> Any:
    return batch


def fast_loader(
    windows: MaterializedWindows, batch_size: int, *, train: bool, pin_memory: bool = False
) -> DataLoader[Batch]:
    """Shuffled, without the last partial batch when training, as ``to_dataloader`` does.
    ``pin_memory`` (on CUDA): batches in page-locked memory, which copies to the GPU faster."""
    return DataLoader(
        windows,
        batch_size=batch_size,
        shuffle=train,
        drop_last=train,
        collate_fn=_already_collated,
        pin_memory=pin_memory,
    )
