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
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forecasting import artifact, tracking
from forecasting.channels import read_channel
from forecasting.families import family
from forecasting.steps.arguments import add_option, run_step

log = logging.getLogger("forecasting.evaluate")

EVALUATION_FILE = "evaluation.json"


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


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    model, config = artifact.load(args.model_dir)
    test = read_channel(args.test)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    report = family(config["model"]["family"]).evaluate(
        model, config, test, output, seed=args.seed, batch_size=args.batch_size
    )
    recorded = config.get("training", {}).get("tracking") or {}
    if recorded.get("run_id"):  # trained with tracking: the test metrics join that run
        artifact_uri = os.environ.get(tracking.ARTIFACT_URI)
        report["mlflow"] = {"run_id": tracking.log_evaluation(recorded, report, artifact_uri)}
    (output / EVALUATION_FILE).write_text(json.dumps(report, indent=2) + "\n")
    windows = report["evaluation"].get("windows")
    log.info("test %s (%s windows) -> %s", _summary(report), windows, output / EVALUATION_FILE)
    return report


if __name__ == "__main__":
    run_step(main)
