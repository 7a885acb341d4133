"""The typed contracts between the steps, each read and written here: `Preprocessing` (what
preprocessing.json holds) and `ModelConfig` (config.json's "model"). Files written before a field
existed keep loading: each reader says what an older file means.

Light: no torch, pandas or numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forecasting.errors import DataValidationError

ARTIFACT = "the model's config.json"  # where a loaded model's contracts come from
# Before the TFT existed, preprocess recorded no family: such files are the Informer's.
OLDEST_FAMILY = "informer"
# Each family recorded its window under its own names before both used these.
_INPUT_LENGTH_KEYS = ("input_length", "context_length", "max_encoder_length")
_HORIZON_KEYS = ("horizon", "pred_len")


def _first(data: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    return next((int(data[k]) for k in keys if data.get(k) is not None), None)


@dataclass(frozen=True)
class Preprocessing:
    """preprocessing.json: the family it was prepared for, the input length and horizon it cut
    the splits for, the data it read (every family records it), and the family's own fitted
    parameters (``fields``, as written)."""

    model: str
    input_length: int
    horizon: int
    source: str  # the file or data set read
    synthetic: bool  # generated demo data, not a real data set
    fields: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of_artifact(cls, config: Mapping[str, Any], where: Path | str = ARTIFACT) -> Preprocessing:
        """What a model was trained on: the preprocessing.json its config.json carries."""
        return cls.from_dict(config.get("preprocessing", {}), where)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: Path | str) -> Preprocessing:
        input_length, horizon = _first(data, _INPUT_LENGTH_KEYS), _first(data, _HORIZON_KEYS)
        if input_length is None or horizon is None:
            raise DataValidationError(
                f"{where} comes from an older preprocess that did not record the horizon; "
                "rerun preprocess"
            )
        missing = [name for name in ("source", "synthetic") if name not in data]
        if missing:
            raise DataValidationError(
                f"{where} has no {', '.join(missing)} field: it was not written by preprocess"
            )
        return cls(
            model=str(data.get("model", OLDEST_FAMILY)),
            input_length=input_length,
            horizon=horizon,
            source=str(data["source"]),
            synthetic=bool(data["synthetic"]),
            fields=dict(data),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.fields,
            "model": self.model,
            "input_length": self.input_length,
            "horizon": self.horizon,
            "source": self.source,
            "synthetic": self.synthetic,
        }


@dataclass(frozen=True)
class ModelConfig:
    """config.json's "model": the family and the architecture to rebuild the network from."""

    family: str
    hparams: Mapping[str, Any]
    ensemble_size: int = 1  # older artifacts hold one network
    constructor: Mapping[str, Any] | None = None  # the TFT's pytorch-forecasting arguments

    def __post_init__(self) -> None:
        if self.ensemble_size < 1:
            raise DataValidationError(f"ensemble_size {self.ensemble_size} must be at least 1")

    @classmethod
    def of_artifact(cls, config: Mapping[str, Any], where: Path | str = ARTIFACT) -> ModelConfig:
        """The "model" of a whole config.json (as `forecasting.artifact.load` returns it)."""
        return cls.from_dict(config.get("model", {}), where)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: Path | str) -> ModelConfig:
        family, hparams = data.get("family"), data.get("hparams")
        if not isinstance(family, str) or not isinstance(hparams, Mapping):
            raise DataValidationError(
                f'{where}: "model" must hold a "family" name and its "hparams", got {sorted(data)}'
            )
        try:
            return cls(family, hparams, int(data.get("ensemble_size", 1)), data.get("constructor"))
        except DataValidationError as error:
            raise DataValidationError(f"{where}: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "family": self.family,
            "hparams": dict(self.hparams),
            "ensemble_size": self.ensemble_size,
        }
        if self.constructor is not None:
            data["constructor"] = dict(self.constructor)
        return data
