"""Template assertions for the storage foundation: encryption, TLS, privacy, versioning."""

from __future__ import annotations

from typing import Any

from aws_cdk import Token
from aws_cdk.assertions import Match

from infra.storage import DATA_LOG_PREFIX, FORECASTS_LOG_PREFIX, MODEL_ARTIFACTS_LOG_PREFIX
from tests.infra.synthesized import SynthesizedApp

ALL_BLOCKED = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}


def _resources(app: SynthesizedApp, resource_type: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = app.template.find_resources(resource_type)
    return found


def _logical_id(app: SynthesizedApp, construct: Any) -> str:
    return str(app.stack.resolve(construct.node.default_child.logical_id))


def _key_logical_id(app: SynthesizedApp) -> str:
    return _logical_id(app, app.stack.storage.key)


def test_resource_counts(default_app: SynthesizedApp) -> None:
    template = default_app.template
    # The data key, and batch inference's key for its failure notifications.
    template.resource_count_is("AWS::KMS::Key", 2)
    template.resource_count_is("AWS::KMS::Alias", 2)
    # storage's four buckets + the CodePipeline artifact bucket (infra/source_pipeline.py)
    template.resource_count_is("AWS::S3::Bucket", 5)
    template.resource_count_is("AWS::S3::BucketPolicy", 5)
    # Retained data needs no clean-up Lambda: only batch transform, publish and comparison.
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)
    # the three above, accuracy and the pipeline's FindApprovedModel step
    template.resource_count_is("AWS::Lambda::Function", 5)


def test_key_rotates_and_has_project_alias(default_app: SynthesizedApp) -> None:
    default_app.template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    default_app.template.has_resource_properties(
        "AWS::KMS::Alias",
        {
            "AliasName": "alias/ts-forecasting",
            "TargetKeyId": {"Fn::GetAtt": [_key_logical_id(default_app), "Arn"]},
        },
    )


def test_every_bucket_is_private_and_owner_enforced(any_app: SynthesizedApp) -> None:
    for logical_id, bucket in _resources(any_app, "AWS::S3::Bucket").items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == ALL_BLOCKED, logical_id
        assert props["OwnershipControls"] == {
            "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]
        }, logical_id
        assert "AccessControl" not in props, logical_id


def test_every_bucket_is_encrypted(any_app: SynthesizedApp) -> None:
    storage = any_app.stack.storage
    key_arn = {"Fn::GetAtt": [_key_logical_id(any_app), "Arn"]}
    buckets = _resources(any_app, "AWS::S3::Bucket")

    for bucket in storage.encrypted_buckets:
        rule = buckets[_logical_id(any_app, bucket)]["Properties"]["BucketEncryption"][
            "ServerSideEncryptionConfiguration"
        ][0]
        assert rule["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": key_arn,
        }
        assert rule["BucketKeyEnabled"] is True

    # S3 server access logging cannot write to a bucket encrypted with a KMS CMK.
    log_rule = buckets[_logical_id(any_app, storage.access_logs_bucket)]["Properties"][
        "BucketEncryption"
    ]["ServerSideEncryptionConfiguration"][0]
    assert log_rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_data_buckets_are_versioned_and_logged(any_app: SynthesizedApp) -> None:
    storage = any_app.stack.storage
    buckets = _resources(any_app, "AWS::S3::Bucket")
    log_bucket_ref = {"Ref": _logical_id(any_app, storage.access_logs_bucket)}
    expected_prefixes = {
        _logical_id(any_app, storage.data_bucket): DATA_LOG_PREFIX,
        _logical_id(any_app, storage.model_artifacts_bucket): MODEL_ARTIFACTS_LOG_PREFIX,
        _logical_id(any_app, storage.forecasts_bucket): FORECASTS_LOG_PREFIX,
    }

    for logical_id, prefix in expected_prefixes.items():
        props = buckets[logical_id]["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, logical_id
        assert props["LoggingConfiguration"] == {
            "DestinationBucketName": log_bucket_ref,
            "LogFilePrefix": prefix,
        }, logical_id
    assert len(set(expected_prefixes.values())) == 3


def test_every_bucket_policy_denies_insecure_transport(any_app: SynthesizedApp) -> None:
    policies = _resources(any_app, "AWS::S3::BucketPolicy")
    covered = set()
    for logical_id, policy in policies.items():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        bucket_id = policy["Properties"]["Bucket"]["Ref"]
        covered.add(bucket_id)
        bucket_arn = {"Fn::GetAtt": [bucket_id, "Arn"]}
        objects_arn = {"Fn::Join": ["", [bucket_arn, "/*"]]}
        deny_conditions = [
            statement["Condition"]
            for statement in statements
            if statement["Effect"] == "Deny"
            and statement["Action"] == "s3:*"
            and statement["Principal"] == {"AWS": "*"}
            and statement["Resource"] == [bucket_arn, objects_arn]
        ]
        assert deny_conditions == [
            {"Bool": {"aws:SecureTransport": "false"}},
            {"NumericLessThan": {"s3:TlsVersion": 1.2}},
        ], logical_id
    assert covered == set(_resources(any_app, "AWS::S3::Bucket"))


def test_log_delivery_is_granted_by_policy_not_acl(default_app: SynthesizedApp) -> None:
    """The pinned CDK flag: with ACLs disabled, an ACL grant would fail at deploy time."""
    log_bucket_id = _logical_id(default_app, default_app.stack.storage.access_logs_bucket)
    default_app.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": log_bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "s3:PutObject",
                                "Effect": "Allow",
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_retain_keeps_data_on_delete(default_app: SynthesizedApp) -> None:
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        for logical_id, resource in _resources(default_app, resource_type).items():
            assert resource["DeletionPolicy"] == "RetainExceptOnCreate", logical_id
            assert resource["UpdateReplacePolicy"] == "Retain", logical_id


def test_destroy_deletes_and_empties_buckets(destroy_app: SynthesizedApp) -> None:
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        for logical_id, resource in _resources(destroy_app, resource_type).items():
            assert resource["DeletionPolicy"] == "Delete", logical_id
    destroy_app.template.resource_count_is("Custom::S3AutoDeleteObjects", 5)


def test_outputs_name_buckets_and_key(default_app: SynthesizedApp) -> None:
    storage = default_app.stack.storage
    expected = {
        "DataBucketName": {"Ref": _logical_id(default_app, storage.data_bucket)},
        "ModelArtifactsBucketName": {
            "Ref": _logical_id(default_app, storage.model_artifacts_bucket)
        },
        "ForecastsBucketName": {"Ref": _logical_id(default_app, storage.forecasts_bucket)},
        "AccessLogsBucketName": {"Ref": _logical_id(default_app, storage.access_logs_bucket)},
        "DataKeyArn": {"Fn::GetAtt": [_key_logical_id(default_app), "Arn"]},
        # the name itself: Ref on AWS::SageMaker::ModelPackageGroup would give its ARN
        "ModelPackageGroupName": "ts-forecasting",
        "ModelPackageGroupArn": {
            "Fn::GetAtt": [
                default_app.stack.resolve(
                    default_app.stack.pipeline.model_package_group.logical_id
                ),
                "ModelPackageGroupArn",
            ]
        },
    }
    for name, value in expected.items():
        default_app.template.has_output(name, {"Value": value})


def test_stack_is_environment_agnostic(default_app: SynthesizedApp) -> None:
    """Synthesizes without credentials: account and region stay deploy-time tokens."""
    stack = default_app.stack
    assert Token.is_unresolved(stack.account)
    assert Token.is_unresolved(stack.region)
    assert stack.stack_name == "ts-forecasting"
    assert stack.tags.tag_values() == {"project": "ts-forecasting"}


# Properties that end in "Name" but do not name the resource itself.
NOT_PHYSICAL_NAMES = {"DisplayName", "MetricName", "PolicyName", "FunctionName"}
# What CloudFormation keeps when a stack's creation fails and rolls back: Retain and Snapshot
# keep the resource; RetainExceptOnCreate and Delete remove it (CloudFormation user guide,
# DeletionPolicy attribute).
SURVIVES_A_FAILED_CREATE = {"Retain", "Snapshot"}


def test_no_named_resource_survives_a_failed_create(any_app: SynthesizedApp) -> None:
    """A resource kept after a failed first deploy keeps its name taken, and the next deploy's
    create fails with AlreadyExists (issue 18, item 4). Resources with a fixed name must be
    deleted when a create rolls back."""
    named = {
        logical_id: resource
        for logical_id, resource in any_app.template_json["Resources"].items()
        if any(
            key.endswith("Name") and key not in NOT_PHYSICAL_NAMES and isinstance(value, str)
            for key, value in resource.get("Properties", {}).items()
        )
    }
    types = {resource["Type"] for resource in named.values()}
    assert {"AWS::CodeCommit::Repository", "AWS::Logs::LogGroup", "AWS::KMS::Alias"} <= types
    kept = sorted(
        logical_id
        for logical_id, resource in named.items()
        if resource.get("DeletionPolicy") in SURVIVES_A_FAILED_CREATE
    )
    assert kept == [], f"named resources kept after a failed create: {kept}"
