"""What the deployment supplies to the definition, and the job settings that follow from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from forecasting.errors import ConfigError
from forecasting.pipeline.expressions import get, join
from forecasting.pipeline.images import Images, supports_volume_key


@dataclass(frozen=True)
class Resources:
    """What the deployment supplies (the stack's resources, passed to CodeBuild)."""

    pipeline_name: str
    role_arn: str
    artifacts_bucket: str
    # each step's code, s3://…/<digest>/sourcedir.tar.gz by step name (forecasting.pipeline.source)
    code_uris: Mapping[str, str]
    kms_key_id: str
    region: str
    model_package_group: str
    data_uri: str  # the default input data
    images: Images | None = None  # local mode's; else the project images in image_repository
    image_repository: str = ""  # the stack's ECR repository URI (account.dkr.ecr.region/name)
    subnets: tuple[str, ...] = ()  # with security_groups: every job runs in this VPC
    security_groups: tuple[str, ...] = ()
    # MLflow: a tracking server's ARN or URI; None records no runs (forecasting.tracking)
    mlflow_tracking_uri: str | None = None
    # the FindApprovedModel step's Lambda (lambdas/approved_model); the definition needs it
    approved_model_function_arn: str = ""

    def code_uri(self, step: str) -> str:
        try:
            return self.code_uris[step]
        except KeyError:
            raise ConfigError(f"no code packaged for the {step} step") from None


def vpc_config(resources: Resources) -> dict[str, Any]:
    """``VpcConfig`` for a job, when the deployment names subnets (the settings require both)."""
    if not resources.subnets:
        return {}
    return {
        "VpcConfig": {
            "Subnets": list(resources.subnets),
            "SecurityGroupIds": list(resources.security_groups),
        }
    }


def volume_key(instance_type: str, kms_key_id: str) -> dict[str, str]:
    """``VolumeKmsKeyId`` where SageMaker accepts one: instance types with local NVMe storage
    refuse it (botocore's documentation of the field) and encrypt that storage in hardware."""
    return {"VolumeKmsKeyId": kms_key_id} if supports_volume_key(instance_type) else {}


def execution_uri(resources: Resources, *parts: str) -> dict[str, Any]:
    """s3://bucket/pipeline/<execution id>/<parts>: each execution keeps its own outputs."""
    return join(
        f"s3://{resources.artifacts_bucket}/{resources.pipeline_name}/",
        get("Execution.PipelineExecutionId"),
        "/" + "/".join(parts),
    )
