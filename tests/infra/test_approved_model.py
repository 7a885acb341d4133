"""The FindApprovedModel Lambda's role: what the function does (tests/lambdas/test_approved_model)
on exactly the resources it does it on."""

from __future__ import annotations

from aws_cdk import Stack

from tests.infra.aws_calls import allow_statements, allows
from tests.infra.synthesized import SynthesizedApp


def _id(construct) -> str:
    return str(Stack.of(construct).resolve(construct.node.default_child.logical_id))


def test_the_function_may_write_only_the_marker_and_read_only_its_group(any_app: SynthesizedApp):
    stack = any_app.stack
    function = stack.pipeline.approved_model_function
    statements = allow_statements(any_app.template.to_json(), _id(function.role))
    bucket = f"<{_id(stack.storage.model_artifacts_bucket)}.Arn>"
    project = stack.settings.project_name
    marker = f"{bucket}/{project}/no-approved-model/NO_APPROVED_MODEL.json"
    assert allows(statements, "s3:PutObject", marker)
    assert not allows(statements, "s3:PutObject", f"{bucket}/{project}/exec/train/model.tar.gz")
    assert not allows(statements, "s3:GetObject", marker)
    # the bucket is encrypted with the project key: a put needs a data key from it
    assert allows(statements, "kms:GenerateDataKey", f"<{_id(stack.storage.key)}.Arn>")
    sagemaker = "arn:aws:sagemaker:eu-west-1:123456789012:model-package"
    assert allows(statements, "sagemaker:DescribeModelPackage", f"{sagemaker}/{project}/3")
    assert not allows(statements, "sagemaker:DescribeModelPackage", f"{sagemaker}/other/3")
    assert not any("UpdateModelPackage" in str(s["Action"]) for s in statements)
