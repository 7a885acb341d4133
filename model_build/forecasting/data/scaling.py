"""Per-column standardisation fitted on the training rows only.

The benchmark protocol reports MSE/MAE on this scale, and the fitted statistics travel inside
checkpoints; that is why they are stored as plain lists (``torch.load(weights_only=True)`` can
read them) rather than as numpy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError


@dataclass(frozen=True)
class StandardScaler:
    """``(x - mean) / std`` per column, using the population std (ddof=0, as sklearn does)."""

    mean: list[float]
    std: list[float]
    columns: list[str]

    def __post_init__(self) -> None:
        if not len(self.mean) == len(self.std) == len(self.columns):
            raise ConfigError(
                f"StandardScaler needs one mean and one std per column; got {len(self.mean)} "
                f"means, {len(self.std)} stds and {len(self.columns)} columns"
            )
        if any(not math.isfinite(s) or s <= 0 for s in self.std):
            raise ConfigError(f"StandardScaler std must be positive and finite, got {self.std}")

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: Sequence[str] | None = None) -> StandardScaler:
        """Fit on ``frame[columns]`` (all columns if None); constant columns get std 1."""
        columns = list(frame.columns if columns is None else columns)
        missing = [name for name in columns if name not in frame.columns]
        if missing:
            raise ConfigError(f"Cannot fit the scaler: missing columns {missing}")
        values = frame[columns].to_numpy(dtype=np.float64)
        if len(values) == 0:
            raise ConfigError("Cannot fit the scaler on zero rows")
        if not np.isfinite(values).all():
            raise ConfigError("Cannot fit the scaler: the data contains NaN or infinite values")
        mean = values.mean(axis=0)
        std = values.std(axis=0, ddof=0)
        std = np.where(std > 0, std, 1.0)
        return cls(
            mean=[float(m) for m in mean],
            std=[float(s) for s in std],
            columns=[str(name) for name in columns],
        )

    def _stats(self, values: np.ndarray, columns: Sequence[str] | None) -> tuple[np.ndarray, ...]:
        if columns is None:
            positions = list(range(len(self.columns)))
        else:
            unknown = [name for name in columns if name not in self.columns]
            if unknown:
                raise ConfigError(
                    f"The scaler was fitted on {self.columns}; it has no statistics for {unknown}"
                )
            positions = [self.columns.index(name) for name in columns]
        if values.shape[-1] != len(positions):
            raise ConfigError(
                f"Expected an array whose last axis has {len(positions)} columns, "
                f"got shape {values.shape}"
            )
        dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float64
        mean = np.asarray(self.mean, dtype=dtype)[positions]
        std = np.asarray(self.std, dtype=dtype)[positions]
        return mean, std

    def transform(self, values: np.ndarray, columns: Sequence[str] | None = None) -> np.ndarray:
        """Scale ``values [..., C]``; ``columns`` selects a subset of the fitted columns."""
        values = np.asarray(values)
        mean, std = self._stats(values, columns)
        scaled: np.ndarray = (values - mean) / std
        return scaled

    def inverse_transform(
        self, values: np.ndarray, columns: Sequence[str] | None = None
    ) -> np.ndarray:
        """Back to data units; pass ``columns`` for target-only outputs (features 'MS'/'S')."""
        values = np.asarray(values)
        mean, std = self._stats(values, columns)
        original: np.ndarray = values * std + mean
        return original

    def to_dict(self) -> dict[str, list[Any]]:
        return {"mean": list(self.mean), "std": list(self.std), "columns": list(self.columns)}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> StandardScaler:
        missing = {"mean", "std", "columns"} - set(state)
        if missing:
            raise ConfigError(f"Scaler state is missing {sorted(missing)}")
        return cls(
            mean=[float(m) for m in state["mean"]],
            std=[float(s) for s in state["std"]],
            columns=[str(c) for c in state["columns"]],
        )
