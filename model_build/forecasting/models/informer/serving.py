"""Informer forecasts for a request: the last ``seq_len`` rows of each series, forward once.

A request holds the model's columns (targets and covariates, as in training) and its time
column; an optional ``series_id`` column carries several independent histories in one request.
Each target of each history is one output series, named by the id and the target.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from forecasting.data import validation
from forecasting.data.time_features import time_features
from forecasting.data.validation import Location
from forecasting.errors import DataValidationError
from forecasting.inference.handler import ACTUAL_KEY, actual_rows, format_timestamps
from forecasting.inference.history import check_increasing, too_short
from forecasting.models.family import ExampleRequest, PreprocessOptions
from forecasting.models.informer.evaluation import series_naming
from forecasting.models.informer.model import forecast_window, informer_network
from forecasting.models.informer.preprocessing import InformerPreprocessing, read_config

SERIES_ID = "series_id"


def _check_steps(
    stamps: pd.DatetimeIndex, freq: str, name: str, rows: np.ndarray, where: Location
) -> None:
    """Consecutive rows one ``freq`` apart: the time features assume no gaps."""
    expected = stamps[:-1] + pd.tseries.frequencies.to_offset(freq)
    gaps = np.flatnonzero(stamps[1:] != expected)
    if len(gaps):
        at = int(gaps[0])
        raise DataValidationError(
            f"{where.row(int(rows[at + 1]))}: series {name} jumps from {stamps[at]} to "
            f"{stamps[at + 1]}; expected {expected[at]} next (one row every {freq!r})"
        )


@torch.no_grad()
def forecast(
    model: torch.nn.Module, config: dict[str, Any], raw: pd.DataFrame, where: Location
) -> pd.DataFrame:
    """One row per (history, target, step): series_id, target, timestamp, horizon_step, p50."""
    pre, lengths = read_config(config)
    seq_len, label_len, pred_len = lengths.seq_len, lengths.label_len, lengths.pred_len
    columns, targets, time_column = list(pre.columns), list(pre.targets), pre.time_column
    validation.require_columns(raw.columns, [time_column, *columns], where)
    stamps = validation.parse_timestamps(raw[time_column], time_column, where)
    values = validation.parse_numbers(raw[columns], where).to_numpy(np.float64)
    keys = raw[SERIES_ID] if SERIES_ID in raw.columns else pd.Series([""] * len(raw))

    def name_of(row: int) -> str:
        return repr(keys.iat[row]) if keys.iat[row] else "(the only one)"

    check_increasing(keys, stamps, name_of, where, time_column)

    scaler, target_idx = pre.scaler, pre.target_index
    lasts, futures, ids = [], [], []
    for key, rows in keys.groupby(keys, sort=False).indices.items():
        too_short(name_of(rows[0]), len(rows), seq_len, "the encoder length seq_len", where)
        _check_steps(stamps[rows], pre.freq, name_of(rows[0]), np.asarray(rows), where)
        lasts.append(rows[-seq_len:])
        futures.append(pd.date_range(stamps[rows[-1]], periods=pred_len + 1, freq=pre.freq)[1:])
        ids.append(key)

    n, n_targets = len(ids), len(targets)
    last = np.stack(lasts)  # [series, seq_len] row numbers
    x = scaler.transform(values[last.reshape(-1)]).astype(np.float32).reshape(n, seq_len, -1)
    start = x[:, seq_len - label_len :, target_idx]
    known = stamps[last[:, seq_len - label_len :].reshape(-1)].to_numpy().reshape(n, label_len)
    ahead = np.stack([future.to_numpy() for future in futures])  # [series, pred_len]
    decoder_stamps = np.concatenate([known, ahead], axis=1).reshape(-1)
    model.eval()
    torch.manual_seed(0)  # ProbSparse samples keys even in eval mode: same request, same answer
    scaled_forecast = forecast_window(
        informer_network(model),
        torch.from_numpy(x),
        torch.from_numpy(time_features(stamps[last.reshape(-1)], pre.freq).reshape(n, seq_len, -1)),
        torch.from_numpy(np.ascontiguousarray(start)),
        torch.from_numpy(
            time_features(pd.DatetimeIndex(decoder_stamps), pre.freq).reshape(
                n, label_len + pred_len, -1
            )
        ),
    ).numpy()
    point = scaler.inverse_transform(scaled_forecast, columns=targets)  # [series, step, target]
    naming = series_naming(pre)
    names = [naming.series_id([str(key)], target) for key in ids for target in targets]
    return pd.DataFrame(
        {
            "series_id": np.repeat(names, pred_len),
            "target": np.tile(np.repeat(targets, pred_len), n),
            "timestamp": np.tile(ahead, (1, n_targets)).reshape(-1),
            "horizon_step": np.tile(np.arange(1, pred_len + 1), n * n_targets),
            "p50": point.transpose(0, 2, 1).reshape(-1),  # series, then target, then step
        }
    )


def example_request(test: pd.DataFrame, config: dict[str, Any]) -> ExampleRequest:
    """The last ``seq_len`` rows before the test split's final horizon, all columns.

    Without a ``series_id`` column the handler names each output series by its target, so the
    actuals use the target as the series id too.
    """
    pre, lengths = read_config(config)
    seq_len, pred_len = lengths.seq_len, lengths.pred_len
    if len(test) < seq_len + pred_len:
        raise ValueError(f"the test split has {len(test)} rows; need seq_len + pred_len")
    window = test.iloc[len(test) - seq_len - pred_len :]
    return ExampleRequest(
        request=_request(window.iloc[:seq_len], pre),
        actuals=_actuals(window, pre),
        encoder_length=seq_len,
        horizon=pred_len,
        series=len(pre.targets),
    )


def future_request(
    options: PreprocessOptions, config: dict[str, Any], backtest: ExampleRequest
) -> ExampleRequest:
    """The data's last encoder window, with the backtest's actuals and that window as actuals.

    The series is loaded as the Preprocess step loaded it (same options, same function), so
    "the data's end" is the end of the user's file, also where a split protocol leaves rows
    after the test split unused.
    """
    from forecasting.models.informer.preparation import informer_series

    pre, lengths = read_config(config)
    seq_len = lengths.seq_len
    history = informer_series(options).frame.iloc[-seq_len:]
    actuals = pd.concat([backtest.actuals, _actuals(history, pre)], ignore_index=True)
    return ExampleRequest(
        request=_request(history, pre),
        actuals=actuals.drop_duplicates(list(ACTUAL_KEY), ignore_index=True),
        encoder_length=seq_len,
        horizon=lengths.pred_len,
        series=len(pre.targets),
    )


def _request(history: pd.DataFrame, pre: InformerPreprocessing) -> pd.DataFrame:
    request = history[list(pre.columns)].reset_index()
    request = request.rename(columns={request.columns[0]: pre.time_column})
    request[pre.time_column] = format_timestamps(pd.DatetimeIndex(request[pre.time_column]))
    return request


def _actuals(rows: pd.DataFrame, pre: InformerPreprocessing) -> pd.DataFrame:
    parts = []
    for target in pre.targets:
        ids = pd.Series([target] * len(rows))
        parts.append(actual_rows(ids, target, pd.Series(rows.index), rows[target]))
    return pd.concat(parts, ignore_index=True)
