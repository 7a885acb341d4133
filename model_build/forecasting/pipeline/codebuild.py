"""Create or update the SageMaker Pipeline and start it: what CodeBuild runs on every push.

(Before it, CodeBuild builds the project images the definition names: the ``images`` command of
:mod:`forecasting.pipeline.image_build`.)

``python -m forecasting.pipeline upsert --start`` packages the source, uploads it under its
digest, renders the definition, creates or updates the pipeline and starts an execution (the
runner is the pipeline's only writer; the stack holds no copy). ``--wait`` also prints each
step's status until the execution ends; CodeBuild does not wait, since training may outlast a
build: an EventBridge rule reports the end. Every setting also comes from an environment variable
so the CodeBuild project (which CDK defines) can supply them; flags win over the environment.

The training configuration is ``training.json`` in the source folder (``--settings`` names
another file or gives inline JSON), so a push carries it. When the input data prefix holds no
object, the pipeline is still created or updated but not started, and one line says what to
upload where: the first deploy ends green on an empty bucket instead of failing in Preprocess.

A user mistake (a missing setting, bad JSON) ends in one line and exit code 2; a failed or
stopped execution ends in one line naming the step and its reason, and exit code 1.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from forecasting.errors import ConfigError
from forecasting.pipeline.data_snapshot import is_snapshot, list_objects, snapshot
from forecasting.pipeline.execution import (
    DEFAULT_POLL_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    PipelineFailed,
    has_input_data,
    no_input_message,
    start_execution,
    upsert_pipeline,
    wait_for_execution,
)
from forecasting.pipeline.runner_options import (
    DEFAULT_SOURCE_DIR,
    OPTIONS,
    id_list,
    load_settings,
    positive_seconds,
    resolve_options,
)
from forecasting.steps.arguments import add_option, run_step

NO_INPUT = "NotStarted: no input data"


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
    from forecasting.pipeline.image_build import add_images_command

    add_images_command(commands)
    return parser.parse_args(argv)


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


def make_client(service: str, region: str) -> Any:
    """A boto3 client; boto3 is imported here because the package does not need it."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigError(
            "the pipeline runner needs boto3, which the forecasting package does not install: "
            "pip install boto3"
        ) from None
    config = Config(retries={"mode": "standard", "max_attempts": 10})
    # the service is a runtime string, which the typed Session.client overloads do not take
    session: Any = boto3.Session(region_name=region)
    return session.client(service, config=config)


def make_clients(region: str) -> tuple[Any, Any]:
    """SageMaker and S3 clients."""
    return make_client("sagemaker", region), make_client("s3", region)


def upsert_command(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    echo: Callable[[str], Any] | None = None,
) -> str | None:
    """package → render → upload → upsert → (start) → (wait); the final status if it waited."""
    echo = echo or functools.partial(print, flush=True)  # CodeBuild shows lines as they come
    from forecasting.pipeline.definition import render_definition
    from forecasting.pipeline.resources import Resources
    from forecasting.pipeline.source import package_sources, source_key, upload_source

    options = resolve_options(args, environ)
    source_dir = args.source_dir or Path(environ.get("SOURCE_DIR") or DEFAULT_SOURCE_DIR)
    settings = load_settings(options.get("settings"), source_dir)
    parameters = parse_parameters(args.parameter)
    poll_seconds = positive_seconds(
        args.poll_seconds, "poll-seconds", "PIPELINE_POLL_SECONDS", environ, DEFAULT_POLL_SECONDS
    )
    timeout_seconds = positive_seconds(
        args.timeout_seconds, "timeout-seconds", "PIPELINE_TIMEOUT_SECONDS", environ,
        DEFAULT_TIMEOUT_SECONDS,
    )  # fmt: skip
    name, bucket, kms_key_id = (
        options["pipeline_name"], options["artifacts_bucket"], options["kms_key_id"]
    )  # fmt: skip

    packages = package_sources(source_dir)
    prefix = f"{name}/source"
    for step_name, (data, digest) in packages.items():
        echo(f"packaged {step_name}'s code ({len(data)} bytes, sha256 {digest[:12]})")
    # render (and check the overrides) before touching AWS, so a mistake changes nothing
    resources = Resources(
        pipeline_name=name,
        role_arn=options["role_arn"],
        artifacts_bucket=bucket,
        code_uris={
            step_name: f"s3://{bucket}/{source_key(prefix, digest)}"
            for step_name, (_, digest) in packages.items()
        },
        kms_key_id=kms_key_id,
        region=options["region"],
        model_package_group=options["model_package_group"],
        data_uri=options["data_uri"],
        image_repository=options["image_repository"],
        subnets=id_list(options.get("subnet_ids"), "subnet-ids"),
        security_groups=id_list(options.get("security_group_ids"), "security-group-ids"),
        mlflow_tracking_uri=options.get("mlflow_tracking_uri") or None,
        approved_model_function_arn=options["approved_model_function_arn"],
    )
    if bool(resources.subnets) != bool(resources.security_groups):
        raise ConfigError("--subnet-ids and --security-group-ids go together: give both or neither")
    definition = render_definition(settings, resources)
    check_parameters(definition, parameters)

    sm, s3 = make_clients(options["region"])
    try:
        for data, digest in packages.values():
            upload_source(s3, bucket, prefix, data, digest, kms_key_id=kms_key_id)
        arn = upsert_pipeline(
            sm,
            name=name,
            definition=definition,
            role_arn=options["role_arn"],
            description="Forecasting training pipeline; code "
            + ", ".join(f"{step} {uri}" for step, uri in resources.code_uris.items()),
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
    if settings.cache_expire_after is not None and not is_snapshot(input_uri):
        # the step cache keys on the URI: the execution reads an immutable copy of the data
        parameters.update(snapshot_parameter(s3, input_uri, kms_key_id, echo))
    execution_arn = start_execution(sm, name=name, parameters=parameters)
    echo(f"started {execution_arn}")
    if not args.wait:
        return None
    status = wait_for_execution(
        sm, execution_arn, poll_seconds=poll_seconds, timeout_seconds=timeout_seconds, echo=echo
    )
    echo(f"pipeline execution {execution_arn} {status}")
    return status


def snapshot_parameter(
    s3: Any, uri: str, kms_key_id: str, echo: Callable[[str], Any]
) -> dict[str, str]:
    """``InputDataUri`` set to the data's snapshot; none where the build may not read the data
    (an override outside the data bucket's input/ prefix), which is said."""
    from botocore.exceptions import ClientError

    try:
        objects = list_objects(s3, uri)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "AccessDenied":
            raise
        echo(
            f"cannot snapshot {uri} (access denied): the execution reads it as is, and a "
            "cached Preprocess of the same URI is reused even if the data there changed"
        )
        return {}
    return {"InputDataUri": snapshot(s3, uri, objects, kms_key_id, echo)}


def _raise_if_no_credentials(err: Exception) -> None:
    from botocore.exceptions import NoCredentialsError

    if isinstance(err, NoCredentialsError):
        raise ConfigError(
            "no AWS credentials found: CodeBuild passes its role's; locally set AWS_PROFILE "
            "or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables"
        ) from None


def _main(argv: Sequence[str] | None) -> None:
    args = parse_args(argv)
    if args.command == "images":
        import subprocess

        from forecasting.pipeline.image_build import images_command

        try:
            images_command(args, os.environ)
        except subprocess.CalledProcessError as err:  # docker's own output is above it
            print(f"{err.cmd[0]} {err.cmd[1]} failed with exit code {err.returncode}",
                  file=sys.stderr)  # fmt: skip
            raise SystemExit(1) from None
        return
    try:
        upsert_command(args, os.environ)
    except (PipelineFailed, TimeoutError) as err:
        print(err, file=sys.stderr)
        raise SystemExit(1) from None


def main(argv: Sequence[str] | None = None) -> None:
    """Console script ``forecasting-pipeline``; user errors exit 2, a failed execution 1."""
    run_step(_main, argv)
