"""cdk-nag acknowledgments shared by the constructs: each wildcard named, each with a reason."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, Stack, Token, Validations
from aws_cdk import aws_s3 as s3
from constructs import Construct

# What CDK's grant_read/grant_read_write/grant_encrypt_decrypt expand to: verb wildcards on
# one bucket's objects or one key, never on other resources.
CDK_GRANT_ACTIONS = {
    "Action::kms:GenerateDataKey*": "CDK's grant on this project's one KMS key",
    "Action::kms:ReEncrypt*": "CDK's grant on this project's one KMS key",
    "Action::s3:Abort*": "CDK's read-write grant on this project's bucket objects",
    "Action::s3:DeleteObject*": "CDK's read-write grant on this project's bucket objects",
    "Action::s3:GetBucket*": "CDK's read grant on this project's buckets",
    "Action::s3:GetObject*": "CDK's read grant on this project's bucket objects",
    "Action::s3:List*": "CDK's read grant on this project's buckets",
}
ASSETS_BUCKET = (
    "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*"
)


def regional_arn(service: str, resource: str) -> str:
    """The finding for an ARN built with ``Stack.format_arn`` (placeholders for partition,
    region and account, made concrete by :func:`as_printed` when the stack is bound)."""
    return f"Resource::arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}"


def bucket_objects(bucket: s3.IBucket) -> str:
    """The finding for ``bucket/*`` as cdk-nag names it."""
    stack = Stack.of(bucket)
    logical_id = stack.resolve(stack.get_logical_id(bucket.node.default_child))
    return f"Resource::<{logical_id}.Arn>/*"


def prefixed_objects(bucket: s3.IBucket, pattern: str) -> str:
    """The IAM5 finding for ``bucket/pattern`` as cdk-nag names it."""
    stack = Stack.of(bucket)
    logical_id = stack.resolve(stack.get_logical_id(bucket.node.default_child))
    return f"Resource::<{logical_id}.Arn>/{pattern}"


def as_printed(stack: Stack, finding: str) -> str:
    """The finding as cdk-nag prints it for this stack: ``<AWS::Region>`` and the like stay
    placeholders only while the stack is environment-agnostic. Under `cdk deploy` the CLI
    binds the region (and the account, with credentials), and cdk-nag prints those values."""
    for placeholder, value in (
        ("<AWS::Region>", stack.region),
        ("<AWS::AccountId>", stack.account),
        ("<AWS::Partition>", stack.partition),
    ):
        if not Token.is_unresolved(value):
            finding = finding.replace(placeholder, value)
    return finding


def acknowledge_wildcards(construct: Construct, findings: Mapping[str, str]) -> None:
    """Acknowledge AwsSolutions-IAM5 per wildcard, so a new wildcard still fails synth."""
    stack = Stack.of(construct)
    for finding, reason in findings.items():
        # cdk-nag prints pseudo parameters inside an intrinsic (a mapping lookup) as they are
        printed = finding if "Fn::" in finding else as_printed(stack, finding)
        text = reason if len(reason.split()) >= 8 else f"{reason}: scoped, nothing broader"
        Validations.of(construct).acknowledge(
            Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{printed}]", reason=text)
        )
