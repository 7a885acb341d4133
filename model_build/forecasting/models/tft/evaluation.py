"""Scoring a trained TFT on a split: quantile forecasts, metrics and interpretation.

Everything here is computed from one forward pass over the split's windows (one per series and
origin), so the numbers, the forecasts file and the plots always describe the same predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pytorch_forecasting import TimeSeriesDataSet

from forecasting.channels import Channel
from forecasting.data.panel import TIME_IDX
from forecasting.errors import DataValidationError
from forecasting.metrics import (
    mape_coverage,
    percentage_metrics,
    quantile_metrics,
    regression_metrics,
)
from forecasting.models.ensemble import Ensemble
from forecasting.models.tft.dataset import clip_forecasts, split_dataset
from forecasting.models.tft.module import TFTForecaster, tft_network
from forecasting.models.tft.preprocessing import TFTPreprocessing, read_config
from forecasting.models.tft.windows import MaterializedWindows
from forecasting.series_naming import SeriesNaming

INTERPRETATION_FILE = "interpretation.json"  # variable importances, encoder attention, figures
FORECASTS_FILE = "forecasts.csv"  # p10/p50/p90 beside the actuals of the test horizon
BAND = (0.1, 0.5, 0.9)  # the quantiles written out: p10, p50 (the point forecast), p90


@dataclass(frozen=True)
class TFTEvaluation:
    report: dict[str, Any]  # evaluation.json
    interpretation: dict[str, Any]  # interpretation.json
    forecasts: pd.DataFrame  # one row per series x horizon step
    figures: dict[str, Any]  # matplotlib figures by name


def series_naming(preprocessing: TFTPreprocessing) -> SeriesNaming:
    """A series is named by its group columns' values; its one target is not part of it."""
    schema = preprocessing.schema
    return SeriesNaming(schema.time_column, schema.group_columns, (schema.target,), False)


def quantile_index(quantiles: list[float], q: float) -> int:
    matches = [i for i, value in enumerate(quantiles) if abs(value - q) < 1e-9]
    if not matches:
        raise ValueError(f"the model has no {q} quantile (it has {quantiles})")
    return matches[0]


def _shares(values: torch.Tensor, names: list[str]) -> dict[str, float]:
    total = float(values.sum()) or 1.0
    shares = {name: float(v) / total for name, v in zip(names, values.tolist(), strict=True)}
    return dict(sorted(shares.items(), key=lambda item: -item[1]))


@torch.no_grad()
def evaluate_split(
    model: TFTForecaster | Ensemble,
    frame: pd.DataFrame,
    preprocessing: TFTPreprocessing,
    split: str = "test",
) -> TFTEvaluation:
    dataset = split_dataset(frame, preprocessing, split)
    windows = MaterializedWindows(dataset)
    x, (truth, _) = windows.__getitems__(range(len(windows)))
    model.eval()
    output = model(x)
    # [windows, horizon, quantiles], in the target's units
    prediction = clip_forecasts(output["prediction"], preprocessing)
    quantiles = model.quantiles
    steps = torch.arange(truth.shape[1])[None, :] < x["decoder_lengths"][:, None]
    mask = steps.numpy()
    band = {q: prediction[..., quantile_index(quantiles, q)].numpy() for q in BAND}
    true = truth.numpy()
    point = band[0.5]
    metrics = {
        **regression_metrics(point[mask], true[mask]),
        **percentage_metrics(point[mask], true[mask]),
        **quantile_metrics(prediction.numpy()[mask], true[mask], quantiles),
    }
    cutoffs = preprocessing.cutoffs
    origins = cutoffs.origins(split, preprocessing.horizon)
    report = {
        "regression_metrics": {name: {"value": value} for name, value in metrics.items()},
        "evaluation": {
            "split": split,
            "protocol": cutoffs.protocol,
            "scale": f"original units of {preprocessing.schema.target!r}",
            "point_forecast": "p50",
            "clipped_at_zero": preprocessing.nonnegative_target,
            "series": _series_count(dataset, x),
            "origins": len(origins),
            "windows": len(windows),
            "forecast_points": int(mask.sum()),
            "mape": mape_coverage(true[mask]),
            "horizon": int(truth.shape[1]),
            "targets": preprocessing.targets,
            "source": preprocessing.source,
            "synthetic": preprocessing.synthetic,
            "columns": series_naming(preprocessing).to_dict(),
        },
    }
    forecasts = _forecast_table(dataset, x, preprocessing, true, band, mask)
    time_column = preprocessing.schema.time_column
    stamps = frame[[TIME_IDX, time_column]].drop_duplicates(TIME_IDX)
    forecasts = forecasts.merge(stamps, on=TIME_IDX, how="left")
    interpretation, figures = _interpret(model, output)
    return TFTEvaluation(report, interpretation, forecasts, figures)


def _series_count(dataset: TimeSeriesDataSet, x: dict[str, torch.Tensor]) -> int:
    """How many series the windows forecast (a series has one window per origin)."""
    return len(dataset.x_to_index(x)[dataset.group_ids].drop_duplicates())


def _forecast_table(
    dataset: TimeSeriesDataSet,
    x: dict[str, torch.Tensor],
    preprocessing: TFTPreprocessing,
    true: np.ndarray,
    band: dict[float, np.ndarray],
    mask: np.ndarray,
) -> pd.DataFrame:
    index = dataset.x_to_index(x)  # decoded series ids and the first forecast time_idx
    schema = preprocessing.schema
    rows: list[pd.DataFrame] = []
    for step in range(true.shape[1]):
        part = index[list(schema.group_columns)].copy()
        part[TIME_IDX] = index[TIME_IDX].to_numpy() + step  # pytorch-forecasting's own index
        part["horizon_step"] = step + 1
        part["actual"] = true[:, step]
        for q, values in band.items():
            part[f"p{round(q * 100)}"] = values[:, step]
        rows.append(part[mask[:, step]])
    table = pd.concat(rows).sort_values([*schema.group_columns, TIME_IDX], kind="stable")
    ordered: pd.DataFrame = table.reset_index(drop=True)
    return ordered


def _interpret(
    model: TFTForecaster | Ensemble, output: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    summed = model.interpret_output(output, reduction="sum")
    positions = range(-model.hparams.max_encoder_length, 0)
    attention = summed["attention"][: len(positions)]
    attention = attention / attention.sum()
    interpretation = {
        "variable_importance": {
            "static": _shares(summed["static_variables"], model.static_variables),
            "encoder": _shares(summed["encoder_variables"], model.encoder_variables),
            "decoder": _shares(summed["decoder_variables"], model.decoder_variables),
        },
        "encoder_attention": {
            "description": "share of attention from the first forecast step to each encoder "
            "step, summed over series (position -1 is the last observed step)",
            "position": list(positions),
            "share": [float(v) for v in attention],
        },
    }
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window, also on a headless job
    return interpretation, model.plot_interpretation(summed)


def save_figures(figures: dict[str, Any], directory: Path) -> list[str]:
    import matplotlib.pyplot as plt

    written = []
    for name, figure in figures.items():
        path = directory / f"interpretation_{name}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(path.name)
    return written


def evaluate(
    model: torch.nn.Module, config: dict[str, Any], test: Channel, output: Path
) -> dict[str, Any]:
    """Quantile metrics for evaluation.json, with the interpretation and forecasts beside it."""
    preprocessing = read_config(config)
    same = (
        test.recorded.model == "tft"
        and test.tft.dataset_parameters == preprocessing.dataset_parameters
    )
    if not same:
        raise DataValidationError(
            f"{test.path} was preprocessed differently from the data the model was trained on "
            "(the fitted encoders and normalizer differ)"
        )
    result = evaluate_split(tft_network(model), test.frame, preprocessing)
    result.forecasts.to_csv(output / FORECASTS_FILE, index=False)
    figures = save_figures(result.figures, output)
    interpretation = {**result.interpretation, "figures": figures}
    (output / INTERPRETATION_FILE).write_text(json.dumps(interpretation, indent=2) + "\n")
    return result.report
