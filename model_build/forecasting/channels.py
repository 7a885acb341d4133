"""The folders that pass data between steps, laid out as SageMaker channels.

Preprocess writes one folder per split (``train``, ``validation``, ``test``), each holding the
raw rows of that split as ``series.parquet`` and the fitted preprocessing as
``preprocessing.json``. Every later step and every rank reads the same fitted parameters from
there instead of fitting its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.contracts import Preprocessing
from forecasting.data.scaling import StandardScaler
from forecasting.data.time_features import time_features
from forecasting.errors import ConfigError, DataValidationError
from forecasting.models.informer.preprocessing import InformerPreprocessing
from forecasting.models.informer.windows import WindowDataset
from forecasting.models.tft.preprocessing import TFTPreprocessing

SERIES_FILE = "series.parquet"
PREPROCESSING_FILE = "preprocessing.json"
SPLITS = ("train", "validation", "test")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Channel:
    """One split as read back from its folder."""

    frame: pd.DataFrame
    preprocessing: dict[str, Any]  # as written; the family's own fields are read from here
    path: Path

    @property
    def recorded(self) -> Preprocessing:
        """The typed contract: the family, input length and horizon preprocess cut it for."""
        return Preprocessing.from_dict(self.preprocessing, self.path / PREPROCESSING_FILE)

    @cached_property
    def informer(self) -> InformerPreprocessing:
        """The Informer's fields of preprocessing.json, typed."""
        return InformerPreprocessing.from_dict(self.preprocessing, self.path / PREPROCESSING_FILE)

    @cached_property
    def tft(self) -> TFTPreprocessing:
        """The TFT's fields of preprocessing.json, typed."""
        return TFTPreprocessing.from_dict(self.preprocessing, self.path / PREPROCESSING_FILE)

    @property
    def scaler(self) -> StandardScaler:
        return self.informer.scaler

    def scaled_values(self) -> np.ndarray:
        values = self.frame[list(self.informer.columns)].to_numpy(dtype=np.float64)
        return self.scaler.transform(values).astype(np.float32)

    def windows(self, seq_len: int, label_len: int, pred_len: int) -> WindowDataset:
        """Windows whose forecasts all fall inside this split.

        Validation and test folders start with ``context_length`` rows from before the split;
        a shorter ``seq_len`` skips the surplus, so no forecast starts before the split border.
        """
        skip = 0
        if self.path.name != "train":
            context = self.informer.context_length
            if seq_len > context:
                raise ConfigError(
                    f"seq_len {seq_len} is longer than the {context} rows of context that "
                    f"preprocess kept before the {self.path.name} split in {self.path}: the "
                    "model and this split come from different preprocess runs"
                )
            skip = context - seq_len
        index = pd.DatetimeIndex(self.frame.index[skip:])
        marks = time_features(index, self.informer.freq)
        return WindowDataset(
            self.scaled_values()[skip:],
            marks.astype(np.float32),
            seq_len=seq_len,
            label_len=label_len,
            pred_len=pred_len,
            target_idx=self.informer.target_index,
        )


def write_channel(directory: Path, frame: pd.DataFrame, preprocessing: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(directory / SERIES_FILE)
    recorded = Preprocessing.from_dict(preprocessing, directory / PREPROCESSING_FILE).to_dict()
    text = json.dumps({"format_version": FORMAT_VERSION, **recorded}, indent=2, sort_keys=True)
    (directory / PREPROCESSING_FILE).write_text(text + "\n")


def read_channel(directory: str | Path) -> Channel:
    path = Path(directory)
    series, meta = path / SERIES_FILE, path / PREPROCESSING_FILE
    for required in (series, meta):
        if not required.is_file():
            raise DataValidationError(
                f"{required} is missing: the channel folder {path} must hold {SERIES_FILE} and "
                f"{PREPROCESSING_FILE} as written by the preprocess step"
            )
    preprocessing = json.loads(meta.read_text())
    version = preprocessing.get("format_version")
    if version != FORMAT_VERSION:
        raise DataValidationError(
            f"{meta}: format_version {version!r} is not supported (expected {FORMAT_VERSION}); "
            "rerun the preprocess step with this version of the package"
        )
    return Channel(frame=pd.read_parquet(series), preprocessing=preprocessing, path=path)
