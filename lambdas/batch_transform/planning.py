"""What an approved model package should run: pure decisions, no AWS calls.

:func:`plan_transform` turns a ``SageMaker Model Package State Change`` event into the exact
``create_model`` and ``create_transform_job`` requests (boto3 keyword arguments), or a
:class:`Skip`. It imports nothing beyond the standard library, so local mode and the tests run
the same decision the Lambda does, and the requests can be checked without AWS.

Names depend only on the package group, its version and the input (its URI for an approval,
its content for a scheduled run, :mod:`lambdas.batch_transform.schedule`): a repeated event for
the same version and input asks for the same job, and SageMaker's unique job names turn the
repeat into a no-op instead of a second run. Checking the events is
:mod:`lambdas.batch_transform.events`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdas.batch_transform.events import (
    APPROVED,
    ForecastRequest,
    InvalidEventError,
    PackageEvent,
    parse_container,
    parse_event,
)
from lambdas.errors import ConfigError, required_env
from lambdas.uris import split_s3_uri

DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
MAX_NAME_LENGTH = 63  # SageMaker's limit for model and transform job names
# SageMaker's pattern for model, transform job and model package group names.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
INPUT_DIGEST_LENGTH = 8

# The Batch Transform settings forecasting.inference.handler documents as TRANSFORM_SETTINGS,
# repeated here because the Lambda ships without model_build (a test keeps the two equal):
# one file is one request (a series' history must not be split), each X.csv gives X.csv.out.
TRANSFORM_SETTINGS: dict[str, Any] = {
    "ContentType": "text/csv",
    "SplitType": "None",
    "BatchStrategy": "SingleRecord",
    "MaxPayloadInMB": 100,
    "AssembleWith": "None",
    "Accept": "text/csv",
    # one model-server worker, which uses every core (the sagemaker-inference toolkit reads it)
    "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"},
}
# A request that times out or fails must fail the job, never be retried into a partial result.
MODEL_CLIENT_CONFIG = {"InvocationsTimeoutInSeconds": 3600, "InvocationsMaxRetries": 0}
# How the SageMaker PyTorch container finds the entry point the artifact carries in code/.
CONTAINER_ENVIRONMENT = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
}
# Instance families with local NVMe storage besides those with a "d" in the family (c5d, g4dn,
# p4d, ...): SageMaker refuses a volume KMS key on them and encrypts that storage in hardware
# (botocore's documentation of TransformResources.VolumeKmsKeyId). sagemaker-core's
# instance_supports_kms holds the same rule; a test compares the two over every transform type.
LOCAL_STORAGE_FAMILIES = ("g5", "g6", "g7e", "p5", "p6-b200", "trn1", "trn2")
MODEL_NAME_ENV = "FORECAST_MODEL_NAME"
MODEL_VERSION_ENV = "FORECAST_MODEL_VERSION"


@dataclass(frozen=True)
class Settings:
    model_package_group: str
    role_arn: str
    input_uri: str
    forecasts_bucket: str
    kms_key_id: str
    region: str
    instance_type: str = DEFAULT_INSTANCE_TYPE
    project: str = ""  # tag value; empty means the group name
    # Private networking (SUBNET_IDS, SECURITY_GROUP_IDS: comma-separated; both or neither)
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()

    @property
    def project_tag(self) -> str:
        return self.project or self.model_package_group

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        group = required_env(environ, "MODEL_PACKAGE_GROUP", "the model package group to watch")
        if not NAME_PATTERN.match(group):
            raise ConfigError(
                f"environment variable MODEL_PACKAGE_GROUP is {group!r}; expected a SageMaker "
                "name (letters, digits and single hyphens, at most 63 characters)"
            )
        role = required_env(environ, "SAGEMAKER_ROLE_ARN", "the role the model and job run as")
        if not (role.startswith("arn:") and ":role/" in role):
            raise ConfigError(
                f"environment variable SAGEMAKER_ROLE_ARN is {role!r}; expected an IAM role ARN"
            )
        input_uri = required_env(environ, "INPUT_URI", "the s3:// prefix of the histories")
        split_s3_uri(input_uri, "environment variable INPUT_URI", error=ConfigError)
        forecasts_bucket = required_env(environ, "FORECASTS_BUCKET", "the transform output bucket")
        if "/" in forecasts_bucket or ":" in forecasts_bucket:
            raise ConfigError(
                f"environment variable FORECASTS_BUCKET is {forecasts_bucket!r}; expected a "
                "bucket name, not a URI"
            )
        # Lambda sets AWS_REGION; AWS_DEFAULT_REGION serves local runs.
        region = environ.get("AWS_REGION", "").strip() or environ.get("AWS_DEFAULT_REGION", "")
        if not region.strip():
            raise ConfigError(
                "environment variable AWS_REGION is not set; expected the region the model runs in"
            )
        return cls(
            model_package_group=group,
            role_arn=role,
            input_uri=input_uri,
            forecasts_bucket=forecasts_bucket,
            kms_key_id=required_env(environ, "KMS_KEY_ID", "the KMS key for output and volumes"),
            region=region.strip(),
            instance_type=environ.get("TRANSFORM_INSTANCE_TYPE", "").strip()
            or DEFAULT_INSTANCE_TYPE,
            project=environ.get("PROJECT", "").strip(),
            **_vpc_from_env(environ),
        )


def _vpc_from_env(environ: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    subnets, groups = (
        tuple(i.strip() for i in environ.get(name, "").split(",") if i.strip())
        for name in ("SUBNET_IDS", "SECURITY_GROUP_IDS")
    )
    if bool(subnets) != bool(groups):
        raise ConfigError(
            "environment variables SUBNET_IDS and SECURITY_GROUP_IDS go together: set both or "
            f"neither (got {environ.get('SUBNET_IDS')!r} and {environ.get('SECURITY_GROUP_IDS')!r})"
        )
    return {"subnets": subnets, "security_groups": groups}


@dataclass(frozen=True)
class TransformPlan:
    """The requests that forecast with one approved package version (boto3 kwargs)."""

    model_name: str
    job_name: str
    create_model: dict[str, Any]
    create_transform_job: dict[str, Any]

    @property
    def output_path(self) -> str:
        return str(self.create_transform_job["TransformOutput"]["S3OutputPath"])


@dataclass(frozen=True)
class Skip:
    """The event is valid but asks for nothing (not approved, or another group)."""

    reason: str


def plan_transform(event: Any, settings: Settings) -> TransformPlan | Skip:
    """Decide what an approval event should run; raise :class:`InvalidEventError` if malformed.

    The container fields are checked only for packages this Lambda acts on, so an event from
    another group or a package that is not approved is skipped whatever else it carries.
    """
    package = parse_event(event)
    if package.group != settings.model_package_group:
        return Skip(
            f"model package group {package.group!r} is not {settings.model_package_group!r}"
        )
    if package.approval_status != APPROVED:
        return Skip(f"{package.arn} is {package.approval_status}, not {APPROVED}")
    image, model_data_url = parse_container(event["detail"])
    return plan_version(package, image, model_data_url, settings)


def request_skip(request: ForecastRequest, settings: Settings) -> Skip | None:
    """A request for another project's group is not this Lambda's (one bus, many stacks)."""
    if request.group != settings.model_package_group:
        return Skip(
            f"model package group {request.group!r} is not {settings.model_package_group!r}"
        )
    return None


def plan_request(
    request: ForecastRequest, package: Mapping[str, Any], settings: Settings
) -> TransformPlan:
    """The plan for a re-forecast, from ``DescribeModelPackage``'s answer for the version.

    Only approved versions forecast: a request for another is refused loudly, since a person
    asked for it."""
    status = package.get("ModelApprovalStatus")
    if status != APPROVED:
        raise InvalidEventError(
            f"{request.group} version {request.version} is {status}; only {APPROVED} versions "
            "forecast (approve it in the model registry first)"
        )
    image, model_data_url = parse_container(package)
    event = PackageEvent(
        group=request.group,
        version=request.version,
        arn=str(package.get("ModelPackageArn", "")),
        approval_status=status,
    )
    return plan_version(event, image, model_data_url, settings, run_id=request.run_id)


def plan_version(
    package: PackageEvent,
    image: str,
    model_data_url: str,
    settings: Settings,
    run_id: str | None = None,
    input_content: str | None = None,
) -> TransformPlan:
    """The model and job of one approved version over the input.

    The job is named after the input: its URI's digest, or ``c`` + ``input_content`` (a digest
    of what the input holds) for a scheduled run, so each content is forecast once per version.
    """
    model_name = resource_name(package.group, f"-v{package.version}")
    input_part = input_digest(settings) if input_content is None else f"c{input_content}"
    suffix = f"-v{package.version}-{input_part}"
    if run_id is not None:
        suffix += f"-r{_digest(run_id)}"
    job_name = resource_name(package.group, suffix)
    tags = [{"Key": "project", "Value": settings.project_tag}]
    create_model = {
        "ModelName": model_name,
        "ExecutionRoleArn": settings.role_arn,
        "PrimaryContainer": {
            "Image": image,
            "ModelDataUrl": model_data_url,
            "Environment": {
                **CONTAINER_ENVIRONMENT,
                "SAGEMAKER_REGION": settings.region,
                MODEL_NAME_ENV: package.group,
                MODEL_VERSION_ENV: str(package.version),
            },
        },
        # The image holds every package and SageMaker copies the model and the records: the
        # container needs no network (an artifact with code/requirements.txt would need it).
        "EnableNetworkIsolation": True,
        **(
            {
                "VpcConfig": {
                    "Subnets": list(settings.subnets),
                    "SecurityGroupIds": list(settings.security_groups),
                }
            }
            if settings.subnets
            else {}
        ),
        "Tags": tags,
    }
    create_transform_job = {
        "TransformJobName": job_name,
        "ModelName": model_name,
        "BatchStrategy": TRANSFORM_SETTINGS["BatchStrategy"],
        "MaxPayloadInMB": TRANSFORM_SETTINGS["MaxPayloadInMB"],
        "Environment": dict(TRANSFORM_SETTINGS["Environment"]),
        "ModelClientConfig": dict(MODEL_CLIENT_CONFIG),
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": settings.input_uri}},
            "ContentType": TRANSFORM_SETTINGS["ContentType"],
            "SplitType": TRANSFORM_SETTINGS["SplitType"],
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{settings.forecasts_bucket}/transform/{job_name}/",
            "Accept": TRANSFORM_SETTINGS["Accept"],
            "AssembleWith": TRANSFORM_SETTINGS["AssembleWith"],
            "KmsKeyId": settings.kms_key_id,
        },
        "TransformResources": {
            "InstanceType": settings.instance_type,
            "InstanceCount": 1,
            **(
                {"VolumeKmsKeyId": settings.kms_key_id}
                if accepts_volume_key(settings.instance_type)
                else {}
            ),
        },
        "Tags": [dict(tag) for tag in tags],
    }
    return TransformPlan(model_name, job_name, create_model, create_transform_job)


def accepts_volume_key(instance_type: str) -> bool:
    """Whether SageMaker accepts a volume KMS key on ``ml.<family>.<size>``."""
    family = instance_type.removeprefix("ml.").split(".")[0]
    return "d" not in family and not family.startswith(LOCAL_STORAGE_FAMILIES)


def resource_name(group: str, suffix: str) -> str:
    """``group + suffix`` within SageMaker's 63 characters, shortening the group, not the suffix.

    The suffix carries the version (and input digest) that make the name unique, so it is the
    group part that gives way.
    """
    room = MAX_NAME_LENGTH - len(suffix)
    return group[:room].rstrip("-") + suffix


def input_digest(settings: Settings) -> str:
    """The input URI's SHA-256, shortened: a new input gets a new job, a repeat does not."""
    return _digest(settings.input_uri)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:INPUT_DIGEST_LENGTH]
