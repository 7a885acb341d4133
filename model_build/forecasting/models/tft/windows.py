"""A fast data path for pytorch-forecasting: every window materialised as tensors once.

``TimeSeriesDataSet.__getitem__`` slices a data frame per sample and its collate pads per batch;
together they cost more than the TFT's forward and backward pass (pytorch-forecasting #1860,
#1850). Here each sample is taken from the data set's own ``__getitem__`` exactly once and
stored zero-padded; a batch is then a gather plus a trim to the longest encoder and decoder in
that batch, which is exactly what the data set's ``_collate_fn`` returns for the same indices.
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


class MaterializedWindows(Dataset):
    """All windows of a TimeSeriesDataSet as padded tensors; ``__getitems__`` returns a batch."""

    def __init__(self, dataset: TimeSeriesDataSet) -> None:
        if dataset.multi_target or dataset.weight is not None:
            raise ConfigError("the fast data path supports one target and no sample weights")
        n = len(dataset)
        if n == 0:
            raise ConfigError("the data set has no windows: series are too short for the lengths")
        first, _ = dataset[0]
        n_cont, n_cat = first["x_cont"].shape[1], first["x_cat"].shape[1]
        enc, dec = dataset.max_encoder_length, dataset.max_prediction_length
        self.encoder_cont = torch.zeros(n, enc, n_cont, dtype=first["x_cont"].dtype)
        self.decoder_cont = torch.zeros(n, dec, n_cont, dtype=first["x_cont"].dtype)
        codes = narrowest_code_dtype(dataset.data["categoricals"])
        self.encoder_cat = torch.zeros(n, enc, n_cat, dtype=codes)
        self.decoder_cat = torch.zeros(n, dec, n_cat, dtype=codes)
        self.encoder_target = torch.zeros(n, enc, dtype=first["encoder_target"].dtype)
        self.decoder_target = torch.zeros(n, dec, dtype=first["encoder_target"].dtype)
        self.encoder_lengths = torch.zeros(n, dtype=torch.long)
        self.decoder_lengths = torch.zeros(n, dtype=torch.long)
        self.time_start = torch.zeros(n, dtype=torch.long)
        self.groups = torch.zeros(n, len(first["groups"]), dtype=first["groups"].dtype)
        self.target_scale = torch.zeros(n, len(first["target_scale"]), dtype=torch.float32)
        for i in range(n):
            x, (target, _) = dataset[i]
            e, d = int(x["encoder_length"]), int(x["decoder_length"])
            self.encoder_cont[i, :e] = x["x_cont"][:e]
            self.decoder_cont[i, :d] = x["x_cont"][e:]
            self.encoder_cat[i, :e] = x["x_cat"][:e]
            self.decoder_cat[i, :d] = x["x_cat"][e:]
            self.encoder_target[i, :e] = x["encoder_target"]
            self.decoder_target[i, :d] = target
            self.encoder_lengths[i], self.decoder_lengths[i] = e, d
            self.time_start[i] = int(x["encoder_time_idx_start"])
            self.groups[i] = x["groups"]
            self.target_scale[i] = torch.tensor(np.asarray(x["target_scale"]), dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.encoder_lengths)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        index = torch.as_tensor(indices, dtype=torch.long)
        encoder_lengths, decoder_lengths = self.encoder_lengths[index], self.decoder_lengths[index]
        e, d = int(encoder_lengths.max()), int(decoder_lengths.max())
        target = self.decoder_target[index, :d]
        start = self.time_start[index] + encoder_lengths
        x = {
            "encoder_cat": self.encoder_cat[index, :e].long(),
            "encoder_cont": self.encoder_cont[index, :e],
            "encoder_target": self.encoder_target[index, :e],
            "encoder_lengths": encoder_lengths,
            "decoder_cat": self.decoder_cat[index, :d].long(),
            "decoder_cont": self.decoder_cont[index, :d],
            "decoder_target": target,
            "decoder_lengths": decoder_lengths,
            "decoder_time_idx": start[:, None] + torch.arange(d)[None, :],
            "groups": self.groups[index],
            "target_scale": self.target_scale[index],
        }
        return x, (target, None)

    def __getitem__(self, i: int) -> Batch:
        return self.__getitems__([i])


def narrowest_code_dtype(codes: torch.Tensor) -> torch.dtype:
    """The narrowest integer type that holds every categorical code: categoricals were 63% of
    the stored windows as int64 on Stallion (its 12 special-day flags are 12 columns)."""
    smallest = int(codes.min()) if codes.numel() else 0
    largest = int(codes.max()) if codes.numel() else 0
    for dtype in (torch.uint8, torch.int16, torch.int32):
        info = torch.iinfo(dtype)
        if info.min <= smallest and largest <= info.max:
            return dtype
    return torch.int64


def _already_collated(batch: Any) -> Any:
    return batch


def fast_loader(windows: MaterializedWindows, batch_size: int, *, train: bool) -> DataLoader:
    """Shuffled, without the last partial batch when training, as ``to_dataloader`` does."""
    return DataLoader(
        windows,
        batch_size=batch_size,
        shuffle=train,
        drop_last=train,
        collate_fn=_already_collated,
    )
