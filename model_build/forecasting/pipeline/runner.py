"""Create or update the SageMaker Pipeline and start it: what CodeBuild runs on every push.

``python -m forecasting.pipeline upsert --start`` packages the source, uploads it under its
digest, renders the definition, creates or updates the pipeline and starts an execution (the
runner is the pipeline's only writer; the stack holds no copy). ``--wait`` also prints each
step's status until the execution ends; CodeBuild does not wait, since training may outlast a
build: an EventBridge rule reports the end. Every setting also comes from an environment variable
so the CodeBuild project (which CDK defines) can supply them; flags win over the environment.

The training configuration is ``training.json`` in the source folder (``--settings`` names
another), so a push carries it. When the input data prefix holds no object, the pipeline is
still created or updated but not started, and one line says what to upload where: the first
deploy ends green on an empty bucket instead of failing in Preprocess.

A user mistake (a missing setting, bad JSON) ends in one line and exit code 2; a failed or
stopped execution ends in one line naming the step and its reason, and exit code 1.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecasting.errors import ConfigError
from forecasting.steps.arguments import add_option, run_step

log = logging.getLogger("forecasting.pipeline")

SUCCEEDED = "Succeeded"
# CompletedWithFailures: an execution that went on past a failed step, which is still a failure
FAILED = frozenset({"Failed", "Stopped", "CompletedWithFailures"})
NO_INPUT = "NotStarted: no input data"
NOT_FOUND = "ResourceNotFound"  # DescribePipeline's only modelled error
PROJECT_TAG = "project"
DEFAULT_POLL_SECONDS = 30.0
DEFAULT_TIMEOUT_SECONDS = 8 * 3600.0
# model_build/, the folder holding this package (an editable install, as in CodeBuild)
DEFAULT_SOURCE_DIR = Path(__file__).resolve().parents[2]


class PipelineFailed(Exception):
    """An execution ended Failed, Stopped or CompletedWithFailures."""

    def __init__(self, execution_arn: str, status: str, step: str | None, reason: str) -> None:
        self.execution_arn = execution_arn
        self.status = status
        self.step = step
        self.reason = reason
        outcome = "was stopped" if status == "Stopped" else "failed"
        where = f" at step {step}" if step else ""
        super().__init__(f"pipeline execution {execution_arn} {outcome}{where}: {reason}")


# --- AWS calls ----------------------------------------------------------------------------


def _error_code(err: Exception) -> str | None:
    response = getattr(err, "response", None) or {}
    return response.get("Error", {}).get("Code")


def upsert_pipeline(
    sm: Any,
    *,
    name: str,
    definition: str,
    role_arn: str,
    description: str,
    project: str | None = None,
) -> str:
    """Update the pipeline, or create it when it does not exist; returns its ARN.

    The runner creates the pipeline outside CloudFormation (the definition needs the uploaded
    source), so it tags it here as the stack tags its own resources (``project``).
    """
    from botocore.exceptions import ClientError

    try:
        sm.describe_pipeline(PipelineName=name)
    except ClientError as err:
        if _error_code(err) != NOT_FOUND:
            raise
        response = sm.create_pipeline(
            PipelineName=name,
            PipelineDefinition=definition,
            PipelineDescription=description,
            RoleArn=role_arn,
            Tags=[{"Key": PROJECT_TAG, "Value": project or name}],
        )
        log.info("created pipeline %s", response["PipelineArn"])
        return response["PipelineArn"]
    response = sm.update_pipeline(
        PipelineName=name,
        PipelineDefinition=definition,
        PipelineDescription=description,
        RoleArn=role_arn,
    )
    log.info("updated pipeline %s", response["PipelineArn"])
    return response["PipelineArn"]


def start_execution(
    sm: Any, *, name: str, parameters: Mapping[str, str], display_name: str | None = None
) -> str:
    """Start an execution with parameter overrides (the rest keep their defaults); its ARN."""
    request: dict[str, Any] = {
        "PipelineName": name,
        "PipelineParameters": [{"Name": k, "Value": str(v)} for k, v in parameters.items()],
    }
    if display_name:
        request["PipelineExecutionDisplayName"] = display_name
    arn = sm.start_pipeline_execution(**request)["PipelineExecutionArn"]
    log.info("started execution %s", arn)
    return arn


def has_input_data(s3: Any, uri: str) -> bool:
    """Whether any object lies under the ``s3://bucket/prefix`` the pipeline reads."""
    from botocore.exceptions import ClientError

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    try:
        response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except ClientError as err:
        if _error_code(err) != "AccessDenied":
            raise
        # an override outside the data bucket's input/ prefix: the execution will tell
        log.warning("cannot list %s to check for data; starting anyway", uri)
        return True
    return response.get("KeyCount", 0) > 0


def no_input_message(uri: str, pipeline_name: str) -> str:
    return (
        f"no input data under {uri}: pipeline {pipeline_name} is ready but was not started. "
        f"Upload your CSV files (aws s3 cp data.csv {uri}), then start it with "
        f"aws sagemaker start-pipeline-execution --pipeline-name {pipeline_name} "
        "or push to the model-build repository."
    )


def list_execution_steps(sm: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every step of the execution, oldest first, across all pages."""
    steps: list[dict[str, Any]] = []
    request: dict[str, Any] = {"PipelineExecutionArn": execution_arn, "SortOrder": "Ascending"}
    while True:
        page = sm.list_pipeline_execution_steps(**request)
        steps.extend(page.get("PipelineExecutionSteps", []))
        token = page.get("NextToken")
        if not token:
            return steps
        request["NextToken"] = token


def _job_arn(step: Mapping[str, Any]) -> str | None:
    """The ARN of the job a step ran (training, processing, ...), where its logs are."""
    for value in step.get("Metadata", {}).values():
        if isinstance(value, dict) and "Arn" in value:
            return value["Arn"]
    return None


def _failure(
    arn: str, execution: Mapping[str, Any], steps: Sequence[Mapping[str, Any]]
) -> PipelineFailed:
    """The first failed (or, for a stopped execution, stopped) step and why."""
    status = execution["PipelineExecutionStatus"]
    wanted = ("Stopped", "Stopping") if status == "Stopped" else ("Failed",)
    culprit = next((s for s in steps if s.get("StepStatus") in wanted), None)
    if culprit is None:
        reason = execution.get("FailureReason") or f"execution status {status}"
        return PipelineFailed(arn, status, None, reason)
    # a job step explains itself in FailureReason, a Fail step in its metadata
    reason = (
        culprit.get("FailureReason")
        or culprit.get("Metadata", {}).get("Fail", {}).get("ErrorMessage")
        or execution.get("FailureReason")
        or f"step status {culprit['StepStatus']}"
    )
    job_arn = _job_arn(culprit)
    if job_arn:
        reason = f"{reason} ({job_arn})"
    return PipelineFailed(arn, status, culprit["StepName"], reason)


def wait_for_execution(
    sm: Any,
    arn: str,
    *,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    echo: Callable[[str], Any] = print,
    sleep: Callable[[float], Any] = time.sleep,
) -> str:
    """Poll until the execution ends, echoing each step's status once per change.

    Returns the final status (``Succeeded``); raises :class:`PipelineFailed` for a failed or
    stopped execution and ``TimeoutError`` when it still runs after ``timeout_seconds`` of
    polling (it keeps running: stopping it is a decision for a person).
    """
    reported: dict[str, str] = {}
    waited = 0.0
    while True:
        # describe first, then list: once the execution has ended, the steps listed are final
        execution = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        status = execution["PipelineExecutionStatus"]
        steps = list_execution_steps(sm, arn)
        for step in steps:
            name, step_status = step["StepName"], step["StepStatus"]
            if reported.get(name) != step_status:
                reported[name] = step_status
                echo(f"{name}: {step_status}")
        if status == SUCCEEDED:
            return status
        if status in FAILED:
            raise _failure(arn, execution, steps)
        if waited >= timeout_seconds:
            raise TimeoutError(
                f"pipeline execution {arn} is still {status} after {waited:.0f} s; it keeps "
                "running (stop it with aws sagemaker stop-pipeline-execution)"
            )
        sleep(poll_seconds)
        waited += poll_seconds


# --- command line -------------------------------------------------------------------------


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
        "settings",
        ("PIPELINE_SETTINGS",),
        "pipeline settings as a JSON file or inline JSON; default: training.json in the "
        "source folder",
        required=False,
    ),
    EnvOption(
        "project-name",
        ("PROJECT_NAME",),
        "value of the pipeline's project tag; default: the pipeline name",
        required=False,
    ),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m forecasting.pipeline",
        description=__doc__.splitlines()[0],
        epilog="Flags win over environment variables; CodeBuild's come from its CDK project.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    upsert = commands.add_parser(
        "upsert",
        help="package and upload the source, then create or update the pipeline",
        description="Package and upload the source, render the definition, create or update "
        "the pipeline; optionally start an execution and wait for it.",
    )
    upsert.add_argument("--start", action="store_true", help="start an execution")
    upsert.add_argument(
        "--wait", action="store_true", help="wait for the execution to end (implies --start)"
    )
    upsert.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a pipeline parameter for this execution (repeatable)",
    )
    for option in OPTIONS:
        add_option(upsert, option.flag, help=f"{option.help} (env {' or '.join(option.env)})")
    add_option(
        upsert,
        "source-dir",
        type=Path,
        default=None,
        help=f"folder holding the forecasting package (env SOURCE_DIR; default "
        f"{DEFAULT_SOURCE_DIR})",
    )
    add_option(
        upsert,
        "poll-seconds",
        type=float,
        default=None,
        help=f"seconds between status checks (env PIPELINE_POLL_SECONDS; default "
        f"{DEFAULT_POLL_SECONDS:.0f})",
    )
    add_option(
        upsert,
        "timeout-seconds",
        type=float,
        default=None,
        help=f"give up waiting after this long; the execution keeps running "
        f"(env PIPELINE_TIMEOUT_SECONDS; default {DEFAULT_TIMEOUT_SECONDS:.0f})",
    )
    return parser.parse_args(argv)


def resolve_options(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    """Each option from its flag, else its environment variable; names every missing one."""
    values: dict[str, str] = {}
    missing: list[str] = []
    for option in OPTIONS:
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


def _seconds(
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


def load_settings(text: str | None) -> dict[str, Any]:
    """``--settings``: inline JSON when it starts with ``{``, else the path of a JSON file."""
    if not text:
        return {}
    source = "--settings (inline JSON)"
    if not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"--settings: no such file {text!r} (a JSON file or inline JSON)")
        source, text = f"--settings file {path}", path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{source} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a JSON object, got {type(data).__name__}")
    return data


def parse_parameters(pairs: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` pairs; the value may itself hold ``=``."""
    parameters: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"--parameter expects NAME=VALUE, got {pair!r}")
        if name in parameters:
            raise ConfigError(f"--parameter {name} given twice")
        parameters[name] = value
    return parameters


def check_parameters(definition: str, parameters: Mapping[str, str]) -> None:
    """Refuse overrides the definition does not declare, before anything is created."""
    declared = [p["Name"] for p in json.loads(definition).get("Parameters", [])]
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ConfigError(f"--parameter: unknown {unknown}; the pipeline declares {declared}")


def make_clients(region: str) -> tuple[Any, Any]:
    """SageMaker and S3 clients; boto3 is imported here because the package does not need it."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigError(
            "the pipeline runner needs boto3, which the forecasting package does not install: "
            "pip install boto3"
        ) from None
    config = Config(retries={"mode": "standard", "max_attempts": 10})
    session = boto3.Session(region_name=region)
    return session.client("sagemaker", config=config), session.client("s3", config=config)


def upsert_command(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    echo: Callable[[str], Any] | None = None,
) -> str | None:
    """package → render → upload → upsert → (start) → (wait); the final status if it waited."""
    echo = echo or functools.partial(print, flush=True)  # CodeBuild shows lines as they come
    from forecasting.pipeline.definition import Resources, render_definition
    from forecasting.pipeline.settings import TRAINING_FILE, PipelineSettings
    from forecasting.pipeline.source import package_source, source_key, upload_source

    options = resolve_options(args, environ)
    source_dir = args.source_dir or Path(environ.get("SOURCE_DIR") or DEFAULT_SOURCE_DIR)
    settings = (
        PipelineSettings.from_dict(load_settings(options["settings"]))
        if options.get("settings")
        else PipelineSettings.from_file(source_dir / TRAINING_FILE)
    )
    parameters = parse_parameters(args.parameter)
    poll_seconds = _seconds(
        args.poll_seconds, "poll-seconds", "PIPELINE_POLL_SECONDS", environ, DEFAULT_POLL_SECONDS
    )
    timeout_seconds = _seconds(
        args.timeout_seconds, "timeout-seconds", "PIPELINE_TIMEOUT_SECONDS", environ,
        DEFAULT_TIMEOUT_SECONDS,
    )  # fmt: skip
    name, bucket, kms_key_id = (
        options["pipeline_name"], options["artifacts_bucket"], options["kms_key_id"]
    )  # fmt: skip

    data, digest = package_source(source_dir)
    prefix = f"{name}/source"
    echo(f"packaged {source_dir} ({len(data)} bytes, sha256 {digest[:12]})")
    # render (and check the overrides) before touching AWS, so a mistake changes nothing
    resources = Resources(
        pipeline_name=name,
        role_arn=options["role_arn"],
        artifacts_bucket=bucket,
        code_uri=f"s3://{bucket}/{source_key(prefix, digest)}",
        kms_key_id=kms_key_id,
        region=options["region"],
        model_package_group=options["model_package_group"],
        data_uri=options["data_uri"],
    )
    definition = render_definition(settings, resources)
    check_parameters(definition, parameters)

    sm, s3 = make_clients(options["region"])
    try:
        code_uri = upload_source(s3, bucket, prefix, data, digest, kms_key_id=kms_key_id)
        arn = upsert_pipeline(
            sm,
            name=name,
            definition=definition,
            role_arn=options["role_arn"],
            description=f"Forecasting training pipeline; source {code_uri}",
            project=options.get("project_name"),
        )
    except Exception as err:
        _raise_if_no_credentials(err)
        raise
    echo(f"pipeline {arn}")
    if not (args.start or args.wait):
        return None
    input_uri = parameters.get("InputDataUri", options["data_uri"])
    if not has_input_data(s3, input_uri):
        echo(no_input_message(input_uri, name))
        return NO_INPUT
    execution_arn = start_execution(sm, name=name, parameters=parameters)
    echo(f"started {execution_arn}")
    if not args.wait:
        return None
    status = wait_for_execution(
        sm, execution_arn, poll_seconds=poll_seconds, timeout_seconds=timeout_seconds, echo=echo
    )
    echo(f"pipeline execution {execution_arn} {status}")
    return status


def _raise_if_no_credentials(err: Exception) -> None:
    from botocore.exceptions import NoCredentialsError

    if isinstance(err, NoCredentialsError):
        raise ConfigError(
            "no AWS credentials found: CodeBuild passes its role's; locally set AWS_PROFILE "
            "or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables"
        ) from None


def _main(argv: Sequence[str] | None) -> None:
    args = parse_args(argv)
    try:
        upsert_command(args, os.environ)
    except (PipelineFailed, TimeoutError) as err:
        print(err, file=sys.stderr)
        raise SystemExit(1) from None


def main(argv: Sequence[str] | None = None) -> None:
    """Console script ``forecasting-pipeline``; user errors exit 2, a failed execution 1."""
    run_step(_main, argv)
