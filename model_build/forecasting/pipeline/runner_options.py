"""The runner's settings, each a flag CodeBuild can also set through the environment."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecasting.errors import ConfigError
from forecasting.pipeline.settings import TRAINING_FILE, PipelineSettings

# model_build/, the folder holding this package (an editable install, as in CodeBuild)
DEFAULT_SOURCE_DIR = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class EnvOption:
    """A flag that CodeBuild can also set through the environment."""

    flag: str
    env: tuple[str, ...]
    help: str
    required: bool = True

    @property
    def dest(self) -> str:
        return self.flag.replace("-", "_")

    def describe(self) -> str:
        return f"--{self.flag} (env {' or '.join(self.env)})"


OPTIONS = (
    EnvOption("pipeline-name", ("PIPELINE_NAME",), "SageMaker pipeline to create or update"),
    EnvOption("role-arn", ("PIPELINE_ROLE_ARN",), "IAM role the pipeline's jobs run as"),
    EnvOption(
        "artifacts-bucket", ("ARTIFACTS_BUCKET",), "bucket for the source tarball and outputs"
    ),
    EnvOption("kms-key-id", ("KMS_KEY_ID",), "KMS key for uploads, volumes and job outputs"),
    EnvOption("region", ("AWS_REGION", "AWS_DEFAULT_REGION"), "AWS region"),
    EnvOption(
        "model-package-group", ("MODEL_PACKAGE_GROUP",), "model package group to register in"
    ),
    EnvOption("data-uri", ("DATA_URI",), "default s3:// URI of the input data"),
    EnvOption(
        "image-repository",
        ("IMAGE_REPOSITORY_URI",),
        "ECR repository URI of the project images the jobs run (see the images command)",
    ),
    EnvOption(
        "approved-model-function-arn",
        ("APPROVED_MODEL_FUNCTION_ARN",),
        "ARN of the Lambda the FindApprovedModel step invokes (the stack's)",
    ),
    EnvOption(
        "subnet-ids",
        ("SUBNET_IDS",),
        "comma-separated subnets every job runs in (with --security-group-ids); default: none",
        required=False,
    ),
    EnvOption(
        "security-group-ids",
        ("SECURITY_GROUP_IDS",),
        "comma-separated security groups of the jobs in --subnet-ids",
        required=False,
    ),
    EnvOption(
        "settings",
        ("PIPELINE_SETTINGS",),
        "pipeline settings as a JSON file or inline JSON; default: training.json in the "
        "source folder",
        required=False,
    ),
    EnvOption(
        "mlflow-tracking-uri",
        ("MLFLOW_TRACKING_SERVER_ARN",),
        "MLflow tracking server (a SageMaker managed server's ARN) the training runs are "
        "recorded in; default: none, nothing is recorded",
        required=False,
    ),
    EnvOption(
        "project-name",
        ("PROJECT_NAME",),
        "value of the pipeline's project tag; default: the pipeline name",
        required=False,
    ),
)


def id_list(text: str | None, option: str) -> tuple[str, ...]:
    """A comma-separated list of AWS ids (subnets, security groups); empty when unset."""
    ids = tuple(part.strip() for part in (text or "").split(",") if part.strip())
    if any(" " in part for part in ids):
        raise ConfigError(f"--{option}: expected comma-separated ids, got {text!r}")
    return ids


def resolve_options(
    args: argparse.Namespace, environ: Mapping[str, str], only: Sequence[str] | None = None
) -> dict[str, str]:
    """Each option from its flag, else its environment variable; names every missing one."""
    values: dict[str, str] = {}
    missing: list[str] = []
    for option in OPTIONS:
        if only is not None and option.flag not in only:
            continue
        value = getattr(args, option.dest) or next(
            (environ[name] for name in option.env if environ.get(name)), None
        )
        if value:
            values[option.dest] = value
        elif option.required:
            missing.append(option.describe())
    if missing:
        raise ConfigError("missing required settings: " + ", ".join(missing))
    return values


def positive_seconds(
    value: float | None, flag: str, env: str, environ: Mapping[str, str], default: float
) -> float:
    """A positive number of seconds from the flag, else the environment, else the default."""
    raw: Any = value if value is not None else environ.get(env) or default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not seconds > 0:  # zero would poll the API without pause; NaN fails here too
        raise ConfigError(f"--{flag} (env {env}) must be a positive number, got {raw!r}")
    return seconds


def load_settings(text: str | None, source_dir: Path) -> PipelineSettings:
    """``--settings``: inline JSON when it starts with ``{``, else the path of a JSON file;
    without it, the training file in the source folder. All three are checked by one parser."""
    if not text:
        return PipelineSettings.from_file(source_dir / TRAINING_FILE)
    if text.lstrip().startswith("{"):
        return PipelineSettings.from_json(text, "--settings (inline JSON)")
    path = Path(text)
    if not path.is_file():
        raise ConfigError(f"--settings: no such file {text!r} (a JSON file or inline JSON)")
    return PipelineSettings.from_file(path)
