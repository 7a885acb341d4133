"""cdk-nag AwsSolutions checks: no unacknowledged findings, every acknowledgment justified.

cdk-nag 3.x runs as a CDK policy-validation plugin: findings are not annotations but a
report that fails `app.synth()`. The session fixtures already synthesized both apps (so a
finding would have failed them); these tests also ask the pack directly, for a readable
list of findings, and prove the plugin `create_app` attaches is live.
"""

from __future__ import annotations

import re

import pytest
from aws_cdk import Validations
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks

from infra.application import create_app
from infra.lambda_layers import SKIP_BUNDLING_CONTEXT
from infra.settings import load_cdk_json_context
from tests.infra.synthesized import SynthesizedApp

# The form cdk-nag prints ("Acknowledge with 'AwsSolutions::AwsSolutions-S1'").
ACKNOWLEDGED_ID = re.compile(r"^AwsSolutions::AwsSolutions-[A-Za-z]+\d+(\[.+\])?$")


def _acknowledged(app: SynthesizedApp) -> dict[str, dict[str, str]]:
    """Acknowledged rule ids (with reasons) by construct path."""
    acknowledged: dict[str, dict[str, str]] = {}
    for construct in app.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                acknowledged.setdefault(construct.node.path, {}).update(entry.data)
    return acknowledged


def test_no_unacknowledged_findings(any_app: SynthesizedApp) -> None:
    """The pack's raw report, less what is acknowledged on the resource or a parent (as synth
    filters it; granular IAM5 findings are acknowledged one wildcard at a time)."""
    acknowledged = _acknowledged(any_app)

    def covered(rule: str, path: str) -> bool:
        parts = path.split("/")
        scopes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return any(f"AwsSolutions::{rule}" in acknowledged.get(scope, {}) for scope in scopes)

    report = AwsSolutionsChecks().validate_scope(any_app.app)
    findings = [
        f"{violation.rule_name} ({violation.severity}) on {resource.construct_path}"
        for violation in report.violations
        for resource in violation.violating_resources
        if not covered(violation.rule_name, str(resource.construct_path))
    ]
    assert findings == []


def test_no_error_annotations(any_app: SynthesizedApp) -> None:
    annotations = Annotations.from_stack(any_app.stack)
    assert annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*")) == []
    assert annotations.find_error("*", Match.any_value()) == []


def test_every_acknowledgment_has_a_reason(any_app: SynthesizedApp) -> None:
    acknowledged = _acknowledged(any_app)

    assert acknowledged, "expected at least the access-log bucket's AwsSolutions-S1"
    for path, rules in acknowledged.items():
        for rule_id, reason in rules.items():
            assert ACKNOWLEDGED_ID.match(rule_id), f"{path}: {rule_id}"
            assert len(reason.split()) >= 8, f"{path}: {rule_id} needs a written reason"


def test_checks_fail_synth_on_a_finding(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Guards against the checks silently not running (e.g. the 2.x Aspects form)."""
    context = {**load_cdk_json_context(), **SKIP_BUNDLING_CONTEXT}  # offline: no pip
    app, stack = create_app(context, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    s3.Bucket(stack, "UnloggedPlainBucket")
    with pytest.raises(RuntimeError, match="ValidationFailed") as raised:
        app.synth()
    assert "AwsSolutions-S1'" in str(raised.value)
    assert "AwsSolutions-S10'" in str(raised.value)
