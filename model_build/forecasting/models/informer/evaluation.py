"""The Informer's evaluation: every window of the test split, scored on both scales."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from forecasting.channels import Channel
from forecasting.errors import DataValidationError
from forecasting.metrics import mape_coverage, percentage_metrics, regression_metrics
from forecasting.models.ensemble import Ensemble
from forecasting.models.informer.model import Informer, forecast_window, informer_network
from forecasting.models.informer.preprocessing import InformerPreprocessing, read_config
from forecasting.models.informer.windows import WindowDataset
from forecasting.series_naming import SeriesNaming


def series_naming(preprocessing: InformerPreprocessing) -> SeriesNaming:
    """Each target of the series is a forecast series of its own, named by the target (after
    the request's ``series_id``, when it has one; a training file has none)."""
    return SeriesNaming(preprocessing.time_column, (), tuple(preprocessing.targets), True)


def evaluate(
    model: torch.nn.Module, config: dict[str, Any], test: Channel, seed: int, batch_size: int
) -> dict[str, Any]:
    """evaluation.json's content for the model on the test channel."""
    preprocessing, lengths = read_config(config)
    if test.recorded.model != "informer" or test.informer.scaler != preprocessing.scaler:
        raise DataValidationError(
            f"{test.path} was preprocessed differently from the data the model was trained on "
            "(the fitted scalers differ)"
        )
    windows = test.windows(lengths.seq_len, lengths.label_len, lengths.pred_len)
    torch.manual_seed(seed)  # ProbSparse samples keys even in eval mode
    prediction, truth = predict_windows(informer_network(model), windows, batch_size)
    return evaluation_report(prediction, truth, preprocessing)


@torch.no_grad()
def predict_windows(
    model: Informer | Ensemble, windows: WindowDataset, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Forecast every window; returns (prediction, truth), both [N, pred_len, targets], scaled."""
    model.eval()
    predictions, truths = [], []
    for x, x_mark, y, y_mark in DataLoader(windows, batch_size=batch_size):
        predictions.append(forecast_window(model, x, x_mark, y, y_mark).numpy())
        truths.append(y[:, -windows.pred_len :, :].numpy())
    return np.concatenate(predictions), np.concatenate(truths)


def evaluation_report(
    prediction: np.ndarray, truth: np.ndarray, preprocessing: InformerPreprocessing
) -> dict[str, Any]:
    scaler, targets = preprocessing.scaler, list(preprocessing.targets)
    shape = prediction.shape
    original_pred = scaler.inverse_transform(prediction, columns=targets)
    original_true = scaler.inverse_transform(truth, columns=targets)
    per_window_mse = ((prediction - truth) ** 2).mean(axis=(1, 2))
    scaled = regression_metrics(prediction, truth)
    metrics = {name: {"value": value} for name, value in scaled.items()}
    metrics["mse"]["standard_deviation"] = float(per_window_mse.std())
    for name, value in percentage_metrics(original_pred, original_true).items():
        metrics[name] = {"value": value}
    return {
        "regression_metrics": metrics,
        "original_scale_metrics": {
            name: {"value": value}
            for name, value in regression_metrics(original_pred, original_true).items()
        },
        "evaluation": {
            "split": "test",
            "scale": "standardized (scaler fitted on the training rows)",
            "windows": int(shape[0]),
            "horizon": int(shape[1]),
            "targets": targets,
            "source": preprocessing.source,
            "synthetic": preprocessing.synthetic,
            "split_protocol": preprocessing.split,
            "split_rule": preprocessing.split_rule,
            "mape": mape_coverage(original_true),
            "columns": series_naming(preprocessing).to_dict(),
        },
    }
