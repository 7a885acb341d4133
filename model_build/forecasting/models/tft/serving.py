"""TFT forecasts for a request: quantiles for the horizon after each series' history.

A request has the columns of the training file (raw Stallion columns for a Stallion model);
calendar features and ``time_idx`` are computed from the timestamps, as in training.
Each series gives its history, then exactly ``horizon`` rows to forecast: the target left empty
and the known covariates (prices, calendar) filled in, since the decoder reads them. Unknown
covariates of those rows may be empty too. A model without known covariates may leave the
forecast rows out; they are added.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from forecasting.data import validation
from forecasting.data.panel import TIME_IDX, PanelSchema
from forecasting.data.panel_loading import series_name, validate_panel
from forecasting.data.stallion import file_columns, is_stallion, stallion_features
from forecasting.data.validation import Location
from forecasting.errors import DataValidationError
from forecasting.inference.handler import actual_rows, format_timestamps
from forecasting.inference.history import check_increasing, too_short
from forecasting.models.family import ExampleRequest
from forecasting.models.tft.dataset import clip_forecasts, from_parameters
from forecasting.models.tft.evaluation import BAND, quantile_index
from forecasting.models.tft.module import tft_network
from forecasting.models.tft.preprocessing import read_config
from forecasting.models.tft.windows import MaterializedWindows
from forecasting.series_naming import SEPARATOR

PLACEHOLDER = "0"  # stands in for values the decoder never reads (target, unknown reals)


def _joined(frame: pd.DataFrame, columns: list[str], separator: str) -> pd.Series:
    """One text key per row from several id columns, without a slow row-wise apply."""
    text = frame[columns].astype(str)
    return text[columns[0]].str.cat(text[columns[1:]], sep=separator)


def _needs_future_rows(schema: PanelSchema) -> bool:
    return bool(schema.known_categoricals) or any(c != TIME_IDX for c in schema.known_reals)


def _with_forecast_rows(
    raw: pd.DataFrame, schema: PanelSchema, horizon: int, where: Location
) -> pd.DataFrame:
    """Check (or add) each series' forecast rows; fill what the decoder never reads."""
    groups, time, target = list(schema.group_columns), schema.time_column, schema.target
    stamps = validation.parse_timestamps(raw[time], time, where)
    keys = _joined(raw, groups, "\x1f")

    def name_of(row: int) -> str:
        return series_name(groups, tuple(raw[groups].iloc[row]))

    check_increasing(keys, stamps, name_of, where, time)
    future = (raw[target].astype(str).str.strip() == "").to_numpy()
    added = []
    for rows in keys.groupby(keys, sort=False).indices.values():
        n_future = int(future[rows].sum())
        if n_future == 0 and not _needs_future_rows(schema):
            last = raw.iloc[[rows[-1]] * horizon].copy()
            steps = pd.date_range(stamps[rows[-1]], periods=horizon + 1, freq=schema.freq)[1:]
            last[time] = [stamp.isoformat() for stamp in steps]
            last[target] = ""
            added.append(last)
            continue
        if n_future != horizon or future[rows[: len(rows) - horizon]].any():
            raise DataValidationError(
                f"{where.source}: series {name_of(rows[0])} has {n_future} rows with an empty "
                f"{target!r}; "
                f"expected its last {horizon} rows (the horizon) to have an empty {target!r} "
                "and the known covariates filled in, after its history"
            )
    if added:
        raw = pd.concat([raw, *added], ignore_index=True)
        future = np.concatenate([future, np.ones(len(raw) - len(future), dtype=bool)])
    raw = raw.copy()
    for column in [c for c in (target, *schema.unknown_reals) if c in raw.columns]:
        raw.loc[future, column] = raw.loc[future, column].where(
            raw.loc[future, column].astype(str).str.strip() != "", PLACEHOLDER
        )
    raw["_future"] = future
    return raw


@torch.no_grad()
def forecast(
    model: torch.nn.Module, config: dict[str, Any], raw: pd.DataFrame, where: Location
) -> pd.DataFrame:
    """One row per series and step: series_id, target, timestamp, horizon_step, p50, p10, p90."""
    pre = read_config(config)
    schema, horizon = pre.schema, pre.horizon
    validation.require_columns(raw.columns, file_columns(schema), where)
    groups = list(schema.group_columns)
    raw = _with_forecast_rows(raw, schema, horizon, where)
    future = raw.pop("_future").to_numpy()
    if is_stallion(schema):
        raw = stallion_features(raw, where)
    history = raw.loc[~future].groupby(groups, sort=False).size()
    for key, rows in history.items():
        name = series_name(groups, key)
        too_short(name, int(rows), pre.min_encoder_length, "the minimum encoder length", where)
    known = set(pre.trained_series)
    for key in history.index:
        labels = tuple(str(v) for v in (key if isinstance(key, tuple) else (key,)))
        if labels not in known:
            raise DataValidationError(
                f"{where.source}: series {series_name(groups, key)} is not one the model was "
                f"trained on ({len(known)} series); expected a known series, or retrain with it"
            )
    panel = validate_panel(raw, schema, where, pd.Timestamp(pre.time_origin))

    dataset = from_parameters(pre.dataset_parameters, panel.frame, predict=True)
    windows = MaterializedWindows(dataset)
    x, _ = windows.__getitems__(range(len(windows)))
    network = tft_network(model).eval()
    # [series, horizon, quantiles], in target units, floored as in evaluation
    prediction = clip_forecasts(network(x)["prediction"], pre)
    index = dataset.x_to_index(x)
    stamps = panel.frame.drop_duplicates(TIME_IDX).set_index(TIME_IDX)[schema.time_column]
    parts = []
    for step in range(horizon):
        part = pd.DataFrame(
            {
                "series_id": _joined(index, groups, SEPARATOR),
                "target": schema.target,
                "timestamp": stamps.reindex(index[TIME_IDX].to_numpy() + step).to_numpy(),
                "horizon_step": step + 1,
            }
        )
        for q in BAND:
            quantile = quantile_index(network.quantiles, q)
            part[f"p{round(q * 100)}"] = prediction[:, step, quantile].numpy()
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values(["series_id", "horizon_step"], kind="stable", ignore_index=True)


def example_request(test: pd.DataFrame, config: dict[str, Any]) -> ExampleRequest:
    """Per series: the encoder rows, then ``horizon`` rows with the target and unknown reals
    left empty and the known covariates filled in, as `forecast` expects."""
    from forecasting.data.stallion import file_rows

    pre = read_config(config)
    schema, horizon, encoder = pre.schema, pre.horizon, pre.max_encoder_length
    groups, target, time = list(schema.group_columns), schema.target, schema.time_column
    last = int(test[TIME_IDX].max())
    window = test[test[TIME_IDX] > last - horizon - encoder].sort_values([*groups, TIME_IDX])
    future = (window[TIME_IDX] > last - horizon).to_numpy()
    request = file_rows(window, schema).astype(object)  # the training file's columns
    request[time] = format_timestamps(pd.DatetimeIndex(window[time]))
    columns = list(request.columns)
    blank = [c for c in (target, *schema.unknown_reals) if c in columns]
    request.loc[future, blank] = ""
    ids = window[groups].astype(str).agg(SEPARATOR.join, axis=1)
    actuals = actual_rows(ids, target, window[time], window[target])
    return ExampleRequest(
        request=request.reset_index(drop=True),
        actuals=actuals,
        encoder_length=encoder,
        horizon=horizon,
        series=int(ids.nunique()),
    )
