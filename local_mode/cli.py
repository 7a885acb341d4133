"""``python -m local_mode``: the whole pipeline on this machine, no AWS account, no Docker.

Commands: ``run`` (data → preprocess → multi-host training → evaluate → gate → register),
``models`` (the registry), ``approve`` / ``reject`` (status change → comparison with the
approved version → batch transform → published forecasts and report), ``forecast`` (the
scheduled run: the latest approved version over the inference input; or one history file),
``accuracy`` (published forecasts against the actuals that arrived; drift alarm, retrain).

User mistakes end in one line and exit code 2 (``forecasting.steps.arguments.run_step``); a
failed quality gate ends with the cloud Fail step's message and exit code 1. This module holds
the parsers and the entry point; the handlers are in :mod:`local_mode.commands`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forecasting.families import FAMILIES
from forecasting.steps.arguments import run_step
from local_mode.commands import (
    command_accuracy,
    command_forecast,
    command_models,
    command_run,
    command_status,
)
from local_mode.layout import DEFAULT_HOME, DEFAULT_HOSTS, PROJECT
from local_mode.registry import APPROVED, REJECTED


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip().replace("-", "_"), value.strip()


def _parameter(text: str) -> tuple[str, str]:
    """``Name=Value``: pipeline parameter names are kept as written (case and dashes)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local_mode",
        description="The forecasting pipeline, registry, approval and batch inference, locally.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        type=Path,
        default=DEFAULT_HOME,
        help="folder of the registry, runs and local buckets (default: ./local)",
    )
    group_option = argparse.ArgumentParser(add_help=False)
    group_option.add_argument(
        "--group", default=PROJECT, help=f"model package group (default: {PROJECT})"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        parents=[common],
        help="preprocess, train on N local hosts, evaluate, gate and register a version",
        description="Run the pipeline's steps in <home>/runs/<run-id>, laid out as SageMaker "
        "lays out its containers (opt/ml/...). A rerun with --run-id skips finished steps and "
        "resumes training from its last checkpoint.",
    )
    run.add_argument("--model", choices=list(FAMILIES), help="model family (informer)")
    run.add_argument(
        "--dataset", help="informer: ETTh1 (default) or demo; tft: stallion (default) or demo"
    )
    run.add_argument("--data", type=Path, help="a local CSV or Parquet file to train on")
    run.add_argument(
        "--hosts", type=_positive_int,
        help=f"simulated SageMaker training hosts (default {DEFAULT_HOSTS})",
    )  # fmt: skip
    run.add_argument("--max-epochs", type=_positive_int, help="training epochs (family default)")
    run.add_argument(
        "-H", "--hyperparameter", dest="hyperparameters", type=_key_value, action="append",
        metavar="KEY=VALUE", help="a train-step flag, e.g. -H d_model=32 (repeatable)",
    )  # fmt: skip
    run.add_argument(
        "-P", "--preprocess-argument", dest="preprocess_arguments", type=_key_value,
        action="append", metavar="KEY=VALUE",
        help="a preprocess-step flag, e.g. -P seq_len=48 (the input length), -P pred_len=96 (the "
        "horizon) or -P split=ratio; training takes the input length and horizon from "
        "preprocess (repeatable)",
    )  # fmt: skip
    run.add_argument(
        "--metric", help="gate metric from evaluation.json (informer: mse; tft: q_risk_p50)"
    )
    run.add_argument(
        "--threshold", type=float, help="gate: metric <= threshold (informer 0.6; tft 0.5)"
    )
    run.add_argument("--group", help=f"model package group (default: {PROJECT})")
    run.add_argument(
        "--parameter", dest="parameters", type=_parameter, action="append", metavar="NAME=VALUE",
        help="a pipeline parameter, as start_pipeline_execution takes it, e.g. --parameter "
        "MetricThreshold=0.8 (repeatable; names as in the definition)",
    )  # fmt: skip
    which = run.add_mutually_exclusive_group()
    which.add_argument(
        "--run-id", help="name of the run; an existing run is resumed with its stored options"
    )
    which.add_argument(
        "--resume",
        action="store_true",
        help="resume the newest run that can be resumed: preprocessed, and neither registered "
        "nor failed at the gate",
    )
    run.add_argument(
        "--stop-after",
        metavar="STEP",
        help="stop after this step (Preprocess, Train, Evaluate, CheckMetric, Register, "
        "TransformInput); continue later with --run-id",
    )
    run.add_argument(
        "--no-cache",
        action="store_true",
        help="rerun every step, even one the step cache could reuse (an unchanged step of an "
        "earlier run within the definition's CacheConfig expiry)",
    )
    run.set_defaults(handler=command_run)

    models = commands.add_parser(
        "models", parents=[common], help="list the registered model versions"
    )
    models.add_argument("--group", help="only this model package group")
    models.set_defaults(handler=command_models)

    for name, status in (("approve", APPROVED), ("reject", REJECTED)):
        verb = "approve (then forecast and publish)" if status == APPROVED else "reject"
        sub = commands.add_parser(
            name,
            parents=[common, group_option],
            help=f"{verb} a model version",
            description=f"Set a version's approval status to {status}. Allowed: "
            "PendingManualApproval -> Approved or Rejected, Approved -> Rejected, Rejected -> "
            "Approved. "
            + (
                "The approval event then runs the cloud's batch-transform plan locally and "
                "publishes the forecasts (CSV, manifest, plots, HTML report)."
                if status == APPROVED
                else ""
            ),
        )
        target = sub.add_mutually_exclusive_group(required=True)
        target.add_argument("version", nargs="?", type=_positive_int, help="the version number")
        target.add_argument("--latest", action="store_true", help="the highest version")
        sub.add_argument("--description", help="approval description kept with the version")
        sub.set_defaults(handler=command_status, status=status)

    forecast = commands.add_parser(
        "forecast",
        parents=[common, group_option],
        help="forecast the inference input (as the schedule does) or a history file",
        description="Without --history: what the cloud's forecast schedule runs. The latest "
        "approved version forecasts the local inference input prefix and the forecasts are "
        "published (CSV partition of their own, manifest, plots, report); one job per version "
        "and input content, so a run with nothing new starts nothing and says so. With "
        "--history: an approved version (the latest, or --version) forecasts one history file "
        "(the handler's CSV or JSON Lines input) through the same serving path.",
    )
    forecast.add_argument("--history", type=Path, help="one history file to forecast")
    forecast.add_argument(
        "--version", type=_positive_int, help="an approved version (with --history)"
    )
    forecast.add_argument("--output", type=Path, help="where to write the forecast CSV")
    forecast.set_defaults(handler=command_forecast)
    add_accuracy_command(commands, common, group_option)
    return parser


def add_accuracy_command(
    commands: Any, common: argparse.ArgumentParser, group_option: argparse.ArgumentParser
) -> None:
    from lambdas.accuracy import drift

    accuracy = commands.add_parser(
        "accuracy",
        parents=[common, group_option],
        help="score the published forecasts against the actuals that have arrived",
        description="Join every published forecast of the group with the actuals under the "
        "local actuals prefix (<home>/s3/<project>-data/actuals/*.csv, in the training data's "
        "columns or series_id,target,timestamp,value), print each version's MAE, bias, sMAPE "
        "and p10-p90 coverage, write the accuracy table beside the forecasts and apply the "
        "drift alarm: a version whose rolling sMAPE exceeds RATIO x the sMAPE it registered "
        "is in alarm (reported once).",
    )
    accuracy.add_argument(
        "--ratio", type=float, default=drift.DEFAULT_ALARM_RATIO,
        help="alarm above this many times the registered sMAPE "
        f"(default {drift.DEFAULT_ALARM_RATIO})",
    )  # fmt: skip
    accuracy.add_argument(
        "--window-days", type=_positive_int, default=drift.DEFAULT_WINDOW_DAYS,
        help="days of actuals in the rolling sMAPE, counted back from the latest "
        f"(default {drift.DEFAULT_WINDOW_DAYS})",
    )  # fmt: skip
    accuracy.add_argument(
        "--retrain", action="store_true",
        help="when the newest judged version is in alarm, start a run with the options of the "
        "run that trained it (at most once per cool-down)",
    )  # fmt: skip
    accuracy.add_argument(
        "--cooldown-days", type=int, default=drift.DEFAULT_COOLDOWN_DAYS,
        help="days of data after a retrain before drift may retrain again "
        f"(default {drift.DEFAULT_COOLDOWN_DAYS})",
    )  # fmt: skip
    accuracy.set_defaults(handler=command_accuracy)


# --- entry point ------------------------------------------------------------------------------


def _dispatch(argv: Sequence[str] | None) -> None:
    from local_mode.runs import GateFailedError, StepFailedError

    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except GateFailedError as failed:
        print(f"quality gate failed: {failed}", file=sys.stderr)
        raise SystemExit(1) from None
    except StepFailedError as failed:
        print(f"error: {failed}", file=sys.stderr)
        raise SystemExit(failed.exit_code) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None


def main(argv: Sequence[str] | None = None) -> None:
    run_step(_dispatch, argv)
