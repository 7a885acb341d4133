"""What preprocessing.json holds for the TFT, typed: preparation writes it, training,
evaluation and serving read it, each through this class."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecasting.contracts import ARTIFACT, Preprocessing
from forecasting.data.panel import PanelSchema
from forecasting.errors import ConfigError, DataValidationError
from forecasting.models.tft.defaults import PROTOCOLS


@dataclass(frozen=True)
class Cutoffs:
    """Last ``time_idx`` of each split; a split's forecasts start after the previous cutoff.

    ``holdout``: validation is the horizon before the test window, so the test window is
    never seen in model selection. The test window holds ``test_origins`` back-to-back
    horizons: one forecast per series from each origin (rolling origins), all scored.
    ``tutorial``: pytorch-forecasting's Stallion protocol, where the last horizon is both
    validation and test (use it to compare with published numbers; one origin).
    """

    train: int
    validation: int
    test: int
    protocol: str
    test_origins: int = 1

    @classmethod
    def for_panel(
        cls, last_time_idx: int, horizon: int, protocol: str, test_origins: int = 1
    ) -> Cutoffs:
        if protocol not in PROTOCOLS:
            raise ConfigError(f"unknown split protocol {protocol!r}; expected one of {PROTOCOLS}")
        if test_origins < 1:
            raise ConfigError(f"--test-origins must be at least 1, got {test_origins}")
        if protocol == "tutorial":
            if test_origins != 1:
                raise ConfigError(
                    f"--split tutorial scores its one validation horizon; --test-origins "
                    f"{test_origins} needs --split holdout"
                )
            return cls(last_time_idx - horizon, last_time_idx, last_time_idx, protocol)
        validation = last_time_idx - test_origins * horizon
        return cls(validation - horizon, validation, last_time_idx, protocol, test_origins)

    def origins(self, split: str, horizon: int) -> list[int]:
        """The first forecast ``time_idx`` of each window a split scores (validation, test)."""
        if split == "validation" or (split == "test" and self.protocol == "tutorial"):
            return [self.train + 1]
        return [self.validation + 1 + k * horizon for k in range(self.test_origins)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "train": self.train,
            "validation": self.validation,
            "test": self.test,
            "protocol": self.protocol,
            "test_origins": self.test_origins,
        }


@dataclass(frozen=True)
class TFTPreprocessing:
    """A panel's column roles, its split and the data set fitted on its training rows."""

    source: str
    synthetic: bool
    schema: PanelSchema
    time_origin: str  # ISO time of time_idx 0: inference counts new rows' steps from here
    cutoffs: Cutoffs
    max_encoder_length: int
    min_encoder_length: int
    horizon: int
    target_normalizer: str  # its name; the fitted normalizer is in dataset_parameters
    # Forecasts of a target never negative in training are clipped at 0 (clip_forecasts); files
    # written before this was recorded are not clipped.
    nonnegative_target: bool
    # What inference accepts: the series with training windows, as group-column labels. Any
    # other series is refused by name: the group normalizer has no scale for it
    # (pytorch-forecasting would silently give it a default one) and its embeddings were never
    # trained.
    trained_series: tuple[tuple[str, ...], ...]
    # pytorch-forecasting's fitted TimeSeriesDataSet parameters, as models/tft/codec.py encodes
    # them: equal across the splits of one preprocess run.
    dataset_parameters: Mapping[str, Any]

    @property
    def targets(self) -> list[str]:
        return [self.schema.target]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: Path | str) -> TFTPreprocessing:
        """Read what preparation wrote; a missing field names the file and the field."""
        try:
            return cls(
                source=str(data["source"]),
                synthetic=bool(data["synthetic"]),
                schema=PanelSchema.from_dict(data["schema"]),
                time_origin=str(data["time_origin"]),
                cutoffs=Cutoffs(**data["cutoffs"]),
                max_encoder_length=int(data["max_encoder_length"]),
                min_encoder_length=int(data["min_encoder_length"]),
                horizon=int(data["horizon"]),
                target_normalizer=str(data["target_normalizer"]),
                nonnegative_target=bool(data.get("nonnegative_target", False)),
                trained_series=tuple(tuple(labels) for labels in data["trained_series"]),
                dataset_parameters=data["dataset_parameters"],
            )
        except KeyError as missing:
            raise DataValidationError(
                f"{where} has no {missing} field: it was not written by the TFT's preprocess "
                "(or by an older one); rerun preprocess"
            ) from None
        except ConfigError as error:
            raise DataValidationError(f"{where}: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": "tft",
            "source": self.source,
            "synthetic": self.synthetic,
            "schema": self.schema.to_dict(),
            "time_column": self.schema.time_column,
            "freq": self.schema.freq,
            "time_origin": self.time_origin,
            "targets": self.targets,
            "cutoffs": self.cutoffs.to_dict(),
            "max_encoder_length": self.max_encoder_length,
            "min_encoder_length": self.min_encoder_length,
            "horizon": self.horizon,
            "target_normalizer": self.target_normalizer,
            "nonnegative_target": self.nonnegative_target,
            "trained_series": [list(labels) for labels in self.trained_series],
            "dataset_parameters": self.dataset_parameters,
        }


def read_config(config: Mapping[str, Any]) -> TFTPreprocessing:
    """The TFT's typed view of a model's config.json (as `forecasting.artifact` loads it)."""
    return TFTPreprocessing.from_dict(Preprocessing.of_artifact(config).fields, ARTIFACT)
