"""The accuracy construct in the template: S3 events reach the Lambda, its settings come from
cdk.json, and it may start the pipeline only when drift retrains (infra/accuracy.py)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack

from infra.accuracy import metric_namespace
from infra.settings import InfrastructureSettings
from tests.infra.synthesized import SynthesizedApp

GROUP = "ts-forecasting"


def _logical_id(app: SynthesizedApp, construct: Any) -> str:
    return str(Stack.of(construct).resolve(construct.node.default_child.logical_id))


def _properties(app: SynthesizedApp, construct: Any) -> dict[str, Any]:
    return app.template_json["Resources"][_logical_id(app, construct)]["Properties"]


def test_new_actuals_and_published_partitions_reach_the_lambda(default_app: SynthesizedApp):
    storage, accuracy = default_app.stack.storage, default_app.stack.accuracy
    expected = [
        (storage.data_bucket, "actuals/"),
        (storage.forecasts_bucket, "forecasts/model="),
    ]
    for rule, (bucket, prefix) in zip(accuracy.rules, expected, strict=True):
        properties = _properties(default_app, rule)
        assert properties["EventPattern"] == {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {
                "bucket": {"name": [{"Ref": _logical_id(default_app, bucket)}]},
                "object": {"key": [{"prefix": prefix}]},
            },
        }
        (target,) = properties["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [_logical_id(default_app, accuracy.function), "Arn"]}
        assert "DeadLetterConfig" in target and "RetryPolicy" in target
        # S3 sends those events to EventBridge only with the bucket's switch on
        bucket_properties = _properties(default_app, bucket)
        assert bucket_properties["NotificationConfiguration"] == {
            "EventBridgeConfiguration": {"EventBridgeEnabled": True}
        }


def test_the_lambda_reads_the_drift_settings_of_cdk_json(default_app, quicksight_app, cdk_context):
    for app, retrain in ((default_app, False), (quicksight_app, True)):
        environment = _properties(app, app.stack.accuracy.function)["Environment"]["Variables"]
        policy = InfrastructureSettings.from_context(cdk_context).accuracy
        assert environment["ALARM_RATIO"] == repr(policy.ratio)
        assert environment["WINDOW_DAYS"] == str(policy.window_days)
        assert environment["COOLDOWN_DAYS"] == str(policy.cooldown_days)
        assert environment["RETRAIN"] == str(retrain).lower()
        assert ("PIPELINE_NAME" in environment) is retrain
        assert environment["METRIC_NAMESPACE"] == metric_namespace(GROUP)
        assert environment["ACTUALS_PREFIX"] == "actuals/"
        assert environment["MODEL_PACKAGE_GROUP"] == GROUP


def test_metrics_are_limited_to_the_project_namespace(default_app: SynthesizedApp):
    role_id = _logical_id(default_app, default_app.stack.accuracy.function.role)
    statements = [
        statement
        for resource in default_app.template_json["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        and {"Ref": role_id} in resource["Properties"]["Roles"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]
    (metrics,) = [s for s in statements if s["Action"] == "cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": metric_namespace(GROUP)}
    }
