"""What every model family provides, so the steps, the handler and local mode stay family-blind.

A family is a folder under ``forecasting/models/`` whose ``family.py`` defines one object of this
shape; ``forecasting.families.FAMILIES`` lists them. Its attributes are plain values (the pipeline
builder reads them without torch); its methods import the heavy parts when called.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from forecasting.contracts import Preprocessing

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from forecasting.channels import Channel
    from forecasting.contracts import ModelConfig
    from forecasting.data.validation import Location
    from forecasting.models.training_setup import TrainingSetup


@dataclass(frozen=True)
class PreparedData:
    """What preprocess writes: the three splits and what preprocessing.json records."""

    splits: dict[str, pd.DataFrame]
    preprocessing: dict[str, Any]  # as each split's preprocessing.json will hold it

    @property
    def recorded(self) -> Preprocessing:
        """The typed contract of what preprocess will record."""
        return Preprocessing.from_dict(self.preprocessing, "the prepared preprocessing.json")


@dataclass(frozen=True)
class ExampleRequest:
    """A Batch Transform request in the handler's format, and the truth that follows it."""

    request: pd.DataFrame  # one CSV file = one request
    actuals: pd.DataFrame  # series_id, target, timestamp, value
    encoder_length: int
    horizon: int
    series: int


@dataclass(frozen=True)
class PreprocessOptions:
    """The preprocess step's flags as a family's data preparation reads them, built once by the
    step from its command line (``forecasting.steps.preprocess``; the defaults live there).
    Column lists are parsed; an empty list is ``None`` for the targets (the data's own)."""

    model: str
    dataset: str | None
    data: str | None  # a file
    time_column: str | None
    targets: tuple[str, ...] | None
    covariates: tuple[str, ...]
    freq: str | None
    seq_len: int  # the input (encoder) length
    pred_len: int  # the horizon
    split: str | None  # None: the family's default, announced
    group_columns: tuple[str, ...]  # a panel's column roles, from here to unknown_reals
    static_categoricals: tuple[str, ...]
    static_reals: tuple[str, ...]
    known_categoricals: tuple[str, ...]
    known_reals: tuple[str, ...]
    unknown_categoricals: tuple[str, ...]
    unknown_reals: tuple[str, ...]
    min_encoder_length: int | None
    calendar_features: bool
    test_origins: int | None
    target_normalizer: str


class Family(Protocol):
    name: str
    windows: dict[str, int]  # seq_len and pred_len when preprocess is given none
    fit_defaults: dict[str, Any]  # the shared training flags' values for this family
    default_gate: tuple[str, float]  # (metric, threshold) when the user gives none
    metrics: tuple[str, ...]  # what evaluation.json's regression_metrics holds
    table_metrics: tuple[str, ...]  # what a list of model versions shows
    tiny_arguments: tuple[str, ...]  # train flags for a network a unit test trains in seconds

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The family's own train flags, with their defaults."""

    def check_train_arguments(self, args: argparse.Namespace) -> None:
        """Refuse values the family's network cannot be built with (a ConfigError)."""

    def prepare(self, options: PreprocessOptions) -> PreparedData:
        """Preprocess: read the data the options name, split it, fit what training reuses."""

    def fitted(self, channel: Channel) -> object:
        """What preprocess fitted on the training rows: equal across the splits of one run."""

    def split_text(self, channel: Channel) -> str:
        """The split protocol preprocess applied, in the words a run announces."""

    def training_setup(
        self,
        args: argparse.Namespace,
        train: Channel,
        validation: Channel,
        per_rank_batch: int,
        pin_memory: bool,
    ) -> TrainingSetup:
        """The Lightning module, loaders and recorded architecture for the train step."""

    def evaluate(
        self,
        model: torch.nn.Module,
        config: dict[str, Any],
        test: Channel,
        output: Path,
        *,
        seed: int,
        batch_size: int,
    ) -> dict[str, Any]:
        """Score on the test split: evaluation.json's content (other files go to ``output``)."""

    def build_network(self, model_config: ModelConfig) -> torch.nn.Module:
        """A freshly initialised network of the architecture config.json's "model" records."""

    def forecast(
        self, network: torch.nn.Module, config: dict[str, Any], raw: pd.DataFrame, where: Location
    ) -> pd.DataFrame:
        """Serve one request: series_id, target, timestamp, horizon_step, p50, p10, p90."""

    def example_request(self, test: pd.DataFrame, config: dict[str, Any]) -> ExampleRequest:
        """A backtest request: the last encoder window of the test split with a horizon after."""

    def future_request(
        self, options: PreprocessOptions, config: dict[str, Any], backtest: ExampleRequest
    ) -> ExampleRequest | str:
        """A request whose forecast lies past the data's end, or the reason there is none."""
