"""A realistic Batch Transform input from a run's test split, and the truth that follows it.

The backtest request holds, per series, the latest encoder window of the test split that still
leaves one horizon of known values after it, in the inference handler's input format; the
actuals file (the publish Lambda's ``series_id,target,timestamp,value``) holds that window and
the horizon after it, so the report draws history, forecast and truth together. The future
request (Informer) holds the data's last encoder window: its forecast lies past the data's end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from forecasting.inference.handler import format_timestamps

HISTORY_FILE = "history.csv"  # the backtest request
FUTURE_FILE = "future.csv"  # the request whose forecast lies past the data's end
ACTUAL_KEY = ["series_id", "target", "timestamp"]


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
            "timestamp": format_timestamps(pd.DatetimeIndex(stamps)),
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
    return InferenceInput(
        request=_informer_request(window.iloc[:seq_len], pre),
        actuals=_informer_actuals(window, pre),
        encoder_length=seq_len,
        horizon=pred_len,
        series=len(pre["targets"]),
    )


def _informer_request(history: pd.DataFrame, pre: dict[str, Any]) -> pd.DataFrame:
    request = history[pre["columns"]].reset_index()
    request = request.rename(columns={request.columns[0]: pre["time_column"]})
    request[pre["time_column"]] = format_timestamps(pd.DatetimeIndex(request[pre["time_column"]]))
    return request


def _informer_actuals(rows: pd.DataFrame, pre: dict[str, Any]) -> pd.DataFrame:
    parts = []
    for target in pre["targets"]:
        ids = pd.Series([target] * len(rows))
        parts.append(_actual_rows(ids, target, pd.Series(rows.index), rows[target]))
    return pd.concat(parts, ignore_index=True)


def future_input(
    preprocess_argv: list[str], config: dict[str, Any], backtest: InferenceInput
) -> InferenceInput | str:
    """The data's last encoder window (Informer), with the backtest's actuals and that window
    as actuals; or, for a model that cannot forecast past the data, the reason why not.

    The series is loaded as the Preprocess step loaded it (same arguments, same function), so
    "the data's end" is the end of the user's file, also where a split protocol leaves rows
    after the test split unused.
    """
    if config["model"]["family"] == "tft":
        return (
            "the TFT needs its known covariates for the forecast horizon, which the data does "
            "not hold past its end"
        )
    from forecasting.steps.preprocess import informer_series, resolved_args

    pre, seq_len = config["preprocessing"], config["model"]["hparams"]["seq_len"]
    history = informer_series(resolved_args(preprocess_argv)).frame.iloc[-seq_len:]
    actuals = pd.concat([backtest.actuals, _informer_actuals(history, pre)], ignore_index=True)
    return InferenceInput(
        request=_informer_request(history, pre),
        actuals=actuals.drop_duplicates(ACTUAL_KEY, ignore_index=True),
        encoder_length=seq_len,
        horizon=config["model"]["hparams"]["pred_len"],
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
    request[time] = format_timestamps(pd.DatetimeIndex(window[time]))
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
