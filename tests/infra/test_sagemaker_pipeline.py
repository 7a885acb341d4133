"""The SageMaker Pipeline's execution role, registry and execution-status events."""

from __future__ import annotations

import json
from typing import Any

from moto.events.models import EventPattern

from forecasting.pipeline import images
from infra.sagemaker_pipeline import EXECUTION_END_STATUSES, PIPELINE_EXECUTION_STATUS_CHANGE
from tests.infra.synthesized import SynthesizedApp


def _one(app: SynthesizedApp, resource_type: str) -> tuple[str, dict[str, Any]]:
    (found,) = app.template.find_resources(resource_type).items()
    return found


def _logical_id(app: SynthesizedApp, construct: Any) -> str:
    return str(app.stack.resolve(construct.node.default_child.logical_id))


def _statements(app: SynthesizedApp, role: Any) -> list[dict[str, Any]]:
    role_id = _logical_id(app, role)
    return [
        statement
        for policy in app.template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


def test_the_model_package_group_is_named_after_the_project(default_app):
    _, group = _one(default_app, "AWS::SageMaker::ModelPackageGroup")
    assert group["Properties"]["ModelPackageGroupName"] == "ts-forecasting"
    assert default_app.template_json["Outputs"]["PipelineName"]["Value"] == "ts-forecasting"


def test_the_execution_role_passes_only_itself_and_has_no_service_wildcards(default_app):
    role = default_app.stack.pipeline.role
    statements = _statements(default_app, role)
    actions = [a for s in statements for a in _actions(s)]
    assert not any(a.endswith(":*") or a == "*" for a in actions)
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": [_logical_id(default_app, role), "Arn"]}
    star = [s for s in statements if s["Resource"] == "*"]
    assert {a for s in star for a in _actions(s)} == {
        "ecr:GetAuthorizationToken",
        "cloudwatch:PutMetricData",
    }


def test_the_execution_role_writes_without_delete_legal_hold_or_retention(default_app):
    """It reads its data and outputs and writes new objects under its own prefix; it never
    deletes, nor sets object locks (issue 18, item 9)."""
    statements = _statements(default_app, default_app.stack.pipeline.role)
    actions = {a for s in statements for a in _actions(s)}
    for forbidden in ("s3:Delete", "s3:PutObjectLegalHold", "s3:PutObjectRetention"):
        assert not any(a.startswith(forbidden) for a in actions), forbidden
    writes = [s for s in statements if "s3:PutObject" in _actions(s)]
    assert [s["Sid"] for s in writes] == ["WriteOutputs"]
    assert "/ts-forecasting/*" in json.dumps(writes[0]["Resource"])
    # no read on the CDK asset bucket: the runner uploads the code to the artifact bucket
    assert "cdk-hnb659fds-assets" not in json.dumps(statements)


def test_ecr_pulls_name_the_partition_and_the_image_account_of_the_region(any_app):
    """Not arn:aws:ecr:*:*: the stack's partition and region, and the account the SDK's
    table gives for the pinned images in that region (one mapping for the whole stack)."""
    for role in (any_app.stack.pipeline.role, any_app.stack.batch_inference.transform_role):
        (pull,) = [
            s for s in _statements(any_app, role) if s.get("Sid") == "PullDeepLearningContainers"
        ]
        resolved = json.dumps(pull["Resource"])
        assert "arn:aws:" not in resolved and '"*"' not in resolved
        assert '"Ref": "AWS::Partition"' in resolved
        assert (
            '{"Fn::FindInMap": ["DeepLearningContainerRegistries", {"Ref": "AWS::Region"}, '
            '"account"]}' in resolved
        )
    mapping = any_app.template_json["Mappings"]["DeepLearningContainerRegistries"]
    assert {region: row["account"] for region, row in mapping.items()} == images.registries()


def test_the_pipeline_role_may_create_grants_for_aws_resources_only(default_app):
    """Jobs created with a KMS key need kms:CreateGrant on the caller's role, for AWS resources
    (SageMaker API permissions reference; KMS condition key kms:GrantIsForAWSResource)."""
    statements = _statements(default_app, default_app.stack.pipeline.role)
    (grant,) = [s for s in statements if "kms:CreateGrant" in _actions(s)]
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert grant["Resource"] == {
        "Fn::GetAtt": [_logical_id(default_app, default_app.stack.storage.key), "Arn"]
    }


def _execution_event(status: str, pipeline: str = "ts-forecasting") -> dict[str, Any]:
    """The documented shape of SageMaker's pipeline execution status event."""
    arn = f"arn:aws:sagemaker:eu-west-1:123456789012:pipeline/{pipeline}"
    return {
        "source": "aws.sagemaker",
        "detail-type": PIPELINE_EXECUTION_STATUS_CHANGE,
        "account": "123456789012",
        "region": "eu-west-1",
        "detail": {
            "pipelineArn": arn,
            "pipelineExecutionArn": f"{arn}/execution/abc123",
            "currentPipelineExecutionStatus": status,
            "previousPipelineExecutionStatus": "Executing",
        },
    }


def _in_aws(node: Any) -> Any:
    """The template's values as CloudFormation resolves them in partition aws."""
    if isinstance(node, dict):
        if set(node) == {"Fn::Join"}:
            separator, parts = node["Fn::Join"]
            return separator.join(_in_aws(part) for part in parts)
        if node == {"Ref": "AWS::Partition"}:
            return "aws"
        return {key: _in_aws(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_in_aws(item) for item in node]
    return node


def test_the_end_of_every_execution_reaches_the_topic(bound_app):
    """CodeBuild starts the execution and does not wait (training may outlast a build): the
    execution's end is sent to the SNS topic, whatever it is, and nothing else is."""
    stack = bound_app.stack
    rule = bound_app.template_json["Resources"][_logical_id(bound_app, stack.execution_ended_rule)]
    pattern = EventPattern.load(json.dumps(_in_aws(rule["Properties"]["EventPattern"])))
    for status in EXECUTION_END_STATUSES:
        assert pattern.matches_event(_execution_event(status)), status
    assert not pattern.matches_event(_execution_event("Executing"))
    assert not pattern.matches_event(_execution_event("Failed", pipeline="other-project"))
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": _logical_id(bound_app, stack.batch_inference.topic)}
    assert "pipelineExecutionArn" in json.dumps(target["InputTransformer"])
    # EventBridge may publish for this rule only, and encrypt with the topic's key in this account
    (policy,) = bound_app.template.find_resources("AWS::SNS::TopicPolicy").values()
    (allow,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    rule_id = _logical_id(bound_app, stack.execution_ended_rule)
    assert allow["Condition"]["ArnEquals"] == {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}
    key_id = _logical_id(bound_app, stack.batch_inference.notifications_key)
    key_policy = bound_app.template_json["Resources"][key_id]["Properties"]["KeyPolicy"]
    (events_key,) = [
        s
        for s in key_policy["Statement"]
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert ":rule/*" in json.dumps(events_key["Condition"]["ArnLike"])
