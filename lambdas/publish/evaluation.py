"""The registered ``evaluation.json`` of the model version a transform job ran.

The batch-transform Lambda names the model of version N of group G ``{G}-v{N}``
(:func:`lambdas.batch_transform.planning.resource_name`); the publish event carries that model
name and the job's ARN, which give the package version's ARN. Its
``ModelMetrics.ModelQuality.Statistics.S3Uri`` (where the pipeline's RegisterModel step puts
it, model_build/forecasting/pipeline/definition.py) is the evaluation it registered: the metrics
(with their scales) and the synthetic-data flag the report shows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from lambdas.batch_transform.planning import resource_name
from lambdas.publish.rows import PublishError
from lambdas.uris import split_s3_uri

_VERSION = re.compile(r"^.+-v(?P<version>[1-9][0-9]*)$")


def package_version(model_name: str, group: str) -> int | None:
    """N when ``model_name`` is the model the batch-transform Lambda made for version N of
    ``group``; None for any other model (a job someone started by hand)."""
    match = _VERSION.match(model_name)  # not .search: the IAM scanner reads that as an API
    if not match:
        return None
    version = int(match["version"])
    return version if resource_name(group, f"-v{version}") == model_name else None


def evaluation_uri(package: Mapping[str, Any]) -> str | None:
    """``ModelMetrics.ModelQuality.Statistics.S3Uri`` of a DescribeModelPackage answer, if any."""
    statistics = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
    uri = statistics.get("S3Uri") if isinstance(statistics, Mapping) else None
    return str(uri) if uri else None


def parse_evaluation(body: bytes, uri: str) -> dict[str, Any]:
    """The evaluation report as a JSON object; anything else names the object."""
    try:
        evaluation = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise PublishError(f"{uri}: not valid JSON ({error}); expected evaluation.json") from None
    if not isinstance(evaluation, dict):
        raise PublishError(
            f"{uri}: a JSON {type(evaluation).__name__}; expected the evaluation report object"
        )
    return evaluation


def read_evaluation(sagemaker: Any, s3: Any, arn: str) -> tuple[dict[str, Any] | None, str | None]:
    """(evaluation, its URI) of the package version; (None, None) when it registered none."""
    return registered_evaluation(s3, sagemaker.describe_model_package(ModelPackageName=arn), arn)


def registered_evaluation(
    s3: Any, package: Mapping[str, Any], arn: str
) -> tuple[dict[str, Any] | None, str | None]:
    """(evaluation, its URI) of package ``arn`` as DescribeModelPackage answered; (None, None)
    when it registered none."""
    uri = evaluation_uri(package)
    if uri is None:
        return None, None
    bucket, key = split_s3_uri(
        uri,
        f"{arn} ModelMetrics.ModelQuality.Statistics.S3Uri",
        require_key=True,
        error=PublishError,
    )
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return parse_evaluation(body, uri), uri
