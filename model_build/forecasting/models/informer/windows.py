"""Informer's sliding windows over one contiguous, already scaled segment."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from forecasting.errors import ConfigError

Window = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    # One contiguous, writable float32 copy at most (torch refuses read-only buffers); every item
    # is then a view into it.
    return torch.from_numpy(np.require(array, dtype=np.float32, requirements=["C", "W"]))


class WindowDataset(Dataset[Window]):
    """Informer windows over one contiguous scaled segment.

    Item ``i`` is ``(x_enc, x_mark_enc, y, y_mark)`` with ``x = values[i : i+seq_len]`` and
    ``y = values[i+seq_len-label_len : i+seq_len+pred_len]``: the decoder's start token is the
    last ``label_len`` known steps, followed by the ``pred_len`` steps to forecast. ``y`` keeps
    only the ``target_idx`` columns (all when None), which gives the 'MS'/'S' feature modes.
    """

    def __init__(
        self,
        values: np.ndarray,
        marks: np.ndarray,
        seq_len: int,
        label_len: int,
        pred_len: int,
        target_idx: Sequence[int] | None = None,
    ) -> None:
        if values.ndim != 2 or marks.ndim != 2 or len(values) != len(marks):
            raise ConfigError(
                f"Expected values [T, C] and marks [T, F] with the same T, got shapes "
                f"{values.shape} and {marks.shape}"
            )
        if seq_len < 1 or pred_len < 1 or not 0 <= label_len <= seq_len:
            raise ConfigError(
                f"Expected seq_len >= 1, pred_len >= 1 and 0 <= label_len <= seq_len, got "
                f"seq_len={seq_len}, label_len={label_len}, pred_len={pred_len}"
            )
        n_windows = len(values) - seq_len - pred_len + 1
        if n_windows < 1:
            raise ConfigError(
                f"A segment of {len(values)} rows is too short for one window: it needs "
                f"seq_len ({seq_len}) + pred_len ({pred_len}) = {seq_len + pred_len} rows"
            )
        n_columns = values.shape[1]
        if target_idx is not None:
            target_idx = list(target_idx)
            if not target_idx or any(not 0 <= i < n_columns for i in target_idx):
                raise ConfigError(
                    f"target_idx {target_idx} must pick columns of values, which has {n_columns}"
                )
        self.seq_len, self.label_len, self.pred_len = seq_len, label_len, pred_len
        self.target_idx = target_idx
        self._n_windows = n_windows
        self._values = _as_tensor(values)
        self._marks = _as_tensor(marks)
        self._targets = self._values if target_idx is None else _as_tensor(values[:, target_idx])

    def __len__(self) -> int:
        return self._n_windows

    def __getitem__(self, index: int) -> Window:
        if index < 0:
            index += self._n_windows
        if not 0 <= index < self._n_windows:
            raise IndexError(f"window {index} out of range for {self._n_windows} windows")
        enc_end = index + self.seq_len
        dec_start, dec_end = enc_end - self.label_len, enc_end + self.pred_len
        return (
            self._values[index:enc_end],
            self._marks[index:enc_end],
            self._targets[dec_start:dec_end],
            self._marks[dec_start:dec_end],
        )
