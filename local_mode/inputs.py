"""A realistic Batch Transform input from a run's test split, and the truth that follows it.

The request holds, per series, the latest encoder window of the test split that still leaves
one horizon of known values after it, in the inference handler's input format; the actuals file
(the publish Lambda's ``series_id,target,timestamp,value``) holds that window and the horizon
after it, so the report draws history, forecast and truth together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"  # the handler's and the publisher's format
HISTORY_FILE = "history.csv"


@dataclass(frozen=True)
class InferenceInput:
    request: pd.DataFrame  # the transform input (one CSV file = one request)
    actuals: pd.DataFrame  # series_id, target, timestamp, value
    encoder_length: int
    horizon: int
    series: int


def _actual_rows(series_ids: pd.Series, target: str, stamps: pd.Series, values: pd.Series):
    return pd.DataFrame(
        {
            "series_id": series_ids.to_numpy(),
            "target": target,
            "timestamp": pd.DatetimeIndex(stamps).strftime(TIMESTAMP_FORMAT),
            "value": values.to_numpy(),
        }
    )


def informer_input(test: pd.DataFrame, config: dict[str, Any]) -> InferenceInput:
    """The last ``seq_len`` rows before the test split's final horizon, all columns.

    Without a ``series_id`` column the handler names each output series by its target, so the
    actuals use the target as the series id too.
    """
    pre, hparams = config["preprocessing"], config["model"]["hparams"]
    seq_len, pred_len = hparams["seq_len"], hparams["pred_len"]
    if len(test) < seq_len + pred_len:
        raise ValueError(f"the test split has {len(test)} rows; need seq_len + pred_len")
    window = test.iloc[len(test) - seq_len - pred_len :]
    history, future = window.iloc[:seq_len], window.iloc[seq_len:]
    request = history[pre["columns"]].reset_index()
    request = request.rename(columns={request.columns[0]: pre["time_column"]})
    request[pre["time_column"]] = pd.DatetimeIndex(request[pre["time_column"]]).strftime(
        TIMESTAMP_FORMAT
    )
    parts = []
    for target in pre["targets"]:
        both = pd.concat([history[target], future[target]])
        ids = pd.Series([target] * len(both))
        parts.append(_actual_rows(ids, target, pd.Series(both.index), both))
    return InferenceInput(
        request=request,
        actuals=pd.concat(parts, ignore_index=True),
        encoder_length=seq_len,
        horizon=pred_len,
        series=len(pre["targets"]),
    )


def tft_input(test: pd.DataFrame, config: dict[str, Any]) -> InferenceInput:
    """Per series: the encoder rows, then ``horizon`` rows with the target and unknown reals
    left empty and the known covariates filled in, as the TFT handler expects."""
    from forecasting.data.panel import TIME_IDX, PanelSchema, file_rows

    pre = config["preprocessing"]
    schema = PanelSchema.from_dict(pre["schema"])
    horizon, encoder = pre["horizon"], pre["max_encoder_length"]
    groups, target, time = list(schema.group_columns), schema.target, schema.time_column
    last = int(test[TIME_IDX].max())
    window = test[test[TIME_IDX] > last - horizon - encoder].sort_values([*groups, TIME_IDX])
    future = (window[TIME_IDX] > last - horizon).to_numpy()
    request = file_rows(window, schema).astype(object)  # the training file's columns
    request[time] = pd.DatetimeIndex(window[time]).strftime(TIMESTAMP_FORMAT)
    columns = list(request.columns)
    blank = [c for c in (target, *schema.unknown_reals) if c in columns]
    request.loc[future, blank] = ""
    ids = window[groups].astype(str).agg("/".join, axis=1)
    actuals = _actual_rows(ids, target, window[time], window[target])
    return InferenceInput(
        request=request.reset_index(drop=True),
        actuals=actuals,
        encoder_length=encoder,
        horizon=horizon,
        series=int(ids.nunique()),
    )


def inference_input(test: pd.DataFrame, config: dict[str, Any]) -> InferenceInput:
    family = config["model"]["family"]
    return tft_input(test, config) if family == "tft" else informer_input(test, config)
