"""The Informer as a model family: what the steps, the handler and local mode call."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecasting.models.family import (
    ExampleRequest,
    PreparedData,
    PreprocessOptions,
    TrainOptions,
)
from forecasting.models.informer import defaults
from forecasting.models.informer import options as informer_options

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from forecasting.channels import Channel
    from forecasting.contracts import ModelConfig
    from forecasting.data.validation import Location
    from forecasting.models.training_setup import TrainingSetup


class InformerFamily:
    name = "informer"
    windows = defaults.WINDOWS
    fit_defaults = defaults.FIT
    default_gate = defaults.DEFAULT_GATE
    metrics = defaults.METRICS
    table_metrics = defaults.TABLE_METRICS
    tiny_arguments = defaults.TINY_ARGUMENTS

    train_flags_title = informer_options.TITLE
    train_flags = informer_options.FLAGS

    def check_train_flags(self, flags: Mapping[str, Any]) -> None:
        informer_options.check(flags)

    def train_options(self, flags: Mapping[str, Any]) -> TrainOptions:
        return informer_options.options(flags)

    def prepare(self, options: PreprocessOptions) -> PreparedData:
        from forecasting.models.informer.preparation import prepare_from_options

        return prepare_from_options(options)

    def fitted(self, channel: Channel) -> object:
        return channel.informer.scaler

    def split_text(self, channel: Channel) -> str:
        return f"{channel.informer.split} ({channel.informer.split_rule})"

    def training_setup(
        self,
        options: TrainOptions,
        train: Channel,
        validation: Channel,
        per_rank_batch: int,
        pin_memory: bool,
    ) -> TrainingSetup:
        from forecasting.models.informer.training import setup

        if not isinstance(options, informer_options.InformerOptions):
            raise TypeError(
                f"{self.name} trains from InformerOptions, not {type(options).__name__}"
            )
        return setup(options, train, validation, per_rank_batch, pin_memory=pin_memory)

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
        from forecasting.models.informer.evaluation import evaluate

        return evaluate(model, config, test, seed, batch_size)

    def build_network(self, model_config: ModelConfig) -> torch.nn.Module:
        from forecasting.models.informer.model import Informer

        return Informer(**model_config.hparams)

    def forecast(
        self, network: torch.nn.Module, config: dict[str, Any], raw: pd.DataFrame, where: Location
    ) -> pd.DataFrame:
        from forecasting.models.informer.serving import forecast

        table = forecast(network, config, raw, where)
        table["p10"] = table["p90"] = float("nan")  # the Informer gives a point forecast only
        return table

    def example_request(self, test: pd.DataFrame, config: dict[str, Any]) -> ExampleRequest:
        from forecasting.models.informer.serving import example_request

        return example_request(test, config)

    def future_request(
        self, options: PreprocessOptions, config: dict[str, Any], backtest: ExampleRequest
    ) -> ExampleRequest | str:
        from forecasting.models.informer.serving import future_request

        return future_request(options, config, backtest)


INFORMER = InformerFamily()
