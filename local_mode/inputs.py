"""A realistic Batch Transform input from a run's test split, and the truth that follows it.

The backtest request holds, per series, the latest encoder window of the test split that still
leaves one horizon of known values after it, in the inference handler's input format; the
actuals file (the publish Lambda's ``series_id,target,timestamp,value``) holds that window and
the horizon after it, so the report draws history, forecast and truth together. The future
request (Informer) holds the data's last encoder window: its forecast lies past the data's end.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from forecasting.contracts import ModelConfig
from forecasting.families import family
from forecasting.models.family import ExampleRequest

HISTORY_FILE = "history.csv"  # the backtest request
FUTURE_FILE = "future.csv"  # the request whose forecast lies past the data's end

InferenceInput = ExampleRequest  # the name local mode's callers use


def inference_input(test: pd.DataFrame, config: dict[str, Any]) -> InferenceInput:
    """The backtest request of the run's family (see the family's ``example_request``)."""
    return family(ModelConfig.of_artifact(config).family).example_request(test, config)


def future_input(
    preprocess_argv: list[str], config: dict[str, Any], backtest: InferenceInput
) -> InferenceInput | str:
    """The data's last encoder window, with the backtest's actuals and that window as actuals;
    or, for a model that cannot forecast past the data, the reason why not."""
    from forecasting.steps.preprocess import preprocess_options, resolved_args

    options = preprocess_options(resolved_args(preprocess_argv))
    return family(ModelConfig.of_artifact(config).family).future_request(options, config, backtest)
