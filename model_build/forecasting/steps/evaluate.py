"""Evaluation step: score the trained model on the test split and write ``evaluation.json``.

The file has the SageMaker model-metrics shape (``{"regression_metrics": {"mse": {"value": ...}}}``)
so the pipeline's condition step can read it with ``JsonGet`` and the registry can show it.
MSE/MAE/RMSE are on the standardised scale, as every published ETT table reports them; MAPE and
sMAPE are on the original scale, where they mean something; the original-scale errors are
reported beside them.

The approver's evidence: the pipeline's FindApprovedModel step hands this step the currently
Approved version's model (``--approved-model``), and the family's own evaluation scores it on
this version's test windows too, into evaluation.json's ``approved`` block. The approved model
reads the new rows through its own fitted preprocessing (scaler or encoders, columns, window
lengths); where the split lies in the data is this run's. A model that cannot score these
windows (another family, other columns, a longer input than the split keeps) is recorded with
the reason, never a crash and never left out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from forecasting import artifact, tracking
from forecasting.channels import Channel, read_channel
from forecasting.contracts import ModelConfig
from forecasting.errors import ForecastingError
from forecasting.families import family
from forecasting.steps.arguments import add_option, run_step

log = logging.getLogger("forecasting.evaluate")

EVALUATION_FILE = "evaluation.json"
APPROVED_BLOCK = "approved"
# What the FindApprovedModel step puts in place of a model when no version is approved
# (lambdas.approved_model.finding writes it; its "reason" says why there is nothing to score).
NO_APPROVED_MODEL_FILE = "NO_APPROVED_MODEL.json"
NONE = "none"
# The fields of preprocessing.json that place a split in its data set: the test rows' own, which
# the approved model reads unchanged. Every other field (fitted scaler or encoders, columns,
# window lengths, the family) is how a model reads rows: the approved model's.
SPLIT_FIELDS = ("source", "synthetic", "split", "split_rule", "bounds", "context_length", "cutoffs")


def _summary(report: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v['value']:.4f}" for k, v in report["regression_metrics"].items())


def _processing_default(path: str, local: str | None) -> str | None:
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
    add_option(
        p,
        "approved-model",
        default=_processing_default("/opt/ml/processing/approved-model", None),
        help="the approved version's model (or the FindApprovedModel step's marker that none "
        "is approved); scored on the same test windows",
    )
    add_option(p, "approved-version", default=NONE, help="its model package version")
    add_option(p, "approved-arn", default=NONE, help="its model package ARN")
    add_option(p, "batch-size", type=int, default=256)
    add_option(p, "seed", type=int, default=0, help="seeds ProbSparse's key sampling")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    model, config = artifact.load(args.model_dir)
    model_family = ModelConfig.of_artifact(
        config, Path(args.model_dir) / artifact.CONFIG_FILE
    ).family
    test = read_channel(args.test)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    report = family(model_family).evaluate(
        model, config, test, output, seed=args.seed, batch_size=args.batch_size
    )
    recorded = config.get("training", {}).get("tracking") or {}
    if recorded.get("run_id"):  # trained with tracking: the test metrics join that run
        artifact_uri = os.environ.get(tracking.ARTIFACT_URI)
        report["mlflow"] = {"run_id": tracking.log_evaluation(recorded, report, artifact_uri)}
    report[APPROVED_BLOCK] = {
        "model_package_version": _version(args.approved_version),
        "model_package_arn": None if args.approved_arn == NONE else args.approved_arn,
        **score_approved(args.approved_model, model_family, test, args.seed, args.batch_size),
    }
    (output / EVALUATION_FILE).write_text(json.dumps(report, indent=2) + "\n")
    windows = report["evaluation"].get("windows")
    log.info("test %s (%s windows) -> %s", _summary(report), windows, output / EVALUATION_FILE)
    approved = report[APPROVED_BLOCK]
    if approved["scored"]:
        log.info("approved version %s on the same windows: %s",
                 approved["model_package_version"], _summary(approved))  # fmt: skip
    else:
        log.info("approved version not scored: %s", approved["reason"])
    return report


def _version(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def score_approved(
    approved_dir: str | None, model_family: str, test: Channel, seed: int, batch_size: int
) -> dict[str, Any]:
    """The approved model's metrics on ``test`` by its family's evaluation, or why there are none:
    ``{"scored": True, "model_family", "same_fitted_preprocessing", <the report's blocks>}`` or
    ``{"scored": False, "reason"}``."""
    if approved_dir is None:
        return {"scored": False, "reason": "no approved model was given (--approved-model)"}
    folder = Path(approved_dir)
    marker = folder / NO_APPROVED_MODEL_FILE
    if marker.is_file():
        reason = json.loads(marker.read_text()).get("reason", "no version is approved")
        return {"scored": False, "reason": str(reason)}
    try:
        model, config = artifact.load(folder)
    except ForecastingError as error:
        return {"scored": False, "reason": f"the approved model could not be loaded: {error}"}
    approved_family = ModelConfig.of_artifact(config, folder / artifact.CONFIG_FILE).family
    about: dict[str, Any] = {"model_family": approved_family}
    if approved_family != model_family:
        reason = (
            f"the approved version is a {approved_family} model and this one a {model_family} "
            "model: their test windows are cut differently, so they are not scored on the same ones"
        )
        return {**about, "scored": False, "reason": reason}
    try:
        view = approved_view(test, config["preprocessing"])
        reading = {**config, "preprocessing": view.preprocessing}
        with tempfile.TemporaryDirectory() as scratch:  # its forecasts and figures are not kept
            report = family(approved_family).evaluate(
                model, reading, view, Path(scratch), seed=seed, batch_size=batch_size
            )
        same = family(approved_family).fitted(view) == family(model_family).fitted(test)
    except (ForecastingError, KeyError, ValueError) as error:
        reason = f"the approved model cannot score this version's test windows: {error}"
        return {**about, "scored": False, "reason": reason}
    report.pop("mlflow", None)
    return {**about, "scored": True, "same_fitted_preprocessing": bool(same), **report}


def approved_view(test: Channel, approved: Mapping[str, Any]) -> Channel:
    """The test rows as the approved model reads them: its own preprocessing, this split's place
    in the data (:data:`SPLIT_FIELDS`). Refused where the two count time differently."""
    ours = test.preprocessing
    if "time_origin" in ours and approved.get("time_origin") != ours["time_origin"]:
        raise ValueError(
            f"the approved model counts time steps from {approved.get('time_origin')}, this "
            f"version's data from {ours['time_origin']}"
        )
    fields = {**approved, **{name: ours[name] for name in SPLIT_FIELDS if name in ours}}
    return dataclasses.replace(test, preprocessing=fields)


if __name__ == "__main__":
    run_step(main)
