"""Approval evidence: the comparison rule, its registry metadata and the Lambda under moto."""

from __future__ import annotations

import copy
import json
import re

import boto3
import botocore.session
import pytest
from moto import mock_aws

from lambdas.comparison import handler as comparison_handler
from lambdas.comparison.comparison import compare, metadata_value
from lambdas.comparison.page import comparison_page
from tests.lambdas.batch_transform_events import EVENT, IMAGE, MODEL_DATA_URL, REGION

GROUP = "demand-forecasting-tft"
ARTIFACTS = "demand-forecasting-artifacts"
REPORTS = "demand-forecasting-forecasts"


def evaluation(mae: float, mse: float, windows: int = 2857, **extra: float) -> dict:
    return {
        "regression_metrics": {"mse": {"value": mse}, "mae": {"value": mae}}
        | {k: {"value": v} for k, v in extra.items()},
        "original_scale_metrics": {"mae": {"value": mae * 2}},
        "evaluation": {
            "split": "test",
            "scale": "standardized",
            "windows": windows,
            "horizon": 24,
            "targets": ["OT"],
            "source": "ETTh1",
        },
    }


# --- the rule --------------------------------------------------------------------------------


def test_no_approved_version_yet_is_said_not_failed():
    comparison = compare(GROUP, 1, evaluation(0.3, 0.2), None, None)
    assert comparison.verdict() == (
        f"version 1: no version of {GROUP} is approved yet; nothing to compare with"
    )
    assert comparison.metadata() == {
        "comparison.verdict": f"version 1: no version of {GROUP} is approved yet nothing to "
        "compare with",
        "comparison.approved_version": "none",
        "comparison.basis": "none",
        "comparison.same_test_windows": "none",
        "comparison.worse": "none",
    }
    assert "nothing to compare with" in comparison_page(comparison)


def test_a_worse_new_version_names_each_worse_metric():
    comparison = compare(GROUP, 3, evaluation(0.40, 0.20), 2, evaluation(0.35, 0.25))
    assert comparison.same_windows
    assert comparison.worse == ("mae", "original_scale.mae")
    assert comparison.verdict() == (
        "version 3 is worse than approved version 2 on 2 of 3: mae, original_scale.mae, by "
        "their registered evaluations, on the same test windows"
    )
    by_name = {m.name: m for m in comparison.metrics}
    assert by_name["mse"].worse is False
    assert by_name["mae"].relative_change == pytest.approx(0.05 / 0.35)
    metadata = comparison.metadata()
    assert metadata["comparison.worse"] == "mae original_scale.mae"
    assert metadata["comparison.metric.mae"] == "new 0.4 approved 0.35 +14.3 pct worse"
    assert metadata["comparison.metric.mse"] == "new 0.2 approved 0.25 -20.0 pct"
    page = comparison_page(comparison)
    assert page.count('class="worse"') == 2


def test_a_better_version_on_other_windows_says_the_windows_differ():
    comparison = compare(GROUP, 4, evaluation(0.3, 0.2, windows=2900), 2, evaluation(0.35, 0.25))
    assert comparison.worse == ()
    assert comparison.window_differences == ("windows: 2900 vs 2857",)
    assert comparison.verdict().endswith(
        "as good as or better than approved version 2 on all 3 metrics, by their registered "
        "evaluations, NOT on the same test windows (windows: 2900 vs 2857)"
    )
    assert comparison.metadata()["comparison.same_test_windows"] == "false"


def test_metrics_only_one_side_has_are_listed_not_compared():
    comparison = compare(
        GROUP, 3, evaluation(0.3, 0.2, smape=20.0), 2, evaluation(0.3, 0.2, mape=40.0)
    )
    assert [m.name for m in comparison.metrics] == ["mse", "mae", "original_scale.mae"]
    assert (comparison.only_new, comparison.only_approved) == (("smape",), ("mape",))


def scored(report: dict, version: int | None, block: dict) -> dict:
    """``report`` with the ``approved`` block the Evaluate step writes."""
    return {**report, "approved": {"model_package_version": version, **block}}


def on_windows(mae: float, mse: float, same_fitted: bool = True, windows: int = 2857) -> dict:
    return {"scored": True, "same_fitted_preprocessing": same_fitted,
            **evaluation(mae, mse, windows)}  # fmt: skip


def test_the_approved_model_scored_on_the_new_windows_is_compared_first():
    """The registered evaluation of version 2 (0.10) is on other windows; the Evaluate step's
    score of version 2 on version 3's windows (0.45) is the one compared."""
    new = scored(evaluation(0.40, 0.20, windows=2900), 2, on_windows(0.45, 0.30, windows=2900))
    comparison = compare(GROUP, 3, new, 2, evaluation(0.10, 0.10, windows=2857))
    assert comparison.basis == "same test windows"
    assert comparison.worse == ()
    assert {m.name: m.approved for m in comparison.metrics}["mae"] == 0.45
    assert comparison.verdict() == (
        "version 3 is as good as or better than approved version 2 on all 3 metrics, both "
        "scored on version 3's test windows"
    )
    assert comparison.metadata()["comparison.basis"] == "same test windows"
    assert comparison.to_dict()["basis"] == "same test windows"
    assert "both scored on version 3" in comparison_page(comparison)
    # the approved version's registered evaluation is not needed for it
    assert compare(GROUP, 3, new, 2, None).basis == "same test windows"


@pytest.mark.parametrize(
    ("block_version", "block", "note"),
    [
        (1, on_windows(0.45, 0.30), "scored version 1, but version 2 is the approved one now"),
        (2, {"scored": False, "reason": "the approved version is a tft model"},
         "not scored on this version's windows: the approved version is a tft model"),
        (None, None, "did not score the approved model"),
    ],
)  # fmt: skip
def test_otherwise_the_registered_evaluations_are_compared_and_labelled(block_version, block, note):
    new = evaluation(0.40, 0.20)
    if block is not None:
        new = scored(new, block_version, block)
    comparison = compare(GROUP, 3, new, 2, evaluation(0.35, 0.25))
    assert comparison.basis == "registered evaluations"
    assert comparison.worse == ("mae", "original_scale.mae")
    assert "by their registered evaluations" in comparison.verdict()
    assert any(note in line for line in comparison.notes), comparison.notes
    assert any(note in line for line in comparison.lines())


def test_metrics_on_differently_fitted_scales_are_left_out_and_said():
    new = scored(evaluation(0.40, 0.20), 2, on_windows(0.30, 0.10, same_fitted=False))
    comparison = compare(GROUP, 3, new, 2, evaluation(0.35, 0.25))
    assert [m.name for m in comparison.metrics] == ["original_scale.mae"]
    assert comparison.worse == ("original_scale.mae",)
    assert "fitted scalers differ" in comparison.notes[0]


def test_an_approved_version_without_evaluation_is_a_note():
    comparison = compare(GROUP, 3, evaluation(0.3, 0.2), 2, None)
    assert comparison.metrics == ()
    assert "approved version 2 registered no evaluation" in comparison.verdict()


# CustomerMetadataProperties in botocore's SageMaker model: the limits and patterns the rule meets
SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
METADATA = SAGEMAKER.operation_model("UpdateModelPackage").input_shape.members[
    "CustomerMetadataProperties"
]


def test_metadata_meets_sagemakers_limits_for_every_variant():
    assert METADATA.metadata["max"] == 50
    key_limit, value_limit = METADATA.key.metadata["max"], METADATA.value.metadata["max"]
    assert METADATA.value.metadata["pattern"].startswith(r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)")
    allowed = re.compile(r"^[\w .:/=+\-@]+$")  # letters, digits, _, space and _.:/=+-@
    many = {f"m{i}": 1.0 + i for i in range(60)}
    variants = [
        compare(GROUP, 1, evaluation(0.3, 0.2), None, None),
        compare(GROUP, 3, evaluation(0.4, 0.2), 2, evaluation(0.35, 0.25, windows=7)),
        compare(GROUP, 3, evaluation(0.4, 0.2, **many), 2, evaluation(0.35, 0.25, **many)),
        compare("g" * 63, 9999, evaluation(1e-300, 1e300), 9998, evaluation(0.0, -1e300)),
        compare(
            GROUP,
            3,
            scored(
                evaluation(0.4, 0.2, **many), 2, {"scored": True, **evaluation(0.35, 0.25, **many)}
            ),
            2,
            None,
        ),
    ]
    for comparison in variants:
        for room in (50, 3, 0):
            metadata = comparison.metadata(room=room)
            assert len(metadata) <= min(room, 50)
            for key, value in metadata.items():
                assert 1 <= len(key) <= key_limit and allowed.match(key), key
                assert 1 <= len(value) <= value_limit and allowed.match(value), value
    assert metadata_value("a,b (c) 5%") == "a b c 5"


# --- the Lambda, against moto -----------------------------------------------------------------


@pytest.fixture
def registry(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "MODEL_PACKAGE_GROUP": GROUP,
        "REPORT_BUCKET": REPORTS,
        "FORECASTS_PREFIX": "forecasts",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KMS_KEY_ID", raising=False)
    with mock_aws():
        comparison_handler.aws.reset_clients()
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (ARTIFACTS, REPORTS):
            s3.create_bucket(Bucket=bucket)
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        yield sagemaker, s3
        comparison_handler.aws.reset_clients()


def _register(registry, status: str, report: dict | None) -> tuple[int, str]:
    sagemaker, s3 = registry
    extra = {}
    if report is not None:
        key = f"project/exec-{status}-{id(report)}/evaluation.json"
        s3.put_object(Bucket=ARTIFACTS, Key=key, Body=json.dumps(report).encode())
        uri = f"s3://{ARTIFACTS}/{key}"
        extra["ModelMetrics"] = {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": uri}}
        }
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": MODEL_DATA_URL}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus=status,
        **extra,
    )["ModelPackageArn"]
    return int(arn.rsplit("/", 1)[1]), arn


def _registered(version: int, arn: str) -> dict:
    event = copy.deepcopy(EVENT)
    event["detail"].update(
        ModelPackageGroupName=GROUP,
        ModelPackageVersion=version,
        ModelPackageArn=arn,
        ModelApprovalStatus="PendingManualApproval",
    )
    return event


def test_registration_with_no_approved_version_records_so(registry):
    sagemaker, _ = registry
    version, arn = _register(registry, "PendingManualApproval", evaluation(0.3, 0.2))
    result = comparison_handler.handler(_registered(version, arn), None)
    assert result["compared"] is True and result["approved_version"] is None
    metadata = sagemaker.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"]
    assert metadata["comparison.approved_version"] == "none"
    assert metadata["comparison.report"] == (
        f"s3://{REPORTS}/forecasts/approvals/{GROUP}/version={version}/comparison.html"
    )


def test_registration_of_a_worse_version_puts_the_evidence_in_the_registry(registry):
    sagemaker, s3 = registry
    approved, _ = _register(registry, "Approved", evaluation(0.35, 0.25))
    _register(registry, "Rejected", evaluation(0.10, 0.10))  # rejected: never the reference
    version, arn = _register(registry, "PendingManualApproval", evaluation(0.40, 0.20))

    result = comparison_handler.handler(_registered(version, arn), None)

    assert result["approved_version"] == approved
    assert result["worse"] == ["mae", "original_scale.mae"]
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    metadata = package["CustomerMetadataProperties"]
    assert metadata["comparison.worse"] == "mae original_scale.mae"
    assert metadata["comparison.metric.mae"].endswith("worse")
    key = f"forecasts/approvals/{GROUP}/version={version}/comparison"
    page = s3.get_object(Bucket=REPORTS, Key=f"{key}.html")["Body"].read().decode()
    assert f"approved version {approved}" in page and 'class="worse"' in page
    stored = json.loads(s3.get_object(Bucket=REPORTS, Key=f"{key}.json")["Body"].read())
    assert stored["worse"] == ["mae", "original_scale.mae"]


def test_the_update_event_that_follows_changes_nothing(registry):
    """UpdateModelPackage makes SageMaker send another state change; the second run finds
    its metadata there and does not update again (no event loop)."""
    _register(registry, "Approved", evaluation(0.35, 0.25))
    version, arn = _register(registry, "PendingManualApproval", evaluation(0.40, 0.20))
    first = comparison_handler.handler(_registered(version, arn), None)
    second = comparison_handler.handler(_registered(version, arn), None)
    assert (first["metadata_updated"], second["metadata_updated"]) == (True, False)


def test_other_groups_and_decided_versions_are_not_compared(registry):
    event = _registered(1, f"arn:aws:sagemaker:{REGION}:123456789012:model-package/other/1")
    event["detail"]["ModelPackageGroupName"] = "other"
    assert comparison_handler.handler(event, None)["compared"] is False
    version, arn = _register(registry, "Approved", evaluation(0.35, 0.25))
    approved = _registered(version, arn)
    approved["detail"]["ModelApprovalStatus"] = "Approved"
    assert comparison_handler.handler(approved, None)["compared"] is False


def test_registration_compares_on_the_windows_the_pipeline_scored_both_on(registry):
    sagemaker, _ = registry
    approved, _ = _register(registry, "Approved", evaluation(0.10, 0.10, windows=2857))
    report = scored(evaluation(0.40, 0.20, windows=2900), approved,
                    on_windows(0.50, 0.30, windows=2900))  # fmt: skip
    version, arn = _register(registry, "PendingManualApproval", report)
    result = comparison_handler.handler(_registered(version, arn), None)
    assert (result["basis"], result["worse"]) == ("same test windows", [])
    metadata = sagemaker.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"]
    assert metadata["comparison.basis"] == "same test windows"
    assert metadata["comparison.metric.mae"] == "new 0.4 approved 0.5 -20.0 pct"
