"""The comparison Lambda in the template: its rule catches registrations of this project's group
only, and its environment is one the handler accepts."""

from __future__ import annotations

from typing import Any

import pytest

from infra.inference_layout import COMPARISON_HANDLER
from lambdas.comparison.handler import Settings
from tests.infra.synthesized import SynthesizedApp
from tests.infra.test_batch_inference import (
    FORECASTS_BUCKET,
    GROUP,
    _approval,
    _environment,
    _pattern,
)


@pytest.mark.parametrize(
    ("detail", "matches"),
    [
        ({"ModelApprovalStatus": "PendingManualApproval"}, True),  # a registration
        ({"ModelApprovalStatus": "Approved"}, False),  # the batch-transform rule's
        ({"ModelApprovalStatus": "Rejected"}, False),
        (
            {"ModelApprovalStatus": "PendingManualApproval", "ModelPackageGroupName": "other"},
            False,
        ),
    ],
)
def test_the_registration_rule_on_real_shaped_events(
    default_app: SynthesizedApp, detail: dict[str, Any], matches: bool
) -> None:
    pattern = _pattern(default_app, default_app.stack.batch_inference.registration_rule)
    assert pattern.matches_event(_approval(**detail)) is matches


def test_the_comparison_lambda_gets_a_valid_environment(default_app: SynthesizedApp) -> None:
    settings = Settings.from_env(_environment(default_app, COMPARISON_HANDLER))
    assert settings.model_package_group == GROUP
    assert settings.report_bucket == FORECASTS_BUCKET
    assert settings.forecasts_prefix == "forecasts"
    assert settings.kms_key_id is not None and settings.kms_key_id.startswith("arn:aws:kms:")
