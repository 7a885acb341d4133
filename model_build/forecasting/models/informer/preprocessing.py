"""What preprocessing.json holds for the Informer, typed: preparation writes it, training,
evaluation and serving read it, each through this class."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecasting.contracts import ARTIFACT, ModelConfig, Preprocessing
from forecasting.data.scaling import StandardScaler
from forecasting.errors import DataValidationError


@dataclass(frozen=True)
class InformerPreprocessing:
    """One multivariate series' split and the scaler fitted on its training rows."""

    source: str
    synthetic: bool
    time_column: str
    freq: str
    columns: tuple[str, ...]  # what the network reads: the targets, then the covariates
    targets: tuple[str, ...]
    covariates: tuple[str, ...]
    scaler: StandardScaler
    split: str  # the split protocol (ett or ratio) and, below, its rule in words
    split_rule: str | None
    bounds: Mapping[str, tuple[int, int]]  # each split's [start, stop) rows of the series
    context_length: int  # the input length: rows kept before validation and test
    pred_len: int
    n_time_features: int

    @property
    def target_index(self) -> list[int]:
        """The targets' positions among ``columns``."""
        return [self.columns.index(name) for name in self.targets]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: Path | str) -> InformerPreprocessing:
        """Read what preparation wrote; a missing field names the file and the field."""
        try:
            return cls(
                source=str(data["source"]),
                synthetic=bool(data["synthetic"]),
                time_column=str(data["time_column"]),
                freq=str(data["freq"]),
                columns=tuple(data["columns"]),
                targets=tuple(data["targets"]),
                covariates=tuple(data["covariates"]),
                scaler=StandardScaler.from_dict(data["scaler"]),
                split=str(data["split"]),
                split_rule=data.get("split_rule"),
                bounds={name: (int(b[0]), int(b[1])) for name, b in data["bounds"].items()},
                context_length=int(data["context_length"]),
                pred_len=int(data["pred_len"]),
                n_time_features=int(data["n_time_features"]),
            )
        except KeyError as missing:
            raise DataValidationError(
                f"{where} has no {missing} field: it was not written by the Informer's "
                "preprocess (or by an older one); rerun preprocess"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "synthetic": self.synthetic,
            "time_column": self.time_column,
            "freq": self.freq,
            "columns": list(self.columns),
            "targets": list(self.targets),
            "covariates": list(self.covariates),
            "scaler": self.scaler.to_dict(),
            "split": self.split,
            "split_rule": self.split_rule,
            "bounds": {name: list(b) for name, b in self.bounds.items()},
            "context_length": self.context_length,
            "pred_len": self.pred_len,
            "n_time_features": self.n_time_features,
        }


@dataclass(frozen=True)
class WindowLengths:
    """The window a trained network reads (``seq_len``), starts its decoder with
    (``label_len``) and forecasts (``pred_len``): config.json's "model" hparams."""

    seq_len: int
    label_len: int
    pred_len: int

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> WindowLengths:
        return cls(int(hparams["seq_len"]), int(hparams["label_len"]), int(hparams["pred_len"]))


def read_config(config: Mapping[str, Any]) -> tuple[InformerPreprocessing, WindowLengths]:
    """The Informer's typed view of a model's config.json (as `forecasting.artifact` loads it)."""
    return (
        InformerPreprocessing.from_dict(Preprocessing.of_artifact(config).fields, ARTIFACT),
        WindowLengths.from_hparams(ModelConfig.of_artifact(config).hparams),
    )
