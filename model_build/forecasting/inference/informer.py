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
from forecasting.data.scaling import StandardScaler
from forecasting.data.time_features import time_features
from forecasting.data.validation import Location
from forecasting.errors import DataValidationError
from forecasting.inference.history import check_increasing, too_short
from forecasting.models.informer.model import make_decoder_input

SERIES_ID = "series_id"


def _check_steps(stamps: pd.DatetimeIndex, freq: str, name: str, rows: np.ndarray, where) -> None:
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
    pre, hparams = config["preprocessing"], config["model"]["hparams"]
    seq_len, label_len, pred_len = hparams["seq_len"], hparams["label_len"], hparams["pred_len"]
    columns, targets, time_column = pre["columns"], pre["targets"], pre["time_column"]
    validation.require_columns(raw.columns, [time_column, *columns], where)
    stamps = validation.parse_timestamps(raw[time_column], time_column, where)
    values = validation.parse_numbers(raw[columns], where).to_numpy(np.float64)
    keys = raw[SERIES_ID] if SERIES_ID in raw.columns else pd.Series([""] * len(raw))
    names = keys.map(lambda key: repr(key) if key else "(the only one)")
    check_increasing(keys, stamps, names, where, time_column)

    scaler = StandardScaler.from_dict(pre["scaler"])
    target_idx = [columns.index(name) for name in targets]
    encoder, encoder_marks, start, decoder_marks, futures, ids = [], [], [], [], [], []
    for key, rows in keys.groupby(keys, sort=False).indices.items():
        too_short(names.iat[rows[0]], len(rows), seq_len, "the encoder length seq_len", where)
        _check_steps(stamps[rows], pre["freq"], names.iat[rows[0]], rows, where)
        last = rows[-seq_len:]
        future = pd.date_range(stamps[last[-1]], periods=pred_len + 1, freq=pre["freq"])[1:]
        scaled = scaler.transform(values[last]).astype(np.float32)
        encoder.append(scaled)
        encoder_marks.append(time_features(stamps[last], pre["freq"]))
        start.append(scaled[seq_len - label_len :, target_idx])
        decoder_marks.append(
            time_features(stamps[last[seq_len - label_len :]].append(future), pre["freq"])
        )
        futures.append(future)
        ids.append(key)

    x = torch.from_numpy(np.stack(encoder))
    y = torch.from_numpy(np.stack(start))
    model.eval()
    torch.manual_seed(0)  # ProbSparse samples keys even in eval mode: same request, same answer
    scaled_forecast = model(
        x,
        torch.from_numpy(np.stack(encoder_marks)),
        make_decoder_input(y, label_len, pred_len),
        torch.from_numpy(np.stack(decoder_marks)),
    ).numpy()
    point = scaler.inverse_transform(scaled_forecast, columns=targets)  # [series, step, target]
    parts = []
    for i, (key, future) in enumerate(zip(ids, futures, strict=True)):
        for t, target in enumerate(targets):
            parts.append(
                pd.DataFrame(
                    {
                        "series_id": f"{key}/{target}" if key else target,
                        "target": target,
                        "timestamp": future,
                        "horizon_step": np.arange(1, pred_len + 1),
                        "p50": point[i, :, t],
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)
