"""The pipeline's Lambda steps in local mode: the function's logic on the local registry."""

from __future__ import annotations

import json
from pathlib import Path

from local_mode import lambda_steps
from local_mode.layout import Home
from local_mode.registry import APPROVED, REJECTED, Registry
from tests.local_mode.test_registry import GROUP, register


def _event(home: Home) -> dict[str, str]:
    return {"ModelPackageGroupName": GROUP,
            "NoApprovedModelUri": f"s3://{home.artifacts_bucket}/p/no-approved-model/"}  # fmt: skip


def _spec(url: str) -> dict:
    return {"Containers": [{"Image": "local", "ModelDataUrl": url}]}


def test_the_latest_approved_version_is_found_in_the_local_registry(tmp_path: Path):
    home = Home(tmp_path)
    registry = Registry(home.registry)
    artifact = tmp_path / "model.tar.gz"
    artifact.write_bytes(b"archive")
    for version in (1, 2, 3):
        register(
            registry,
            artifact,
            inference_specification=_spec(f"s3://a/{version}/model.tar.gz"),
            customer_metadata={"model_family": "informer"},  # as the Register step puts it
        )
    registry.set_status(GROUP, 1, APPROVED)
    registry.set_status(GROUP, 2, APPROVED)
    registry.set_status(GROUP, 3, REJECTED)
    arn = lambda_steps.function_arn(home.project, lambda_steps.FIND_APPROVED_MODEL_FUNCTION)
    outputs = lambda_steps.invoke(home, arn, _event(home))
    assert outputs == {"ModelDataUrl": "s3://a/2/model.tar.gz", "ModelPackageVersion": "2",
                       "ModelPackageArn": registry.get(GROUP, 2).arn,
                       "ModelFamily": "informer"}  # fmt: skip


def test_none_approved_writes_the_marker_into_the_local_bucket(tmp_path: Path):
    home = Home(tmp_path)
    arn = lambda_steps.function_arn(home.project, lambda_steps.FIND_APPROVED_MODEL_FUNCTION)
    outputs = lambda_steps.invoke(home, arn, _event(home))
    assert outputs is not None and outputs["ModelPackageVersion"] == "none"
    marker = home.local_path(outputs["ModelDataUrl"]) / "NO_APPROVED_MODEL.json"
    assert "is approved yet" in json.loads(marker.read_text())["reason"]


def test_a_function_local_mode_does_not_have_is_none(tmp_path: Path):
    home = Home(tmp_path)
    assert lambda_steps.invoke(home, "arn:aws:lambda:eu-west-1:1:function:other", {}) is None
