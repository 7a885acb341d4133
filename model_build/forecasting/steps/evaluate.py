"""Evaluation step: score the trained model on the test split and write ``evaluation.json``.

The file has the SageMaker model-metrics shape (``{"regression_metrics": {"mse": {"value": ...}}}``)
so the pipeline's condition step can read it with ``JsonGet`` and the registry can show it.
MSE/MAE/RMSE are on the standardised scale, as every published ETT table reports them; MAPE and
sMAPE are on the original scale, where they mean something; the original-scale errors are
reported beside them.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from forecasting import artifact
from forecasting.channels import Channel, read_channel
from forecasting.data.scaling import StandardScaler
from forecasting.data.windows import WindowDataset
from forecasting.errors import DataValidationError
from forecasting.metrics import mape_coverage, percentage_metrics, regression_metrics
from forecasting.models.informer.model import make_decoder_input
from forecasting.steps.arguments import add_option, run_step

log = logging.getLogger("forecasting.evaluate")

EVALUATION_FILE = "evaluation.json"
INTERPRETATION_FILE = "interpretation.json"  # TFT: variable importances, encoder attention
FORECASTS_FILE = "forecasts.csv"  # TFT: p10/p50/p90 beside the actuals of the test horizon


def _summary(report: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v['value']:.4f}" for k, v in report["regression_metrics"].items())


def _processing_default(path: str, local: str) -> str:
    return path if Path(path).exists() else local


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_option(p, "model-dir", default=_processing_default("/opt/ml/processing/model", "model"))
    add_option(p, "test", default=_processing_default("/opt/ml/processing/test", "data/test"))
    add_option(
        p,
        "output-dir",
        default=_processing_default("/opt/ml/processing/evaluation", "evaluation"),
    )
    add_option(p, "batch-size", type=int, default=256)
    add_option(p, "seed", type=int, default=0, help="seeds ProbSparse's key sampling")
    return p.parse_args(argv)


@torch.no_grad()
def predict_windows(
    model: torch.nn.Module, windows: WindowDataset, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Forecast every window; returns (prediction, truth), both [N, pred_len, targets], scaled."""
    model.eval()
    label_len, pred_len = windows.label_len, windows.pred_len
    predictions, truths = [], []
    for x, x_mark, y, y_mark in DataLoader(windows, batch_size=batch_size):
        decoder_input = make_decoder_input(y, label_len, pred_len)
        predictions.append(model(x, x_mark, decoder_input, y_mark).numpy())
        truths.append(y[:, -pred_len:, :].numpy())
    return np.concatenate(predictions), np.concatenate(truths)


def evaluation_report(
    prediction: np.ndarray, truth: np.ndarray, preprocessing: dict[str, Any]
) -> dict[str, Any]:
    scaler = StandardScaler.from_dict(preprocessing["scaler"])
    targets = preprocessing["targets"]
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
            "targets": preprocessing["targets"],
            "source": preprocessing["source"],
            "synthetic": bool(preprocessing["synthetic"]),
            "split_protocol": preprocessing["split"],
            "split_rule": preprocessing.get("split_rule"),
            "mape": mape_coverage(original_true),
        },
    }


def evaluate_tft(model: torch.nn.Module, config: dict[str, Any], test: Channel, output: Path):
    """TFT: quantile metrics in evaluation.json, plus interpretation and forecasts beside it."""
    from forecasting.models.tft.evaluation import evaluate_split, save_figures

    if (
        test.preprocessing.get("dataset_parameters")
        != config["preprocessing"]["dataset_parameters"]
    ):
        raise DataValidationError(
            f"{test.path} was preprocessed differently from the data the model was trained on "
            "(the fitted encoders and normalizer differ)"
        )
    result = evaluate_split(model, test.frame, config["preprocessing"])
    output.mkdir(parents=True, exist_ok=True)
    result.forecasts.to_csv(output / FORECASTS_FILE, index=False)
    figures = save_figures(result.figures, output)
    interpretation = {**result.interpretation, "figures": figures}
    (output / INTERPRETATION_FILE).write_text(json.dumps(interpretation, indent=2) + "\n")
    return result.report


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    model, config = artifact.load(args.model_dir)
    test = read_channel(args.test)
    output = Path(args.output_dir)
    if config["model"]["family"] == "tft":
        report = evaluate_tft(model, config, test, output)
        (output / EVALUATION_FILE).write_text(json.dumps(report, indent=2) + "\n")
        log.info("test %s -> %s", _summary(report), output / EVALUATION_FILE)
        return report
    if test.preprocessing.get("scaler") != config["preprocessing"]["scaler"]:
        raise DataValidationError(
            f"{args.test} was preprocessed differently from the data the model in "
            f"{args.model_dir} was trained on (the fitted scalers differ)"
        )
    hparams = config["model"]["hparams"]
    windows = test.windows(hparams["seq_len"], hparams["label_len"], hparams["pred_len"])
    torch.manual_seed(args.seed)  # ProbSparse samples keys even in eval mode
    prediction, truth = predict_windows(model, windows, args.batch_size)
    report = evaluation_report(prediction, truth, config["preprocessing"])
    output.mkdir(parents=True, exist_ok=True)
    (output / EVALUATION_FILE).write_text(json.dumps(report, indent=2) + "\n")
    log.info("test %s (%d windows) -> %s", _summary(report), len(windows), output / EVALUATION_FILE)
    return report


if __name__ == "__main__":
    run_step(main)
